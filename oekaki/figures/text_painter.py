"""Drawings of the `text_painter` stage's figures and the `autoencoder` stage's latent channels.

Their digit grids (the prompt grid, whose row labels are the prompts themselves, the samples, the reconstructions) are
oekaki/figures/base.py's. Here: one prompt walked through the system (tokens -> token states -> latent steps -> decoded
image), the held-out combinations beside the seen ones, adherence against the guidance weight, and each test digit's
latent grid as one small image per channel. `GOALS` are issue 38's measured goals, drawn on the guidance figure and
judged in words by the report's section (templates/sections/text-painter.html.j2).
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter, PercentFormatter

from oekaki.core.figure_data import FigureData
from oekaki.figures.base import plt, words

GOALS = {
    "digit": 0.97,  # the judge reads the named digit
    "attribute": 0.8,  # the measured level is the named level, per attribute (chance: 1/3)
    "japanese_points": 2.0,  # every Japanese adherence figure within this many points of the English one
    "held_out_points": 10.0,  # held-out combinations within this many points of the seen ones
    "fid_ratio": 1.5,  # FID at most this many times the pixel diffusion painter's
}
CHANCE = 1 / 3  # an attribute level drawn at random
LATENT_LIMIT = 3.0  # the walkthrough's latents are standardised per channel: its colour scale, ± this many deviations
DIVERGING = "RdBu_r"  # blue below zero, red above


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


def _language_row(d: FigureData, lang: str) -> int:
    """The walkthrough's row for the page's language (the first row for a language the stage did not walk)."""
    langs = [str(x) for x in d["langs"]]
    return langs.index(lang) if lang in langs else 0


def walkthrough(d: FigureData, lang: str) -> plt.Figure:
    """The page language's prompt: its tokens and the text encoder's state of each (top); below, left to right from noise,
    the latent's channels as small 7x7 images at each drawn step and the decoder's image of that latent."""
    i = _language_row(d, lang)
    n = int(d["n_tokens"][i])
    tokens, states = [str(t) for t in d["tokens"][i][:n]], np.asarray(d["states"][i][:n], dtype=np.float64)
    latents, images, steps = d["latents"][i], d["images"][i], [int(s) for s in d["steps"]]
    points, channels = latents.shape[:2]
    grid_h = 0.78 * (channels + 1)
    fig = plt.figure(figsize=(0.78 * points + 1.4, 0.26 * n + 1.1 + grid_h))
    outer = fig.add_gridspec(2, 1, height_ratios=[0.26 * n + 0.5, grid_h], hspace=0.3)
    top = fig.add_subplot(outer[0])
    lim = max(float(np.percentile(np.abs(states), 98)), 1e-6)  # a few large features would wash out the rest
    heat = top.imshow(states, cmap=DIVERGING, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    top.set_yticks(range(n), tokens, fontsize=8)
    top.set_xticks([])
    top.set_xlabel(words("fig_tp_states", lang, width=states.shape[1]), fontsize=8)
    top.set_ylabel(words("fig_tp_tokens", lang), fontsize=8)
    fig.colorbar(heat, ax=top, fraction=0.03, pad=0.01, extend="both").ax.tick_params(labelsize=6)
    cells = outer[1].subgridspec(channels + 1, points, wspace=0.08, hspace=0.1)
    for p in range(points):
        for c in range(channels + 1):
            ax = fig.add_subplot(cells[c, p])
            if c < channels:
                ax.imshow(latents[p, c], cmap=DIVERGING, vmin=-LATENT_LIMIT, vmax=LATENT_LIMIT, interpolation="nearest")
            else:
                ax.imshow(images[p], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            _bare(ax)
            if c == 0:
                title = words("fig_tp_noise", lang) if p == 0 else words("fig_tp_step", lang, step=steps[p])
                ax.set_title(title, fontsize=7)
            if p == 0:
                label = words("fig_tp_channel", lang, channel=c + 1) if c < channels else words("fig_tp_decoded", lang)
                ax.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    return fig


def _combination(label: int, attribute: str, level: int, lang: str) -> str:
    """'thick 4', '太い4': a held-out combination named in the page's language."""
    return words("fig_tp_combination", lang, level=words(f"fig_tp_level_{attribute}_{level}", lang), digit=int(label))


