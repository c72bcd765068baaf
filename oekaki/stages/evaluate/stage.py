"""Stage `evaluate`: one scoreboard, one judge, equal footing.

Every generator is scored by the same judge (the cnn stage's classifier), on the same number
of samples, against the same real reference set (the test split), asked for the same labels
(the test split's own label mix, fixed seed) when it is conditional:
- `untrained`: the untrained painter, uniform random pixels (the seed's "noise");
- `gmm`: PCA + a Gaussian mixture per class (the gmm stage's digit model);
- `vae`, `gan`, `diffusion`: the trained networks, from their self-describing checkpoints;
- `real`: real test images themselves, the reference row: FID 0 against themselves when all
  are used, conditional accuracy = the judge's own test accuracy (the ceiling for the others).
The report reads `metrics/evaluate.json` and the grids this stage draws; it computes nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import training
from oekaki.core.config import Config
from oekaki.core.constants import NETWORK_PAINTERS, PAINTERS
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.io import read_json
from oekaki.core.paths import Paths
from oekaki.core.plots import digit_grid
from oekaki.core.timing import phase
from oekaki.models import judge as judge_mod
from oekaki.models.painters import draw

log = get_logger("evaluate")
ROWS = ("real", *PAINTERS)
STAGE_PAINTERS = tuple(p for p in PAINTERS if p != "untrained")  # painters made by a stage of their own
TITLES = {
    "real": "Real test digits (reference)",
    "untrained": "The untrained painter: uniform random pixels",
    "gmm": "Gaussian mixture per class in PCA space",
    "vae": "Variational autoencoder",
    "gan": "GAN",
    "diffusion": "Diffusion model (denoiser with classifier-free guidance)",
}


def sample_grid(name: str, images: np.ndarray, asked: np.ndarray | None, path: Path, dpi: int) -> Path:
    """Ten samples per asked label, one row each (or the first hundred when unconditional)."""
    if asked is not None:
        pick = np.concatenate([np.flatnonzero(asked == c)[:10] for c in range(10)])
        if len(pick) == 100:
            return digit_grid(images[pick], 10, TITLES[name], path, dpi, [str(c) for c in range(10)])
    return digit_grid(images[:100], 10, TITLES[name], path, dpi)


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    e = cfg.evaluate
    device = training.resolve_device(cfg.base)
    data = training.TensorData.load(paths.prepared, torch.device("cpu"))
    test_x, test_y = data.test_x.numpy(), data.test_y.numpy()
    judge = judge_mod.Judge.load(paths.cnn_model, device)
    cnn = read_json(paths.metrics("cnn"))
    n = judge_mod.n_eval(e.n_samples, len(test_y))
    labels = judge_mod.requested_labels(test_y, n, cfg.base.seed)
    reference = judge.judge(test_x)
    provenance = {s: read_json(paths.provenance(s)) for s in STAGE_PAINTERS if paths.provenance(s).is_file()}
    metrics_of = {s: read_json(paths.metrics(s)) for s in NETWORK_PAINTERS}
    rows, figures = {}, []
    for name in ROWS:
        with phase("rescoring_sampling"):  # the painters' own stages sampled these already
            images, asked = draw(name, paths, labels, cfg.base.seed, device, (test_x, test_y))
        with phase("scoring"):
            judged = judge.judge(images)
            scores = judge_mod.score(judged, reference, asked, test_y if asked is not None else None)
        if asked is None:  # not applicable: written as null, so a missing key always means a fault
            scores["conditional_accuracy"] = scores["within_class_diversity"] = None
        else:
            scores["class_entropy"] = judge_mod.class_entropy(judged.probs)
        row = {
            **scores,
            "conditional": asked is not None,
            "n_samples": n,
            "train_seconds": metrics_of[name].get("train_seconds") if name in NETWORK_PAINTERS else None,
            "device": metrics_of[name].get("device", "cpu") if name in NETWORK_PAINTERS else "cpu",
            "mlflow_run_id": provenance.get(name, {}).get("mlflow_run_id"),
        }
        rows[name] = row
        with phase("figures"):
            figures.append(sample_grid(name, images, asked, paths.figures("evaluate") / f"{name}.png", cfg.report.figure_dpi))
        log.info("%-9s FID %8.2f  IS %5.2f", name, scores["fid"], scores["inception_score"])
    metrics = {
        "generators": rows,
        "n_samples": n,
        "seed": cfg.base.seed,
        "judge_test_accuracy": cnn["test_accuracy"],
        "fid_noise_ceiling": cnn["fid_noise_ceiling"],
        "fid_real_floor": cnn["fid_real_floor"],
        "device": device.type,
    }
    return StageResult(metrics=metrics, figures=figures)
