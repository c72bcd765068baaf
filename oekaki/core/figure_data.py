"""What a report figure shows, as numbers: written by the stage that computes it, drawn by the report.

A training stage saves each figure's arrays (images, curves, points) as one small `.npz` file,
reports/figure_data/<stage>/<name>.npz, with a `kind` that names its drawing
(oekaki/figures/render.py). It imports no matplotlib and knows no dpi or language: a figure's look
(`report.figure_dpi`, the words on it in each report language) belongs to the report stage, so
changing it redraws the figures and retrains nothing. Files hold plain arrays only (no pickles),
strings as unicode arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oekaki.core.io import atomic_path

FigureData = dict[str, np.ndarray]


def save(path: Path, kind: str, **arrays: np.ndarray | list | float | int | str) -> Path:
    """Write one figure's data, drawn later as `kind`; returns the path."""
    if "kind" in arrays:
        raise ValueError(f"{path}: 'kind' is the drawing's name, not an array")
    packed = {name: np.asarray(value) for name, value in arrays.items()}
    if bad := [name for name, a in packed.items() if a.dtype == object]:
        raise ValueError(f"{path}: arrays {bad} hold Python objects; save numbers or strings only")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, kind=np.asarray(kind), **packed)
    return Path(path)


def load(path: Path) -> tuple[str, FigureData]:
    """(kind, arrays) of a figure-data file, read without pickles."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {name: f[name] for name in f.files}
    if "kind" not in arrays:
        raise ValueError(f"{path}: not a figure-data file (no 'kind'); rerun the stage that wrote it")
    return str(arrays.pop("kind")), arrays


def digit_grid(path: Path, images: np.ndarray, nrow: int, row_labels: list[str] | None = None) -> Path:
    """A grid of 28x28 uint8 digits, `nrow` a row; `row_labels` (digits, arrows) beside the rows."""
    labels = np.asarray(row_labels or [], dtype=str)
    return save(path, "digit_grid", images=np.asarray(images, dtype=np.uint8), nrow=nrow, row_labels=labels)


def training_strip(path: Path, snapshots: list[np.ndarray], panels: int, columns: int) -> Path:
    """A run's fixed-noise grids at `panels` epochs spread from first to last, `columns` panels a row: how drawings sharpen."""
    picks = sorted(set(np.linspace(0, len(snapshots) - 1, min(panels, len(snapshots))).round().astype(int)))
    return save(path, "training_strip", snapshots=np.stack([snapshots[i] for i in picks]), epochs=np.asarray(picks) + 1, columns=columns)
