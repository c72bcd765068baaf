"""The judge of generated images: the trained classifier as a yardstick (no Inception download).

For a set of 28x28 images it measures, in the classifier's penultimate feature space:
- Fréchet distance to a real reference set (FID; Heusel et al. 2017, with this network
  instead of Inception-v3): lower is closer to real data;
- a classifier-based Inception Score exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016):
  high when each image is clearly one class and all classes appear (at most 10);
- for conditional samples, `conditional_accuracy` (share classified as the requested label)
  and `within_class_diversity` (mean pairwise feature distance among the samples of one
  requested label that the judge reads as that label, over the same among real images of that
  label, averaged over requested labels: 1 = as varied as real data, near 0 = collapse). Only
  correctly classified samples count, a share equal to the conditional accuracy, so wrong digits
  (noise, other classes) cannot pass for variety; a label with fewer than 2 of them scores 0;
- for unconditional samples, `class_entropy` (entropy of the predicted-class histogram / log 10:
  1 = all ten classes equally often).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.constants import INFERENCE_BATCH
from oekaki.core.errors import TrainingError
from oekaki.core.io import read_json
from oekaki.core.paths import Paths
from oekaki.data.dataset import TensorData
from oekaki.models.cnn import DigitCNN, build

DIVERSITY_MAX_PER_CLASS = 500  # pairwise distances on at most this many images per class


@dataclass
class Judged:
    features: np.ndarray  # (N, D) penultimate features
    probs: np.ndarray  # (N, 10) class probabilities


class Judge:
    def __init__(self, model: DigitCNN, device: torch.device | str = "cpu", batch_size: int = INFERENCE_BATCH):
        self.model = model.to(device).eval()
        self.device, self.batch_size = torch.device(device), batch_size

    @classmethod
    def load(cls, path: Path, device: torch.device | str = "cpu") -> Judge:
        return cls.from_checkpoint(load_checkpoint(path), device)

    @classmethod
    def from_checkpoint(cls, ckpt: dict, device: torch.device | str = "cpu") -> Judge:
        model = build(ckpt["model_args"])
        model.load_state_dict(ckpt["model"])
        return cls(model, device)

    @torch.no_grad()
    def judge(self, images: np.ndarray | torch.Tensor) -> Judged:
        """images: (N, 28, 28) uint8."""
        images = torch.as_tensor(images)
        feats, probs = [], []
        for start in range(0, len(images), self.batch_size):
            x = self.model.normalize(images[start : start + self.batch_size].to(self.device))
            f = self.model.embed(x)
            feats.append(f.cpu())
            probs.append(torch.softmax(self.model.head(f), dim=1).cpu())
        return Judged(torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two feature sets (N, D).

    Tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of S_a S_b (real and
    non-negative for covariance matrices), which stays stable when ReLU features make the
    covariances singular, where a matrix square root does not.
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvals(s_a @ s_b).real, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_covmean)


def inception_score(probs: np.ndarray) -> float:
    p_y = probs.mean(0, keepdims=True)
    kl = (probs * (np.log(probs + 1e-12) - np.log(p_y + 1e-12))).sum(1)
    return float(np.exp(kl.mean()))


def conditional_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(1) == labels).mean())


def _mean_pairwise(features: np.ndarray) -> float:
    x = torch.as_tensor(features[:DIVERSITY_MAX_PER_CLASS])
    if len(x) < 2:
        return 0.0
    d = torch.cdist(x, x)
    return float(d.sum() / (len(x) * (len(x) - 1)))


def within_class_diversity(gen: Judged, gen_labels: np.ndarray, real: Judged, real_labels: np.ndarray) -> float:
    """Mean over requested labels of (spread of the samples the judge reads as that label) / (real spread).

    Samples classified as another label are left out (the share counted is the conditional
    accuracy); a requested label with fewer than 2 correctly read samples contributes 0.
    """
    correct = gen.probs.argmax(1) == gen_labels
    ratios = []
    for c in np.unique(gen_labels):
        real_d = _mean_pairwise(real.features[real_labels == c])
        if real_d > 0:
            ratios.append(_mean_pairwise(gen.features[(gen_labels == c) & correct]) / real_d)
    return float(np.mean(ratios))


def class_entropy(probs: np.ndarray) -> float:
    counts = np.bincount(probs.argmax(1), minlength=10).astype(float)
    p = counts / counts.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(10)) + 0.0  # + 0.0: one class gives 0.0, not -0.0


def score(
    gen: Judged, reference: Judged, gen_labels: np.ndarray | None = None, reference_labels: np.ndarray | None = None
) -> dict[str, float]:
    """All applicable measures of generated images against a real reference set."""
    out = {"fid": frechet_distance(gen.features, reference.features), "inception_score": inception_score(gen.probs)}
    if gen_labels is not None:
        out["conditional_accuracy"] = conditional_accuracy(gen.probs, gen_labels)
        out["within_class_diversity"] = within_class_diversity(gen, gen_labels, reference, reference_labels)
    else:
        out["class_entropy"] = class_entropy(gen.probs)
    return out


def n_eval(requested: int, test_size: int) -> int:
    """Generators are scored on `requested` samples, or as many as the real test set holds."""
    return min(requested, test_size)


def requested_indices(n_test: int, n: int, seed: int) -> np.ndarray:
    """Which test images (and so which labels) a scoring run uses: a fixed-seed draw of n."""
    return np.random.default_rng(seed).permutation(n_test)[:n]


def requested_labels(test_labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Labels to ask a conditional generator for: the test set's own label mix (n of them)."""
    return test_labels[requested_indices(len(test_labels), n, seed)]


def load_judge(paths: Paths, data: TensorData, device: torch.device) -> tuple[Judge, dict]:
    """The cnn stage's judge and its calibration; refused when it was trained on other data."""
    ckpt = load_checkpoint(paths.cnn_model)
    if ckpt.get("data_sha256") != data.sha256:
        raise TrainingError(
            f"{paths.cnn_model} was trained on other data than {paths.prepared}; re-run the cnn stage first (`dvc repro cnn`)"
        )
    return Judge.from_checkpoint(ckpt, device), read_json(paths.metrics("cnn"))


def judge_reference(cnn_metrics: dict) -> dict[str, float]:
    """The judge's own figures a painter's metrics quote beside its scores (from metrics/cnn.json)."""
    return {
        "fid_noise_ceiling": cnn_metrics["fid_noise_ceiling"],
        "judge_test_accuracy": cnn_metrics["test_accuracy"],
        "inception_score_real": cnn_metrics["inception_score_real"],
    }
