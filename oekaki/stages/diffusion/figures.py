"""Figures of the `diffusion` stage: noise to digit, the steps and guidance sweeps, samples, training, memorisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.ticker import NullFormatter, ScalarFormatter

from oekaki.core.constants import N_CLASSES
from oekaki.core.plots import digit_grid, plt, save_figure, training_strip
from oekaki.core.training import Fit
from oekaki.data.dataset import TensorData
from oekaki.models.diffusion import Denoiser, sample_path, start, to_pixels
from oekaki.models.judge import Judge
from oekaki.models.memorisation import memorisation


def path_points(model: Denoiser, seed: int) -> list[np.ndarray]:
    """The same starting noise asked for 0-9, ~8 points along the path (PATH_POINTS): uint8 (10, 28, 28) per point."""
    noise, _, gen = start(model, 1, None, seed + 3)
    labels = torch.arange(N_CLASSES, device=noise.device)
    path = sample_path(model, labels, noise.repeat(N_CLASSES, 1, 1, 1), model.args.sample_steps, model.args.guidance, gen=gen)
    return [to_pixels(x) for x in path]


def noise_to_digit(model: Denoiser, path: Path, dpi: int, seed: int) -> Path:
    """One row per requested digit, one column per point of the sampling path (left: the shared noise)."""
    points = path_points(model, seed)
    cols = len(points)
    images = np.stack(points, 1).reshape(-1, 28, 28)  # row = digit, column = point along the path
    return digit_grid(images, cols, path, dpi, [str(c) for c in range(N_CLASSES)])


def final_grid(samples: np.ndarray, labels: np.ndarray, path: Path, dpi: int, per_label: int = 10) -> Path:
    """The scoreboard's own drawings (no new ones), the first `per_label` asked for each label, one row per label.

    A label asked for fewer times (a tiny test set) leaves its row's last cells blank.
    """
    rows = np.zeros((N_CLASSES, per_label, 28, 28), dtype=np.uint8)
    for c in range(N_CLASSES):
        picked = samples[np.flatnonzero(labels == c)[:per_label]]
        rows[c, : len(picked)] = picked
    return digit_grid(rows.reshape(-1, 28, 28), per_label, path, dpi, [str(c) for c in range(N_CLASSES)])


def steps_sweep_plot(rows: list[dict], n: int, path: Path, dpi: int) -> Path:
    """FID and conditional accuracy vs sampling steps (left); seconds per 1,000 images (right)."""
    steps = [r["steps"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    a.plot(steps, [r["fid"] for r in rows], "o-", color="C3", label="FID (lower is better)")
    a.set_yscale("log")
    a.yaxis.set_major_formatter(ScalarFormatter())
    a.yaxis.set_minor_formatter(NullFormatter())
    a.set_ylabel("FID (log scale)")
    twin = a.twinx()
    twin.plot(steps, [r["conditional_accuracy"] for r in rows], "s--", color="C2", label="conditional accuracy")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("conditional accuracy")
    a.legend(loc="upper center", fontsize=8)
    twin.legend(loc="lower right", fontsize=8)
    b.plot(steps, [r["seconds_per_1000"] for r in rows], "o-")
    b.set_ylabel("seconds per 1,000 images")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.set_xlabel("sampling steps")
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def guidance_sweep_plot(rows: list[dict], n: int, path: Path, dpi: int) -> Path:
    """Conditional accuracy and within-class diversity vs the guidance weight: the trade-off guidance makes."""
    g = [r["guidance"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(g, [r["conditional_accuracy"] for r in rows], "s-", color="C2", label="conditional accuracy")
    ax.plot(g, [r["within_class_diversity"] for r in rows], "o-", color="C0", label="within-class diversity")
    ax.set_xlabel("guidance weight (0 = no label, 1 = plain conditional)")
    ax.set_ylim(0, 1.2)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi)


def draw_all(
    model: Denoiser, judge: Judge, data: TensorData, samples: np.ndarray, labels: np.ndarray, done: Fit, out: Path, dpi: int, seed: int
):
    """The stage's figures; `samples` are the scoreboard's first seed's drawings, asked for `labels`."""
    memo_path, ratio = memorisation(judge, data, samples, out / "memorisation.png", dpi)
    figures = [
        noise_to_digit(model, out / "noise_to_digit.png", dpi, seed),
        final_grid(samples, labels, out / "samples.png", dpi),
        training_strip(done.snapshots, out / "training.png", dpi, 5, (2.8, 1.4)),
        memo_path,
    ]
    return figures, ratio
