"""Drawings of the contributed digits (the report's "What the 301st artist taught"): per class, over time, the quarantined.

The report stage writes their data from the contributions snapshot (oekaki/stages/report/contributed.py); the
three series are always, in this order, trained on, held out for the gate, quarantined (oekaki/data/snapshot.py).
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from oekaki.core.figure_data import FigureData
from oekaki.figures.base import plt, words

SERIES = ("fig_con_train", "fig_con_held_out", "fig_con_quarantined")  # the words of the three splits, in split order
COLOURS = ("C0", "C2", "C3")


def per_class(d: FigureData, lang: str) -> plt.Figure:
    """Stacked bars per digit class: (3, 10) counts, one row per split."""
    counts = np.asarray(d["counts"])
    fig, ax = plt.subplots(figsize=(5.4, 3.3))
    bottom = np.zeros(counts.shape[1])
    for row, key, colour in zip(counts, SERIES, COLOURS, strict=True):
        ax.bar(np.arange(len(row)), row, bottom=bottom, color=colour, label=words(key, lang))
        bottom += row
    ax.set_xticks(range(counts.shape[1]))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(words("fig_con_class", lang))
    ax.set_ylabel(words("fig_con_digits", lang))
    ax.legend(fontsize=8)
    return fig


def over_time(d: FigureData, lang: str) -> plt.Figure:
    """Each split's contributions counted up in store id order (the ids only grow; the snapshot holds no times)."""
    ids, split = np.asarray(d["ids"]), np.asarray(d["split"])
    fig, ax = plt.subplots(figsize=(5.4, 3.3))
    for s, (key, colour) in enumerate(zip(SERIES, COLOURS, strict=True)):
        ax.step(ids, np.cumsum(split == s), where="post", color=colour, label=words(key, lang))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(words("fig_con_store_id", lang))
    ax.set_ylabel(words("fig_con_so_far", lang))
    ax.legend(fontsize=8)
    return fig


def quarantined(d: FigureData, lang: str) -> plt.Figure:
    """The quarantined digits, up to ten a row, each titled `label→judge's reading confidence`."""
    images = d["images"]
    n = len(images)
    columns = max(1, min(10, n))
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(0.95 * columns, 1.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, img, label, read, conf in zip(axes.ravel(), images, d["labels"], d["judge_label"], d["confidence"], strict=False):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{label}→{read} {conf:.0%}", fontsize=7)
    return fig
