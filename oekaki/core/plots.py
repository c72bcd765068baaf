"""Small matplotlib helpers shared by the stages (headless backend, atomic PNG writes)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from oekaki.core.io import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: Path, dpi: int) -> Path:
    """Write `fig` as PNG atomically, close it, and return the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def tile(images: np.ndarray, nrow: int, pad: int = 1, fill: float | None = None) -> np.ndarray:
    """(N, H, W) images -> one (rows*H, nrow*W) mosaic with `pad` pixels of gap (`fill`, default the max)."""
    n, h, w = images.shape
    rows = -(-n // nrow)
    fill = (images.max() if n else 0) if fill is None else fill
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad), fill, dtype=np.result_type(images.dtype, np.asarray(fill).dtype))
    for i, img in enumerate(images):
        r, c = divmod(i, nrow)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return out


def digit_grid(images: np.ndarray, nrow: int, path: Path, dpi: int, row_labels: list[str] | None = None) -> Path:
    """Save a grid of 28x28 uint8 digits (white ink on black, as MNIST stores them).

    No title, like every report figure: the report's caption, in the page's language, says what
    it shows (one PNG serves the English and the Japanese page); row labels are digits.
    """
    mosaic = tile(images, nrow)
    fig, ax = plt.subplots(figsize=(nrow * 0.45 + 0.6, mosaic.shape[0] / mosaic.shape[1] * nrow * 0.45 + 0.5))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        h = images.shape[1] + 1
        ax.set_yticks([1 + h * i + h / 2 for i in range(len(row_labels))], row_labels)
    else:
        ax.set_yticks([])
    return save_figure(fig, path, dpi)


def training_strip(snapshots: list[np.ndarray], path: Path, dpi: int, panels: int, panel_size: tuple[float, float]) -> Path:
    """A training run's fixed-noise grids at `panels` epochs spread from first to last: how the drawings sharpen."""
    picks = sorted(set(np.linspace(0, len(snapshots) - 1, min(panels, len(snapshots))).round().astype(int)))
    fig, axes = plt.subplots(1, len(picks), figsize=(panel_size[0] * len(picks), panel_size[1]))
    for ax, i in zip(np.atleast_1d(axes), picks, strict=True):
        ax.imshow(snapshots[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{i + 1}", fontsize=9)  # the epoch (the caption says so, in the page's language)
        ax.set_axis_off()
    return save_figure(fig, path, dpi)
