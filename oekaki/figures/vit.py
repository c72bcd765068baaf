"""Drawings of the `vit` stage's figures: attention rollout beside the CNN's feature maps, with the patch grid; position embeddings."""

from __future__ import annotations

import numpy as np

from oekaki.core.figure_data import FigureData
from oekaki.figures.base import plt, words

SIZE = 28


def _grid_lines(ax, patch: int) -> None:
    """The ViT's patch grid over a 28x28 image: each cell is one token."""
    for k in range(patch, SIZE, patch):
        ax.axhline(k - 0.5, color="white", lw=0.4, alpha=0.6)
        ax.axvline(k - 0.5, color="white", lw=0.4, alpha=0.6)


def _overlay(ax, image: np.ndarray, heat: np.ndarray) -> None:
    """A (grid, grid) map stretched over the 28x28 digit, translucent, so the strokes stay visible."""
    ax.imshow(image, cmap="gray", extent=(-0.5, SIZE - 0.5, SIZE - 0.5, -0.5))
    ax.imshow(heat / max(float(heat.max()), 1e-12), cmap="inferno", alpha=0.55, vmin=0, vmax=1, extent=(-0.5, SIZE - 0.5, SIZE - 0.5, -0.5))


def attention(d: FigureData, lang: str) -> plt.Figure:
    """Three rows per column of digits: the digit under the patch grid, the ViT's rollout over it, the CNN's last maps over it."""
    images, n, patch = d["images"], len(d["images"]), int(d["patch"])
    fig, axes = plt.subplots(3, n, figsize=(0.78 * n + 1.2, 2.9), squeeze=False)
    rows = (words("fig_vit_patches", lang), words("fig_vit_rollout", lang), words("fig_vit_cnn_maps", lang))
    for j in range(n):
        axes[0, j].imshow(images[j], cmap="gray")
        _grid_lines(axes[0, j], patch)
        axes[0, j].set_title(f"{d['labels'][j]}→{d['pred'][j]}", fontsize=6)
        _overlay(axes[1, j], images[j], d["rollout"][j])
        axes[1, j].set_title(f"{d['vit_share'][j]:.0%}", fontsize=6)
        _overlay(axes[2, j], images[j], d["cnn"][j])
        axes[2, j].set_title(f"{d['cnn_share'][j]:.0%}", fontsize=6)
    for r, label in enumerate(rows):
        axes[r, 0].set_ylabel(label, fontsize=6, rotation=0, ha="right", va="center")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
    return fig


def positions(d: FigureData, lang: str) -> plt.Figure:
    """For every patch (cell of the big grid), the cosine similarity of its position embedding with every other patch's."""
    sim = d["similarity"]  # (g, g, g, g)
    g = sim.shape[0]
    fig, axes = plt.subplots(g, g, figsize=(4.2, 4.4), squeeze=False)
    for r in range(g):
        for c in range(g):
            axes[r, c].imshow(sim[r, c], cmap="viridis", vmin=-1, vmax=1)
            axes[r, c].plot(c, r, marker="s", ms=2, color="red")
            axes[r, c].set_axis_off()
    fig.suptitle(words("fig_vit_positions", lang), fontsize=8)
    return fig
