"""Drawings of the `diffusion` stage's sweeps (its digit grids, strip and memorisation check are oekaki/figures/base.py's)."""

from __future__ import annotations

from matplotlib.ticker import NullFormatter, ScalarFormatter

from oekaki.core.figure_data import FigureData
from oekaki.figures.base import plt, words


def steps_sweep(d: FigureData, lang: str) -> plt.Figure:
    """FID and conditional accuracy against sampling steps (left); seconds per 1,000 images (right)."""
    steps = [int(s) for s in d["steps"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    a.plot(steps, d["fid"], "o-", color="C3", label=words("fig_fid_lower_better", lang))
    a.set_yscale("log")
    a.yaxis.set_major_formatter(ScalarFormatter())
    a.yaxis.set_minor_formatter(NullFormatter())
    a.set_ylabel(words("fig_fid_log", lang))
    twin = a.twinx()
    twin.plot(steps, d["conditional_accuracy"], "s--", color="C2", label=words("fig_conditional_accuracy", lang))
    twin.set_ylim(0, 1.05)
    twin.set_ylabel(words("fig_conditional_accuracy", lang))
    a.legend(loc="upper center", fontsize=8)
    twin.legend(loc="lower right", fontsize=8)
    b.plot(steps, d["seconds_per_1000"], "o-")
    b.set_ylabel(words("fig_seconds_per_1000", lang))
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(words("fig_sampling_steps", lang))
    fig.tight_layout()
    return fig


def guidance_sweep(d: FigureData, lang: str) -> plt.Figure:
    """Conditional accuracy and within-class diversity against the guidance weight: the trade-off guidance makes."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(d["guidance"], d["conditional_accuracy"], "s-", color="C2", label=words("fig_conditional_accuracy", lang))
    ax.plot(d["guidance"], d["within_class_diversity"], "o-", color="C0", label=words("fig_within_class_diversity", lang))
    ax.set_xlabel(words("fig_guidance_weight", lang))
    ax.set_ylim(0, 1.2)
    ax.legend(fontsize=8)
    return fig
