"""Figure data of the `cnn` stage: filters, feature maps, feature space, confusion, confidently wrong.

Computed here, saved as reports/figure_data/cnn/<name>.npz (oekaki/core/figure_data.py), drawn by
the report stage (oekaki/figures/cnn.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA

from oekaki.core import figure_data
from oekaki.models.cnn import DigitCNN
from oekaki.models.judge import Judge


def filters(model: DigitCNN, path: Path) -> Path:
    """First-layer 3x3 kernels, each scaled to [0, 1]: each responds to a small stroke pattern."""
    w = model.blocks[0][0].weight.detach().cpu()[:, 0]  # (C, 3, 3)
    w = (w - w.amin(dim=(1, 2), keepdim=True)) / (w.amax(dim=(1, 2), keepdim=True) - w.amin(dim=(1, 2), keepdim=True) + 1e-8)
    return figure_data.save(path, "cnn_filters", kernels=w.numpy())


@torch.no_grad()
def feature_maps(model: DigitCNN, image: np.ndarray, path: Path, per_layer: int = 8) -> Path:
    """One digit through each block: the first `per_layer` channels' maps, which strokes each lights up on."""
    device = next(model.parameters()).device
    model.eval()
    maps = model.feature_maps(model.normalize(torch.as_tensor(image[None]).to(device)))
    layers = {f"maps_{i}": m[0, :per_layer].float().cpu().numpy() for i, m in enumerate(maps)}  # (per_layer, H, W) each
    return figure_data.save(path, "cnn_feature_maps", image=image, **layers)


def feature_space(judge: Judge, test_x: np.ndarray, test_y: np.ndarray, path: Path) -> Path:
    """The judge's features of every test image, flattened to 2-D with PCA."""
    xy = PCA(2, random_state=0).fit_transform(judge.judge(test_x).features)
    return figure_data.save(path, "cnn_feature_space", xy=xy.astype(np.float32), labels=test_y)


def confusion(test_y: np.ndarray, pred: np.ndarray, path: Path) -> Path:
    cm = np.zeros((10, 10), dtype=int)
    np.add.at(cm, (test_y, pred), 1)
    return figure_data.save(path, "cnn_confusion", counts=cm)


def confidently_wrong(test_x: np.ndarray, test_y: np.ndarray, probs: np.ndarray, path: Path, n: int = 12) -> Path:
    """The `n` misread test images the network was surest of."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != test_y)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:n]
    return figure_data.save(
        path, "cnn_confidently_wrong", images=test_x[wrong], true=test_y[wrong], pred=pred[wrong], confidence=probs[wrong, pred[wrong]]
    )


def save_all(model, judge, test_x, test_y, probs, out: Path) -> list[Path]:
    return [
        filters(model, out / "filters.npz"),
        feature_maps(model, test_x[0], out / "feature_maps.npz"),
        feature_space(judge, test_x, test_y, out / "feature_space.npz"),
        confusion(test_y, probs.argmax(1), out / "confusion.npz"),
        confidently_wrong(test_x, test_y, probs, out / "wrong.npz"),
    ]
