"""Figure data of the `gmm` stage: the contest, the learned density, style-fixed sampling, pictures, BIC, digits.

Computed here (densities on a grid, the conditional curves), saved as reports/figure_data/gmm/<name>.npz
(oekaki/core/figure_data.py), drawn by the report stage (oekaki/figures/gmm.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oekaki.core import figure_data
from oekaki.core.config import GmmConfig
from oekaki.models.gmm import Mixture

PIXEL_RANGE = (-20, 275)  # the plotted square, a little beyond 0-255 so the tails show


def density(fitted: Mixture, truth: Mixture, generated: np.ndarray, path: Path) -> Path:
    """The learned and the true mixture's density on a 160 x 160 grid, and the sampled paintings."""
    grid = np.linspace(*PIXEL_RANGE, 160)
    xx, yy = np.meshgrid(grid, grid)
    pts = np.column_stack([xx.ravel(), yy.ravel()])
    return figure_data.save(
        path,
        "gmm_density",
        grid=grid,
        fitted=np.exp(fitted.logpdf(pts)).reshape(xx.shape),
        truth=np.exp(truth.logpdf(pts)).reshape(xx.shape),
        generated=generated,
    )


def style_slice(fitted: Mixture, truth: Mixture, x1: float, styled: np.ndarray, path: Path) -> Path:
    """p(pixel 2 | pixel 1 = x1), learned and true, beside the sampled pixel-2 values."""
    x2 = np.linspace(*PIXEL_RANGE, 400)
    return figure_data.save(
        path, "gmm_style_slice", x2=x2, learned=fitted.conditional_pdf(x1, x2), true=truth.conditional_pdf(x1, x2), styled=styled
    )


def save_all(
    g: GmmConfig, out: Path, *, truth, fitted, contest, generated, styled, uniform, bics, digit_images, digit_labels
) -> list[Path]:
    """Every figure's data; the picture strips are (a) contest entries, (b) new paintings, (c) same style, (d) uniform noise."""
    styled_pairs = np.column_stack([np.full(len(styled), g.style_pixel1), styled])
    per_class = np.concatenate([np.flatnonzero(digit_labels == d)[:10] for d in range(10)])
    painters = (contest, generated, styled_pairs, uniform)
    strips = np.stack([p[: min(12, *map(len, painters))] for p in painters])  # (4, n, 2)
    return [
        figure_data.save(out / "contest.npz", "gmm_contest", points=contest),
        density(fitted, truth, generated, out / "density.npz"),
        style_slice(fitted, truth, g.style_pixel1, styled, out / "style_slice.npz"),
        figure_data.save(out / "pictures.npz", "gmm_pictures", strips=strips),
        figure_data.save(out / "bic.npz", "gmm_bic", bics=np.asarray(bics), chosen=len(fitted.weights)),
        figure_data.digit_grid(out / "digits.npz", digit_images[per_class], 10, [str(d) for d in range(10)]),
    ]
