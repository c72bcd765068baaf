"""Drawings of the `gmm` stage's figures: the 2-pixel contest, the learned density, style-fixed sampling, pictures, BIC."""

from __future__ import annotations

import numpy as np

from oekaki.core.figure_data import FigureData
from oekaki.figures.base import plt, words


def contest(d: FigureData, lang: str) -> plt.Figure:
    """The contest entries: one dot per two-pixel painting."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.scatter(d["points"][:, 0], d["points"][:, 1], s=8, alpha=0.7)
    _pixel_axes(ax, lang)
    return fig


def density(d: FigureData, lang: str) -> plt.Figure:
    """The learned mixture's density (shaded), the true one (dotted) and paintings sampled from the learned one."""
    xx, yy = np.meshgrid(d["grid"], d["grid"])
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.contourf(xx, yy, d["fitted"], levels=12, cmap="Blues")
    ax.contour(xx, yy, d["truth"], levels=6, colors="k", linewidths=0.5, linestyles="dotted")
    ax.scatter(d["generated"][:, 0], d["generated"][:, 1], s=6, c="tab:orange", label=words("fig_new_paintings", lang))
    ax.legend(loc="lower left", fontsize=7)
    _pixel_axes(ax, lang)
    return fig


def style_slice(d: FigureData, lang: str) -> plt.Figure:
    """Pixel 2 sampled for a fixed pixel 1 (histogram) against the learned and the true conditional density."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(d["styled"], bins=40, density=True, alpha=0.4, label=words("fig_sampled_landscapes", lang))
    ax.plot(d["x2"], d["learned"], label=words("fig_learned_conditional", lang))
    ax.plot(d["x2"], d["true"], "k:", label=words("fig_true_conditional", lang))
    ax.set_xlabel(words("fig_pixel2", lang))
    ax.set_ylabel(words("fig_density", lang))
    ax.legend(fontsize=7)
    return fig


def pictures(d: FigureData, lang: str) -> plt.Figure:
    """Each 2-pixel painting drawn as two grey squares; one strip per painter, named (a), (b), ... (the caption says which)."""
    strips = d["strips"]  # (painters, n, 2)
    n = strips.shape[1]
    fig, axes = plt.subplots(len(strips), 1, figsize=(n * 0.6, len(strips) * 0.9), squeeze=False)
    for k, (ax, values) in enumerate(zip(axes[:, 0], strips, strict=True)):
        strip = np.full((1, n * 3 - 1), np.nan)
        for i, (p1, p2) in enumerate(np.clip(values, 0, 255)):  # clipped for display only
            strip[0, 3 * i : 3 * i + 2] = (p1, p2)
        ax.imshow(np.ma.masked_invalid(strip), cmap="gray", vmin=0, vmax=255, aspect="equal")
        ax.set_axis_off()
        ax.set_title(f"({chr(ord('a') + k)})", fontsize=8, loc="left")
    return fig


def bic(d: FigureData, lang: str) -> plt.Figure:
    """BIC per number of components, the chosen K marked."""
    bics, chosen = d["bics"], int(d["chosen"])
    fig, ax = plt.subplots(figsize=(4, 2.8))
    ax.plot(range(1, len(bics) + 1), bics, "o-")
    ax.axvline(chosen, color="tab:orange", ls="--", label=words("fig_chosen_k", lang, k=chosen))
    ax.set_xlabel(words("fig_n_components", lang))
    ax.set_ylabel(words("fig_bic", lang))
    ax.legend(fontsize=8)
    return fig


def _pixel_axes(ax, lang: str) -> None:
    ax.set_xlim(-20, 275)
    ax.set_ylim(-20, 275)
    ax.set_xlabel(words("fig_pixel1", lang))
    ax.set_ylabel(words("fig_pixel2", lang))
    ax.set_aspect("equal")
