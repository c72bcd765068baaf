"""Drawings of the `cnn` stage's figures: filters, feature maps, feature space, confusion, confidently wrong."""

from __future__ import annotations

import numpy as np

from oekaki.core.figure_data import FigureData
from oekaki.core.plots import tile
from oekaki.figures.base import plt, words


def filters(d: FigureData, lang: str) -> plt.Figure:
    """First-layer 3x3 kernels, each scaled to its own range: each responds to a small stroke pattern."""
    fig, ax = plt.subplots(figsize=(6, 1.9))
    ax.imshow(np.ma.masked_invalid(tile(d["kernels"], nrow=16, pad=1, fill=np.nan)), cmap="RdBu_r", interpolation="nearest")
    ax.set_axis_off()
    return fig


def feature_maps(d: FigureData, lang: str) -> plt.Figure:
    """One digit (first column) and the first channels of each block's feature maps, one block a row."""
    layers = [d[k] for k in sorted((k for k in d if k.startswith("maps_")), key=lambda k: int(k.split("_")[1]))]
    per_layer = max(len(m) for m in layers)
    fig, axes = plt.subplots(len(layers), per_layer + 1, figsize=(1.1 * (per_layer + 1), 1.25 * len(layers)), squeeze=False)
    for row, maps in enumerate(layers):
        axes[row, 0].imshow(d["image"], cmap="gray")
        for j, m in enumerate(maps):
            axes[row, j + 1].imshow(m, cmap="magma")
    for ax in axes.ravel():
        ax.set_axis_off()
    return fig


def feature_space(d: FigureData, lang: str) -> plt.Figure:
    """The test images' judge features in 2-D (PCA), coloured by label."""
    fig, ax = plt.subplots(figsize=(5, 4.4))
    sc = ax.scatter(d["xy"][:, 0], d["xy"][:, 1], c=d["labels"], cmap="tab10", s=4, alpha=0.7)
    ax.legend(*sc.legend_elements(), fontsize=7, title=words("fig_label", lang), loc="best", markerscale=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def confusion(d: FigureData, lang: str) -> plt.Figure:
    """Counts of (true, predicted) label pairs, shaded on a log scale."""
    cm = d["counts"]
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=6, color="white" if i == j else "black")
    ax.set_xlabel(words("fig_predicted", lang))
    ax.set_ylabel(words("fig_true", lang))
    ax.set_xticks(range(cm.shape[1]))
    ax.set_yticks(range(cm.shape[0]))
    return fig


def confidently_wrong(d: FigureData, lang: str) -> plt.Figure:
    """The most confidently misread test images, each titled `true→predicted (confidence)`."""
    n = max(len(d["images"]), 1)
    fig, axes = plt.subplots(1, n, figsize=(1.05 * n, 1.5), squeeze=False)
    for ax, img, t, p, conf in zip(axes[0], d["images"], d["true"], d["pred"], d["confidence"], strict=False):
        ax.imshow(img, cmap="gray")
        ax.set_title(f"{t}→{p} ({conf:.0%})", fontsize=7)
    for ax in axes[0]:
        ax.set_axis_off()
    return fig
