"""Figures of the `gmm` stage: the contest, the learned density, style-fixed sampling, pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oekaki.core.config import Config
from oekaki.core.plots import digit_grid, plt, save_figure
from oekaki.models.gmm import Mixture


def contest_scatter(contest: np.ndarray, path: Path, dpi: int) -> Path:
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.scatter(contest[:, 0], contest[:, 1], s=8, alpha=0.7)
    _pixel_axes(ax)
    return save_figure(fig, path, dpi)


def density_contours(fitted: Mixture, truth: Mixture, generated: np.ndarray, path: Path, dpi: int) -> Path:
    grid = np.linspace(-20, 275, 160)
    xx, yy = np.meshgrid(grid, grid)
    pts = np.column_stack([xx.ravel(), yy.ravel()])
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.contourf(xx, yy, np.exp(fitted.logpdf(pts)).reshape(xx.shape), levels=12, cmap="Blues")
    ax.contour(xx, yy, np.exp(truth.logpdf(pts)).reshape(xx.shape), levels=6, colors="k", linewidths=0.5, linestyles="dotted")
    ax.scatter(generated[:, 0], generated[:, 1], s=6, c="tab:orange", label="new paintings (sampled)")
    ax.legend(loc="lower left", fontsize=7)
    _pixel_axes(ax)
    return save_figure(fig, path, dpi)


def conditional_slice(fitted: Mixture, truth: Mixture, x1: float, styled: np.ndarray, path: Path, dpi: int) -> Path:
    x2 = np.linspace(-20, 275, 400)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(styled, bins=40, density=True, alpha=0.4, label="sampled landscapes")
    ax.plot(x2, fitted.conditional_pdf(x1, x2), label="learned p(pixel 2 | pixel 1)")
    ax.plot(x2, truth.conditional_pdf(x1, x2), "k:", label="true p(pixel 2 | pixel 1)")
    ax.set_xlabel("pixel 2 (landscape)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi)


def picture_strips(rows: dict[str, np.ndarray], path: Path, dpi: int, n: int = 12) -> Path:
    """Each 2-pixel painting drawn as two grey squares; one strip per painter."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(n * 0.6, len(rows) * 0.9))
    for k, (ax, values) in enumerate(zip(axes, rows.values(), strict=True)):
        pics = np.clip(values[:n], 0, 255)  # clipped for display only
        strip = np.full((1, n * 3 - 1), np.nan)
        for i, (p1, p2) in enumerate(pics):
            strip[0, 3 * i : 3 * i + 2] = (p1, p2)
        ax.imshow(np.ma.masked_invalid(strip), cmap="gray", vmin=0, vmax=255, aspect="equal")
        ax.set_axis_off()
        ax.set_title(f"({chr(ord('a') + k)})", fontsize=8, loc="left")  # the caption names the strips (a), (b), ... in its language
    return save_figure(fig, path, dpi)


def bic_curve(bics: list[float], chosen: int, path: Path, dpi: int) -> Path:
    fig, ax = plt.subplots(figsize=(4, 2.8))
    ks = range(1, len(bics) + 1)
    ax.plot(ks, bics, "o-")
    ax.axvline(chosen, color="tab:orange", ls="--", label=f"chosen K = {chosen}")
    ax.set_xlabel("number of components K")
    ax.set_ylabel("BIC (lower is better)")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi)


def _pixel_axes(ax) -> None:
    ax.set_xlim(-20, 275)
    ax.set_ylim(-20, 275)
    ax.set_xlabel("pixel 1 (style)")
    ax.set_ylabel("pixel 2 (landscape)")
    ax.set_aspect("equal")


def draw_all(cfg: Config, out: Path, *, truth, fitted, contest, generated, styled, uniform, bics, digit_images, digit_labels) -> list[Path]:
    dpi, g = cfg.report.figure_dpi, cfg.gmm
    styled_pairs = np.column_stack([np.full(len(styled), g.style_pixel1), styled])
    per_class = np.concatenate([np.flatnonzero(digit_labels == d)[:10] for d in range(10)])
    return [
        contest_scatter(contest, out / "contest.png", dpi),
        density_contours(fitted, truth, generated, out / "density.png", dpi),
        conditional_slice(fitted, truth, g.style_pixel1, styled, out / "style_slice.png", dpi),
        picture_strips(
            {
                "contest entries": contest,
                "new paintings from the model": generated,
                f"same style (pixel 1 = {g.style_pixel1:g}), new landscapes": styled_pairs,
                "untrained painter (uniform random pixels)": uniform,
            },
            out / "pictures.png",
            dpi,
        ),
        bic_curve(bics, len(fitted.weights), out / "bic.png", dpi),
        digit_grid(
            digit_images[per_class],
            10,
            out / "digits.png",
            dpi,
            row_labels=[str(d) for d in range(10)],
        ),
    ]
