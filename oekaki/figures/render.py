"""Every report figure drawn from its data (reports/figure_data/<stage>/<name>.npz) at report.figure_dpi, per language.

A figure with words on it (axis labels, legends, tick text) is drawn once per report language,
reports/figures/<stage>/<name>.<lang>.png, its words from that language's catalog; a figure
without words (digit grids, training strips, the GIF) is drawn once, reports/figures/<stage>/<name>.png
(or .gif), and serves every language. `KINDS` says which drawing each data file's `kind` names
and whether it carries words; tests/test_figure_words.py draws every kind in every language and
holds both claims.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oekaki.core import figure_data
from oekaki.core.figure_data import FigureData
from oekaki.figures import base, cnn, contributions, diffusion, evaluate, gan, gmm, text_painter, vae, vit, vit_sizes
from oekaki.figures.base import plt


@dataclass(frozen=True)
class Kind:
    draw: Callable[[FigureData, str], plt.Figure]  # (data, language) -> a matplotlib Figure
    has_words: bool  # drawn once per language (True) or once for all (False)


def _digit_grid(d: FigureData, lang: str) -> plt.Figure:
    return base.digit_grid(d["images"], int(d["nrow"]), [str(x) for x in d["row_labels"]])


def _training_strip(d: FigureData, lang: str) -> plt.Figure:
    return base.training_strip(d["snapshots"], d["epochs"], int(d["columns"]))


def _memorisation(d: FigureData, lang: str) -> plt.Figure:
    return base.memorisation(d["samples"], d["neighbours"], lang)


KINDS: dict[str, Kind] = {
    "digit_grid": Kind(_digit_grid, False),
    "training_strip": Kind(_training_strip, False),
    "memorisation": Kind(_memorisation, True),
    "cnn_filters": Kind(cnn.filters, False),
    "cnn_feature_maps": Kind(cnn.feature_maps, False),
    "cnn_feature_space": Kind(cnn.feature_space, True),
    "cnn_confusion": Kind(cnn.confusion, True),
    "cnn_confidently_wrong": Kind(cnn.confidently_wrong, False),
    "vit_attention": Kind(vit.attention, True),
    "vit_positions": Kind(vit.positions, True),
    "gmm_contest": Kind(gmm.contest, True),
    "gmm_density": Kind(gmm.density, True),
    "gmm_style_slice": Kind(gmm.style_slice, True),
    "gmm_pictures": Kind(gmm.pictures, False),
    "gmm_bic": Kind(gmm.bic, True),
    "vae_latent_space": Kind(vae.latent_space, True),
    "gan_curves": Kind(gan.curves, True),
    "diffusion_steps_sweep": Kind(diffusion.steps_sweep, True),
    "diffusion_guidance_sweep": Kind(diffusion.guidance_sweep, True),
    "text_walkthrough": Kind(text_painter.walkthrough, True),
    "text_held_out": Kind(text_painter.held_out, True),
    "text_guidance": Kind(text_painter.guidance, True),
    "latent_channels": Kind(text_painter.latent_channels, True),
    "judges_disagree": Kind(evaluate.judges_disagree, False),
    "contrib_per_class": Kind(contributions.per_class, True),
    "contrib_over_time": Kind(contributions.over_time, True),
    "contrib_quarantined": Kind(contributions.quarantined, False),
    "vit_sizes": Kind(vit_sizes.accuracy_vs_size, True),
}
# drawn straight to a file (not a matplotlib Figure) and without words: kind -> (extension, writer)
ANIMATIONS: dict[str, tuple[str, Callable[[FigureData, Path], Path]]] = {"training_gif": (".gif", gan.training_gif)}


def figure_path(out_dir: Path, name: str, lang: str | None, suffix: str = ".png") -> Path:
    """reports/figures/<stage>/<name>.<lang>.png for a figure with words, <name>.png (`lang` None) for one without."""
    return out_dir / f"{name}{'' if lang is None else '.' + lang}{suffix}"


def draw(kind: str, data: FigureData, lang: str) -> plt.Figure:
    """The matplotlib Figure of `kind` drawn from `data` in `lang` (not saved; the caller closes it)."""
    spec = draw_kind(kind)
    base.use_japanese_font()
    return spec.draw(data, lang)


def render_file(source: Path, out_dir: Path, languages: tuple[str, ...], dpi: int) -> list[Path]:
    """Draw one figure-data file into `out_dir`: once per language when it has words, else once; the files written."""
    try:
        kind, data = figure_data.load(source)
    except (OSError, ValueError) as e:
        raise ValueError(f"{source}: cannot read figure data ({e}); rerun the stage that wrote it") from None
    name = source.stem
    if kind in ANIMATIONS:
        suffix, write = ANIMATIONS[kind]
        return [write(data, figure_path(out_dir, name, None, suffix))]
    langs = languages if draw_kind(kind).has_words else (None,)
    return [base.save_figure(draw(kind, data, lang or languages[0]), figure_path(out_dir, name, lang), dpi) for lang in langs]


def draw_kind(kind: str) -> Kind:
    """The drawing `kind` names; an unknown kind (data from another version of the code) is refused by name."""
    if kind not in KINDS:
        raise ValueError(f"unknown figure kind {kind!r}; known: {', '.join(sorted(KINDS))} (rerun the stage that wrote it)")
    return KINDS[kind]


def render_all(data_dirs: dict[str, Path], out_root: Path, languages: tuple[str, ...], dpi: int) -> list[Path]:
    """Draw every stage's figure data (stage -> its data folder) into out_root/<stage>/; the files written.

    One after another, in this process: a pool of drawing processes would save a few seconds of a
    pipeline run and fails where the stage itself runs in a daemonic worker (the flow's Dask task
    runner). The files are drawn into a fresh folder beside `out_root` and swapped in whole: no
    drawing of an earlier run (a figure a stage no longer saves) stays behind.
    """
    staging = out_root.with_name(f".{out_root.name}.drawing")
    shutil.rmtree(staging, ignore_errors=True)
    jobs = [
        (src, staging / stage) for stage, folder in data_dirs.items() for src in (sorted(folder.glob("*.npz")) if folder.is_dir() else [])
    ]
    try:
        written = [p for src, out in jobs for p in render_file(src, out, languages, dpi)]
        old = out_root.with_name(f".{out_root.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out_root.exists():
            out_root.rename(old)
        staging.mkdir(parents=True, exist_ok=True)
        staging.rename(out_root)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(out_root / p.relative_to(staging) for p in written)
