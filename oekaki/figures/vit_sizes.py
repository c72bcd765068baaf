"""Drawing of "where each wins" (bench/vit.py, figure data from oekaki/stages/report/vit_sizes.py): accuracy against training size."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from oekaki.core.figure_data import FigureData
from oekaki.figures.base import plt, words

MARKERS = {"cnn": "s", "vit_stem": "o", "vit_pure": "^"}  # by the model's kind (its words' key too)


def accuracy_vs_size(d: FigureData, lang: str) -> plt.Figure:
    """Test accuracy against training images (log x), one panel per dataset, one line per model, error bars = std over seeds."""
    datasets, kinds = [str(x) for x in d["datasets"]], [str(k) for k in d["kinds"]]
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.4), squeeze=False)
    for ax, name, sizes, mean, std in zip(axes[0], datasets, d["sizes"], d["mean"], d["std"], strict=True):
        for m, kind in enumerate(kinds):
            ax.errorbar(sizes, 100 * mean[m], yerr=100 * np.nan_to_num(std[m]), marker=MARKERS[kind], capsize=3,
                        label=words(f"fig_vit_sizes_model_{kind}", lang))  # fmt: skip
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(words("fig_vit_sizes_training_images", lang))
        ax.set_ylabel(words("fig_vit_sizes_test_accuracy", lang))
        ax.set_title(words(f"fig_vit_sizes_dataset_{name.replace('-', '_')}", lang), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
