"""Figures of the `cnn` stage, in the seed's terms: filters, feature maps, feature space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA

from oekaki.core.plots import plt, save_figure, tile
from oekaki.models.cnn import DigitCNN
from oekaki.models.judge import Judge


def filters(model: DigitCNN, path: Path, dpi: int) -> Path:
    """First-layer 3x3 kernels: each responds to a small stroke pattern."""
    w = model.blocks[0][0].weight.detach().cpu()[:, 0]  # (C, 3, 3)
    w = (w - w.amin(dim=(1, 2), keepdim=True)) / (w.amax(dim=(1, 2), keepdim=True) - w.amin(dim=(1, 2), keepdim=True) + 1e-8)
    fig, ax = plt.subplots(figsize=(6, 1.9))
    ax.imshow(np.ma.masked_invalid(tile(w.numpy(), nrow=16, pad=1, fill=np.nan)), cmap="RdBu_r", interpolation="nearest")
    ax.set_axis_off()
    return save_figure(fig, path, dpi)


@torch.no_grad()
def feature_maps(model: DigitCNN, image: np.ndarray, path: Path, dpi: int, per_layer: int = 8) -> Path:
    """One digit through each block: which strokes each channel lights up on."""
    device = next(model.parameters()).device
    model.eval()
    maps = model.feature_maps(model.normalize(torch.as_tensor(image[None]).to(device)))
    fig, axes = plt.subplots(len(maps), per_layer + 1, figsize=(1.1 * (per_layer + 1), 1.25 * len(maps)))
    for row, m in enumerate(maps):
        axes[row, 0].imshow(image, cmap="gray")
        for j in range(per_layer):
            axes[row, j + 1].imshow(m[0, j].cpu().numpy(), cmap="magma")
    for ax in axes.ravel():
        ax.set_axis_off()
    return save_figure(fig, path, dpi)


def feature_space(judge: Judge, test_x: np.ndarray, test_y: np.ndarray, path: Path, dpi: int) -> Path:
    feats = judge.judge(test_x).features
    xy = PCA(2, random_state=0).fit_transform(feats)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=test_y, cmap="tab10", s=4, alpha=0.7)
    ax.legend(*sc.legend_elements(), fontsize=7, title="label", loc="best", markerscale=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    return save_figure(fig, path, dpi)


def confusion(test_y: np.ndarray, pred: np.ndarray, path: Path, dpi: int) -> Path:
    cm = np.zeros((10, 10), dtype=int)
    np.add.at(cm, (test_y, pred), 1)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(10):
        for j in range(10):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=6, color="white" if i == j else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    return save_figure(fig, path, dpi)


def confidently_wrong(test_x: np.ndarray, test_y: np.ndarray, probs: np.ndarray, path: Path, dpi: int, n: int = 12) -> Path:
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != test_y)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:n]
    fig, axes = plt.subplots(1, max(len(wrong), 1), figsize=(1.05 * max(len(wrong), 1), 1.5), squeeze=False)
    for ax, i in zip(axes[0], wrong, strict=False):
        ax.imshow(test_x[i], cmap="gray")
        ax.set_title(f"{test_y[i]}→{pred[i]} ({probs[i, pred[i]]:.0%})", fontsize=7)
    for ax in axes[0]:
        ax.set_axis_off()
    return save_figure(fig, path, dpi)


def draw_all(model, judge, test_x, test_y, probs, out: Path, dpi: int) -> list[Path]:
    return [
        filters(model, out / "filters.png", dpi),
        feature_maps(model, test_x[0], out / "feature_maps.png", dpi),
        feature_space(judge, test_x, test_y, out / "feature_space.png", dpi),
        confusion(test_y, probs.argmax(1), out / "confusion.png", dpi),
        confidently_wrong(test_x, test_y, probs, out / "wrong.png", dpi),
    ]
