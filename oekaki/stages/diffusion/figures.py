"""Figure data of the `diffusion` stage: noise to digit, the steps and guidance sweeps, samples, training, memorisation.

Computed here, saved as reports/figure_data/diffusion/<name>.npz (oekaki/core/figure_data.py), drawn by
the report stage (oekaki/figures/diffusion.py and base.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import figure_data
from oekaki.core.constants import N_CLASSES
from oekaki.core.training import Fit
from oekaki.data.dataset import TensorData
from oekaki.models.diffusion import Denoiser, sample_path, start, to_pixels
from oekaki.models.judge import Judge
from oekaki.models.memorisation import memorisation

# The training strip: five epochs, one panel a row. Each panel is wide (four drawings of every digit side by side) and the
# report shows the strip in a half-width card beside the tall memorisation check, where five panels in a row were tiny.
STRIP_PANELS, STRIP_COLUMNS = 5, 1


def path_points(model: Denoiser, seed: int) -> list[np.ndarray]:
    """The same starting noise asked for 0-9, ~8 points along the path (PATH_POINTS): uint8 (10, 28, 28) per point."""
    noise, _, gen = start(model, 1, None, seed + 3)
    labels = torch.arange(N_CLASSES, device=noise.device)
    path = sample_path(model, labels, noise.repeat(N_CLASSES, 1, 1, 1), model.args.sample_steps, model.args.guidance, gen=gen)
    return [to_pixels(x) for x in path]


def noise_to_digit(model: Denoiser, path: Path, seed: int) -> Path:
    """One row per requested digit, one column per point of the sampling path (left: the shared noise)."""
    points = path_points(model, seed)
    cols = len(points)
    images = np.stack(points, 1).reshape(-1, 28, 28)  # row = digit, column = point along the path
    return figure_data.digit_grid(path, images, cols, [str(c) for c in range(N_CLASSES)])


def final_grid(samples: np.ndarray, labels: np.ndarray, path: Path, per_label: int = 10) -> Path:
    """The scoreboard's own drawings (no new ones), the first `per_label` asked for each label, one row per label.

    A label asked for fewer times (a tiny test set) leaves its row's last cells blank.
    """
    rows = np.zeros((N_CLASSES, per_label, 28, 28), dtype=np.uint8)
    for c in range(N_CLASSES):
        picked = samples[np.flatnonzero(labels == c)[:per_label]]
        rows[c, : len(picked)] = picked
    return figure_data.digit_grid(path, rows.reshape(-1, 28, 28), per_label, [str(c) for c in range(N_CLASSES)])


def steps_sweep(rows: list[dict], path: Path) -> Path:
    """FID, conditional accuracy and seconds per 1,000 images at each number of sampling steps (the stage's sweep)."""
    keys = ("steps", "fid", "conditional_accuracy", "seconds_per_1000")
    return figure_data.save(path, "diffusion_steps_sweep", **{k: [r[k] for r in rows] for k in keys})


def guidance_sweep(rows: list[dict], path: Path) -> Path:
    """Conditional accuracy and within-class diversity at each guidance weight: the trade-off guidance makes."""
    keys = ("guidance", "conditional_accuracy", "within_class_diversity")
    return figure_data.save(path, "diffusion_guidance_sweep", **{k: [r[k] for r in rows] for k in keys})


def save_all(model: Denoiser, judge: Judge, data: TensorData, samples: np.ndarray, labels: np.ndarray, done: Fit, out: Path, seed: int):
    """The stage's figure data and the memorisation ratio; `samples` are the scoreboard's first seed's drawings, asked for `labels`."""
    memo_path, ratio = memorisation(judge, data, samples, out / "memorisation.npz")
    figures = [
        noise_to_digit(model, out / "noise_to_digit.npz", seed),
        final_grid(samples, labels, out / "samples.npz"),
        figure_data.training_strip(out / "training.npz", done.snapshots, STRIP_PANELS, STRIP_COLUMNS),
        memo_path,
    ]
    return figures, ratio
