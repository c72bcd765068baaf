"""Drawing of the `vae` stage's latent space (its digit grids and training strip are oekaki/figures/base.py's)."""

from __future__ import annotations

from oekaki.core.figure_data import FigureData
from oekaki.figures.base import plt, words


def latent_space(d: FigureData, lang: str) -> plt.Figure:
    """Test digits' latent means in 2-D, coloured by label: the latent itself, or its first two principal components."""
    xy, share = d["xy"], d["explained"]  # share: each component's part of the variance; empty for a 2-D latent
    if len(share):
        axis = (words("fig_pc1", lang, share=float(share[0])), words("fig_pc2", lang, share=float(share[1])))
    else:
        axis = ("z1", "z2")
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=d["labels"], cmap="tab10", s=4, alpha=0.7, vmin=-0.5, vmax=9.5, linewidths=0)
    fig.colorbar(sc, ax=ax, ticks=range(10), label=words("fig_label", lang))
    ax.set_xlabel(axis[0])
    ax.set_ylabel(axis[1])
    return fig
