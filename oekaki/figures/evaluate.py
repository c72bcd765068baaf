"""Drawings of the `evaluate` stage's figures besides its digit grids: where the two judges read a drawing differently."""

from __future__ import annotations

from oekaki.core.figure_data import FigureData
from oekaki.figures.base import plt


def judges_disagree(d: FigureData, lang: str) -> plt.Figure:
    """Samples the CNN and the ViT read as different digits, each titled `asked: CNN | ViT` (digits only; the caption says so)."""
    n = max(len(d["images"]), 1)
    fig, axes = plt.subplots(1, n, figsize=(1.05 * n, 1.5), squeeze=False)
    for ax, img, asked, cnn, vit in zip(axes[0], d["images"], d["asked"], d["cnn"], d["vit"], strict=False):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{asked}: {cnn} | {vit}", fontsize=8)
    for ax in axes[0]:
        ax.set_axis_off()
    return fig
