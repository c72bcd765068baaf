"""Image mosaics shared by the stages and flows: numpy only, so a training stage imports no plotting library.

Figures are drawn by oekaki/figures (the report stage) from the data the stages save (oekaki/core/figure_data.py).
"""

from __future__ import annotations

import numpy as np


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