def held_out(d: FigureData, lang: str) -> plt.Figure:
    """One row per held-out combination: its drawings (English prompts, then Japanese) and, beside them, how often the
    asked-for level is drawn there and on seen digits, and how often the judge reads the asked-for digit."""
    images = d["images"]  # (rows, shown, 28, 28)
    rows, shown = images.shape[:2]
    fig, axes = plt.subplots(rows, 2, figsize=(0.5 * shown + 4.2, 0.62 * rows + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [0.5 * shown, 2.6], "wspace": 0.08})  # fmt: skip
    bars = (
        ("adherence", "fig_tp_held_out", "C3"),
        ("seen_adherence", "fig_tp_seen", "C0"),
        ("digit_adherence", "fig_tp_digit_read", "0.6"),
    )
    for r in range(rows):
        strip, chart = axes[r]
        strip.imshow(np.concatenate(list(images[r]), axis=1), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        strip.axvline(28 * (shown // 2) - 0.5, color="white", lw=1.5)  # English prompts | Japanese prompts
        _bare(strip)
        combo = _combination(d["labels"][r], str(d["attributes"][r]), int(d["levels"][r]), lang)
        strip.set_ylabel(combo, fontsize=8, rotation=0, ha="right", va="center")
        values = [float(d[key][r]) for key, _, _ in bars]
        chart.barh(range(len(bars)), values, color=[c for _, _, c in bars], height=0.75)
        for k, v in enumerate(values):
            chart.text(min(v, 1.0) + 0.02, k, f"{v:.0%}", va="center", fontsize=6)
        chart.axvline(CHANCE, color="0.4", lw=0.8, ls=":")
        chart.set_xlim(0, 1.25)
        chart.set_ylim(len(bars) - 0.5, -0.5)
        chart.set_yticks([])
        chart.set_xticks([0, 0.5, 1] if r == rows - 1 else [])
        chart.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        chart.tick_params(labelsize=7)
    for x, key in ((0.25, "fig_tp_en_prompts"), (0.75, "fig_tp_ja_prompts")):  # the strip's halves
        axes[0, 0].text(x, 1.06, words(key, lang), transform=axes[0, 0].transAxes, ha="center", va="bottom", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for _, _, c in bars]
    axes[0, 1].legend(
        handles, [words(key, lang) for _, key, _ in bars], fontsize=6, loc="lower left", bbox_to_anchor=(0, 1.02), frameon=False
    )
    return fig


def guidance(d: FigureData, lang: str) -> plt.Figure:
    """Digit, attribute (seen combinations) and held-out adherence against the guidance weight, with the goals and chance."""
    g = [float(x) for x in d["guidance"]]
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    ax.plot(g, d["digit_adherence"], "s-", color="C0", label=words("fig_tp_digit_adherence", lang))
    ax.plot(g, d["attribute_adherence"], "o-", color="C1", label=words("fig_tp_attribute_adherence", lang))
    ax.plot(g, d["held_out_adherence"], "^-", color="C3", label=words("fig_tp_held_out_adherence", lang))
    ax.axhline(GOALS["digit"], color="C0", lw=0.9, ls="--", label=words("fig_tp_digit_goal", lang, goal=GOALS["digit"]))
    ax.axhline(GOALS["attribute"], color="C1", lw=0.9, ls="--", label=words("fig_tp_attribute_goal", lang, goal=GOALS["attribute"]))
    ax.axhline(CHANCE, color="0.4", lw=0.9, ls=":", label=words("fig_tp_chance", lang))
    if min(g) > 0:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(g, [f"{x:g}" for x in g])
    ax.set_xlabel(words("fig_tp_guidance_weight", lang))
    ax.set_ylabel(words("fig_tp_adherence", lang))
    ax.set_ylim(0, 1.04)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize=7, loc="best")
    return fig


def latent_channels(d: FigureData, lang: str) -> plt.Figure:
    """One column per test digit: the digit, then its latent grid (the encoder's mean), one 7x7 image per channel.
    Each channel has one colour scale across the digits (blue negative, red positive), so the columns compare."""
    images, latents = d["images"], np.asarray(d["latents"], dtype=np.float64)  # (k, 28, 28), (k, C, 7, 7)
    k, channels = latents.shape[:2]
    fig, axes = plt.subplots(channels + 1, k, figsize=(0.62 * k + 1.1, 0.62 * (channels + 1) + 0.2), squeeze=False)
    for j in range(k):
        axes[0, j].imshow(images[j], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        for c in range(channels):
            lim = max(float(np.abs(latents[:, c]).max()), 1e-6)
            axes[c + 1, j].imshow(latents[j, c], cmap=DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
    for ax in axes.ravel():
        _bare(ax)
    rows = [words("fig_tp_test_digit", lang)] + [words("fig_tp_channel", lang, channel=c + 1) for c in range(channels)]
    for r, label in enumerate(rows):
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.08, hspace=0.08)
    return fig
