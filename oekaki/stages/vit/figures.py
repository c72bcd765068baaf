"""Figure data of the `vit` stage: what the Vision Transformer attends to, beside the CNN, and its position embeddings.

Computed here, saved as reports/figure_data/vit/<name>.npz (oekaki/core/figure_data.py), drawn by the
report stage (oekaki/figures/vit.py). Each figure comes with the number its caption quotes (`measured`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import figure_data
from oekaki.models.cnn import DigitCNN
from oekaki.models.vit import DigitViT, attention_rollout

PER_CLASS = 2  # test digits of every class whose attention is drawn
INK = 0.5  # a patch is "inked" when its brightest pixel is at least this (of 255) ...
INK_LEVEL = int(INK * 255)  # ... in uint8


def first_of_each_class(test_y: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first `per_class` test digits of every class, in class order."""
    return np.concatenate([np.flatnonzero(test_y == k)[:per_class] for k in np.unique(test_y)])


def inked_patches(images: np.ndarray, patch: int) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, grid*grid) bool: does the patch hold any pixel at least INK_LEVEL (row-major, as the tokens)."""
    n, size = len(images), images.shape[1]
    g = size // patch
    blocks = images.reshape(n, g, patch, g, patch).max(axis=(2, 4))
    return (blocks >= INK_LEVEL).reshape(n, g * g)


def ink_share(maps: np.ndarray, inked: np.ndarray) -> np.ndarray:
    """Share of each map's (non-negative) mass that falls on inked patches: (N,)."""
    maps = np.clip(maps, 0, None)
    return (maps * inked).sum(1) / np.maximum(maps.sum(1), 1e-12)


@torch.no_grad()
def rollout_maps(model: DigitViT, images: np.ndarray, batch: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Attention rollout of each image, (N, grid*grid) summing to 1, and the ViT's predictions (N,)."""
    maps, preds = [], []
    for start in range(0, len(images), batch):
        logits, attn = model.attention_maps(model.normalize(torch.as_tensor(images[start : start + batch])))
        maps.append(attention_rollout(attn).numpy())
        preds.append(logits.argmax(1).numpy())
    return np.concatenate(maps), np.concatenate(preds)


@torch.no_grad()
def cnn_maps(cnn: DigitCNN, images: np.ndarray, grid: int) -> np.ndarray:
    """The CNN's last block, summed over channels and pooled to the ViT's grid: where its features fire, (N, grid*grid)."""
    last = cnn.feature_maps(cnn.normalize(torch.as_tensor(images)))[-1].sum(1, keepdim=True)  # (N, 1, h, w), ReLU'd: >= 0
    return torch.nn.functional.adaptive_avg_pool2d(last, grid).flatten(1).numpy()


def attention(model: DigitViT, cnn: DigitCNN, test_x: np.ndarray, test_y: np.ndarray, path: Path) -> tuple[Path, dict]:
    """Rollout maps of a few digits of every class beside the CNN's feature maps; the ink shares over the whole test split."""
    patch, grid = model.args.patch, model.args.grid
    rollout, pred = rollout_maps(model, test_x)
    cnn_all = cnn_maps(cnn, test_x, grid)
    inked = inked_patches(test_x, patch)
    chance = inked.mean(1)  # a uniform map's share: the inked patches' share of the grid
    shares = {"vit": ink_share(rollout, inked), "cnn": ink_share(cnn_all, inked), "uniform": chance}
    rng = np.random.default_rng(0)  # a random map: uniform noise per patch (expected share = the uniform one's)
    shares["random"] = ink_share(rng.random(rollout.shape), inked)
    pick = first_of_each_class(test_y, PER_CLASS)
    saved = figure_data.save(
        path, "vit_attention", images=test_x[pick], labels=test_y[pick], pred=pred[pick], rollout=rollout[pick].reshape(-1, grid, grid),
        cnn=cnn_all[pick].reshape(-1, grid, grid), vit_share=shares["vit"][pick], cnn_share=shares["cnn"][pick], patch=patch,
    )  # fmt: skip
    measured = {f"ink_share_{k}": float(v.mean()) for k, v in shares.items()}
    measured |= {"inked_patch_fraction": float(inked.mean()), "attention_digits": len(pick)}
    return saved, measured


def position_similarity(model: DigitViT, path: Path) -> tuple[Path, dict]:
    """Cosine similarity of every patch's learned position embedding with every other's, (grid^2, grid^2).

    Whether it learned the 2-D grid: the mean similarity of grid neighbours (4-neighbourhood) against that of
    patches at least half the grid apart (Chebyshev distance).
    """
    grid = model.args.grid
    pos = model.pos.detach()[0, 1:]  # (grid^2, width), without [CLS]
    pos = pos / pos.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sim = (pos @ pos.T).numpy()
    r, c = np.divmod(np.arange(grid * grid), grid)
    manhattan = np.abs(r[:, None] - r[None]) + np.abs(c[:, None] - c[None])
    chebyshev = np.maximum(np.abs(r[:, None] - r[None]), np.abs(c[:, None] - c[None]))
    near, far = sim[manhattan == 1], sim[chebyshev >= max(grid // 2, 2)]
    corr = np.corrcoef(sim[manhattan > 0], manhattan[manhattan > 0])[0, 1]
    measured = {"position_similarity_neighbours": float(near.mean()), "position_similarity_far": float(far.mean()),
                "position_far_at": max(grid // 2, 2), "position_similarity_distance_correlation": float(corr)}  # fmt: skip
    return figure_data.save(path, "vit_positions", similarity=sim.reshape(grid, grid, grid, grid)), measured


def confusion(test_y: np.ndarray, pred: np.ndarray, path: Path) -> Path:
    cm = np.zeros((10, 10), dtype=int)
    np.add.at(cm, (test_y, pred), 1)
    return figure_data.save(path, "cnn_confusion", counts=cm)  # drawn as the CNN's


def save_all(model: DigitViT, cnn: DigitCNN, test_x, test_y, probs, out: Path) -> tuple[list[Path], dict]:
    attn, measured = attention(model, cnn, test_x, test_y, out / "attention.npz")
    pos, pos_measured = position_similarity(model, out / "positions.npz")
    return [attn, pos, confusion(test_y, probs.argmax(1), out / "confusion.npz")], {**measured, **pos_measured}
