"""Figure data of the `vae` stage: reconstructions, new digits, the latent space, a walk, style transfer, training.

Computed here, saved as reports/figure_data/vae/<name>.npz (oekaki/core/figure_data.py), drawn by the
report stage (oekaki/figures/: digit grids, the latent space).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA

from oekaki.core import figure_data
from oekaki.core.constants import N_CLASSES
from oekaki.data.dataset import TensorData
from oekaki.models.vae import ConvVAE, encode_means, generate, style_transfer

N_STYLE_SOURCES = 6
WALK_STEPS = 10


def first_of_each_class(y: np.ndarray, per_class: int = 1) -> np.ndarray:
    """Indices of the first `per_class` test images of every label present, label by label."""
    return np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(N_CLASSES)])


@torch.no_grad()
def reconstructions(model: ConvVAE, data: TensorData, path: Path) -> Path:
    ix = torch.as_tensor(first_of_each_class(data.test_y.cpu().numpy(), 2))
    x, y = data.test_x[ix], data.test_y[ix]
    mu = encode_means(model, x, y)
    recon = model.images(mu, y if model.args.conditional else None)
    rows = []
    for half in (slice(0, len(ix), 2), slice(1, len(ix), 2)):
        rows += [x[half].cpu().numpy(), recon[half].cpu().numpy()]
    images = np.concatenate(rows)
    return figure_data.digit_grid(path, images, len(ix) // 2)  # rows 1 and 3: test digits; 2 and 4: their reconstructions


def samples(model: ConvVAE, path: Path, seed: int) -> Path:
    n = 10
    if model.args.conditional:
        labels = np.repeat(np.arange(N_CLASSES), n)
        images = generate(model, len(labels), labels, seed + 2)
        return figure_data.digit_grid(path, images, n, [str(c) for c in range(10)])
    return figure_data.digit_grid(path, generate(model, n * n, None, seed + 2), n)


def latent_space(model: ConvVAE, data: TensorData, path: Path, seed: int) -> Path:
    """Test digits' latent means in 2-D: the latent itself when it is 2-D, else its first two principal components."""
    y = data.test_y.cpu().numpy()
    mu = encode_means(model, data.test_x, data.test_y).cpu().numpy()
    if mu.shape[1] == 2:
        xy, explained = mu, np.zeros(0)
    else:
        pca = PCA(2, random_state=seed).fit(mu)
        xy, explained = pca.transform(mu), pca.explained_variance_ratio_
    return figure_data.save(path, "vae_latent_space", xy=xy.astype(np.float32), labels=y, explained=explained)


@torch.no_grad()
def latent_walk(model: ConvVAE, data: TensorData, path: Path) -> Path:
    """Straight lines in latent space between pairs of test digits, decoded step by step.

    For the conditional model the label moves too (a soft one-hot), so a 3 turns into an 8.
    """
    y_np = data.test_y.cpu().numpy()
    first = first_of_each_class(y_np)
    pairs = [(first[a], first[b]) for a, b in ((1, 7), (3, 8), (4, 9), (0, 6)) if a < len(first) and b < len(first)]
    t = torch.linspace(0, 1, WALK_STEPS, device=data.test_x.device)[:, None]
    rows = []
    for a, b in pairs:
        ix = torch.as_tensor([a, b])
        mu = encode_means(model, data.test_x[ix], data.test_y[ix])
        z = (1 - t) * mu[0] + t * mu[1]
        labels = None
        if model.args.conditional:
            onehot = torch.nn.functional.one_hot(data.test_y[ix], N_CLASSES).float()
            labels = (1 - t) * onehot[0] + t * onehot[1]
        rows.append(
            np.concatenate(
                [data.test_x[a : a + 1].cpu().numpy(), model.images(z, labels).cpu().numpy(), data.test_x[b : b + 1].cpu().numpy()]
            )
        )
    names = [f"{y_np[a]} -> {y_np[b]}" for a, b in pairs]
    return figure_data.digit_grid(path, np.concatenate(rows), WALK_STEPS + 2, names)  # first and last columns: the real test digits


def style_sources(test_y: np.ndarray) -> np.ndarray:
    """The test digits whose style the report's grid redraws (the first of each class, N_STYLE_SOURCES of them)."""
    return first_of_each_class(test_y)[:N_STYLE_SOURCES]


def style_grid(model: ConvVAE, data: TensorData, path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """Test digits' styles decoded with every label; returns the grid (N, 10, 28, 28) and the sources."""
    ix = torch.as_tensor(style_sources(data.test_y.cpu().numpy()))
    grid = style_transfer(model, data.test_x[ix], data.test_y[ix])
    sources = data.test_x[ix].cpu().numpy()
    images = np.concatenate([np.concatenate([s[None], row]) for s, row in zip(sources, grid, strict=True)])
    names = [str(int(v)) for v in data.test_y[ix].cpu()]  # the source digit's label; column 1 is it, then its style as 0-9
    return figure_data.digit_grid(path, images, N_CLASSES + 1, names), grid, sources


def save_all(model: ConvVAE, data: TensorData, snapshots: list[np.ndarray], out: Path, seed: int) -> list[Path]:
    figures = [
        reconstructions(model, data, out / "reconstructions.npz"),
        samples(model, out / "samples.npz", seed),
        latent_space(model, data, out / "latent_space.npz", seed),
        latent_walk(model, data, out / "latent_walk.npz"),
    ]
    if model.args.conditional:
        figures.append(style_grid(model, data, out / "style_transfer.npz")[0])
    if snapshots:
        figures.append(figure_data.training_strip(out / "training.npz", snapshots, panels=4, columns=4))
    return figures
