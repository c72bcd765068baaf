"""What every figure drawing shares: the headless backend, a Japanese-capable font, PNG writes, digit grids.

Words on a figure come from the language catalogs (`words(key, lang)`: oekaki/locales/<lang>.yaml,
keys `fig_...`), so each report language gets its own picture; digits and numbers need no words.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from oekaki.core.io import atomic_path  # noqa: E402
from oekaki.core.locales import text  # noqa: E402
from oekaki.core.plots import tile  # noqa: E402

log = logging.getLogger("oekaki.figures")

# Fonts with Japanese glyphs, in order of preference (Debian: fonts-ipafont-gothic, fonts-noto-cjk).
CJK_FAMILIES = ("IPAGothic", "IPAexGothic", "IPAPGothic", "Noto Sans CJK JP", "Noto Sans JP", "TakaoGothic", "VL Gothic")
CJK_FILES = ("ipag", "ipaexg", "notosanscjk", "notosansjp", "takaogothic", "vl-gothic")


@functools.cache
def use_japanese_font() -> str | None:
    """Add a Japanese-capable font behind matplotlib's default (glyph by glyph fallback); its family, or None.

    A font installed after matplotlib built its font cache is found on disk and added. None (and a
    warning naming the fix) when the machine has none: the Japanese figures would show empty boxes.
    """
    found = {f.name for f in font_manager.fontManager.ttflist}
    family = next((f for f in CJK_FAMILIES if f in found), None)
    if family is None:
        for path in font_manager.findSystemFonts():
            if any(Path(path).name.lower().startswith(stem) for stem in CJK_FILES):
                font_manager.fontManager.addfont(path)
        found = {f.name for f in font_manager.fontManager.ttflist}
        family = next((f for f in CJK_FAMILIES if f in found), None)
    if family is None:
        log.warning("no Japanese font found: the Japanese figures' words show as boxes (install fonts-ipafont-gothic or fonts-noto-cjk)")
        return None
    plt.rcParams["font.family"] = ["DejaVu Sans", family]
    return family


def words(key: str, lang: str, **fields: object) -> str:
    """A figure's words in `lang`, from the catalog key `key` (every such key starts with `fig_`)."""
    return text(key, lang, **fields)


def save_figure(fig: plt.Figure, path: Path, dpi: int) -> Path:
    """Write `fig` as PNG atomically, close it, and return the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def figure_texts(fig: plt.Figure) -> list[str]:
    """Every visible text on `fig` once drawn (titles, axis labels, tick labels, legends, colour bars, annotations)."""
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def digit_grid(images: np.ndarray, nrow: int, row_labels: list[str] | None = None) -> plt.Figure:
    """A grid of 28x28 uint8 digits (white ink on black, as MNIST stores them); row labels are digits or arrows."""
    mosaic = tile(images, nrow)
    fig, ax = plt.subplots(figsize=(nrow * 0.45 + 0.6, mosaic.shape[0] / mosaic.shape[1] * nrow * 0.45 + 0.5))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        h = images.shape[1] + 1
        ax.set_yticks([1 + h * i + h / 2 for i in range(len(row_labels))], row_labels)
    else:
        ax.set_yticks([])
    return fig


def training_strip(snapshots: np.ndarray, epochs: np.ndarray, columns: int) -> plt.Figure:
    """Fixed-noise grids at a few epochs, `columns` panels a row, each titled with its epoch (the caption says so)."""
    n, h, w = snapshots.shape
    columns = max(1, min(int(columns), n))
    rows = -(-n // columns)
    panel_w = 3.0 if columns > 1 else 5.0  # inches: a lone column fills a report card's width
    fig, axes = plt.subplots(rows, columns, figsize=(panel_w * columns, panel_w * h / w * rows + 0.35 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, snap, epoch in zip(axes.ravel(), snapshots, epochs, strict=False):
        ax.imshow(snap, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{int(epoch)}", fontsize=10)
    fig.tight_layout()
    return fig


def memorisation(samples: np.ndarray, neighbours: np.ndarray, lang: str) -> plt.Figure:
    """Each generated digit (first column) beside its three nearest training images (judge features)."""
    rows = [img for sample, near in zip(samples, neighbours, strict=True) for img in (sample, *near)]
    mosaic = tile(np.stack(rows), 4)
    fig, ax = plt.subplots(figsize=(3.6, 0.9 * len(samples)))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([14.5, 43.5, 72.5, 101.5], [words("fig_generated", lang), words("fig_nearest_train", lang), "2", "3"], fontsize=7)
    ax.set_yticks([])
    return fig
