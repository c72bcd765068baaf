"""Figures: training stages save what a figure shows, the report stage draws it (issue 35).

A figure's resolution (`report.figure_dpi`) and its words are the report's business, so changing them
retrains nothing; each language gets its own drawing of a figure with words; a stale drawing never
survives a new run; the diffusion training strip is readable in its half-width card.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from oekaki.core import figure_data
from oekaki.core.config import load_config
from oekaki.core.paths import Paths, project_paths
from oekaki.figures import base, render
from oekaki.pipeline import fingerprint, runner

PROJECT = project_paths()


def test_only_the_report_stage_takes_figure_parameters():
    """Training stages depend only on what changes their weights: no `report` key (figure_dpi was in seven stages)."""
    for stage in runner.stage_names(PROJECT):
        params = fingerprint.dvc_stage(PROJECT, stage).get("params", [])
        report_keys = [p for p in params if p == "report" or str(p).startswith("report.")]
        assert (stage == "report") == bool(report_keys), f"dvc.yaml stage {stage!r} params: {params}"
        deps = fingerprint.dvc_stage(PROJECT, stage).get("deps", [])
        assert stage == "report" or not [d for d in deps if str(d).startswith("oekaki/figures/")], f"{stage} depends on drawing code"


def stage_data(folder):
    """One figure with words (a BIC curve), one without (a digit grid), and the GAN's animation."""
    figure_data.save(folder / "bic.npz", "gmm_bic", bics=np.asarray([3.0, 2.0, 2.5]), chosen=2)
    figure_data.digit_grid(folder / "digits.npz", np.zeros((4, 28, 28), np.uint8), 2, ["0", "1"])
    figure_data.save(folder / "training.npz", "training_gif", snapshots=np.zeros((3, 30, 30), np.uint8))


def test_render_all_draws_each_language_once_and_leaves_nothing_stale(tmp_path):
    stage_data(tmp_path / "data" / "gmm")
    out = tmp_path / "figures"
    (out / "gmm").mkdir(parents=True)
    (out / "gmm" / "old.png").write_bytes(b"a figure a stage no longer saves")
    written = render.render_all({"gmm": tmp_path / "data" / "gmm", "cnn": tmp_path / "data" / "cnn"}, out, ("en", "ja"), 40)
    names = {p.name for p in (out / "gmm").iterdir()}
    assert names == {"bic.en.png", "bic.ja.png", "digits.png", "training.gif"} == {p.name for p in written}
    assert all(p.is_file() for p in written) and not (out / "cnn").exists()
    assert (out / "gmm" / "bic.en.png").read_bytes() != (out / "gmm" / "bic.ja.png").read_bytes()
    assert not list(tmp_path.glob(".figures*")), "the staging folders are gone"


def test_drawing_twice_draws_the_same_files(tmp_path):
    stage_data(tmp_path / "data")
    one = render.render_all({"gmm": tmp_path / "data"}, tmp_path / "one", ("en", "ja"), 40)
    two = render.render_all({"gmm": tmp_path / "data"}, tmp_path / "two", ("en", "ja"), 40)
    assert [p.name for p in one] == [p.name for p in two] and [p.read_bytes() for p in one] == [p.read_bytes() for p in two]


def test_figures_are_drawn_inside_a_daemonic_worker(tmp_path):
    """The flow's Dask task runner runs the report stage in a daemonic process, which may not start children."""
    import multiprocessing

    stage_data(tmp_path / "data")
    worker = multiprocessing.get_context("fork").Process(
        target=render.render_all, args=({"gmm": tmp_path / "data"}, tmp_path / "out", ("en", "ja"), 40), daemon=True
    )
    worker.start()
    worker.join(120)
    assert worker.exitcode == 0 and (tmp_path / "out" / "gmm").is_dir()


def test_the_figure_dpi_is_the_drawing_resolution(tmp_path):
    stage_data(tmp_path / "data")
    sizes = {}
    for dpi in (40, 80):
        (png,) = render.render_file(tmp_path / "data" / "digits.npz", tmp_path / str(dpi), ("en", "ja"), dpi)
        with Image.open(png) as im:
            sizes[dpi] = im.size
    assert sizes[80][0] == pytest.approx(2 * sizes[40][0], rel=0.05)


def test_figure_data_of_an_unknown_kind_is_refused_by_name(tmp_path):
    figure_data.save(tmp_path / "x.npz", "no_such_kind", a=np.zeros(2))
    with pytest.raises(ValueError, match=r"unknown figure kind 'no_such_kind'.*rerun the stage"):
        render.render_file(tmp_path / "x.npz", tmp_path / "out", ("en",), 40)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bad\.npz: cannot read figure data.*rerun the stage"):
        render.render_file(tmp_path / "bad.npz", tmp_path / "out", ("en",), 40)
    with pytest.raises(ValueError, match="hold Python objects"):
        figure_data.save(tmp_path / "y.npz", "digit_grid", images=np.asarray([{"a": 1}]))


def test_each_page_embeds_its_own_languages_drawing(tmp_path):
    from oekaki.stages.report.page import Lookups

    paths = Paths(tmp_path)
    stage_data(paths.figure_data("gmm"))
    render.render_all({"gmm": paths.figure_data("gmm")}, paths.figures_dir, ("en", "ja"), 40)
    for lang in ("en", "ja"):
        look = Lookups(lang, paths)
        bic = look.fig("gmm", "bic.png", "cap_bic")
        assert bic.src.endswith(__import__("base64").b64encode((paths.figures("gmm") / f"bic.{lang}.png").read_bytes()).decode())
        assert look.fig("gmm", "digits.png", "cap_gmm_digits") is not None  # drawn once, for every language
        assert look.fig("gmm", "training.gif", "cap_gan_gif").src.startswith("data:image/gif;base64,")
        assert look.fig("gmm", "absent.png", "cap_bic") is None


def test_the_diffusion_training_strip_is_readable_in_its_card():
    """The strip sits in a half-width card (style.css: a 62rem page in two columns, about 460 px) beside the memorisation
    check; each drawn digit must show at least at MNIST's own 28 px there (five panels in a row showed them at about 9 px)."""
    from oekaki.stages.diffusion import figures as diffusion_figures
    from oekaki.stages.diffusion.stage import SNAPSHOT_ROWS

    card_px, digits_across = 460, 10  # the diffusion stage's snapshot: SNAPSHOT_ROWS drawings of each digit, one column a digit
    snapshot = np.zeros((SNAPSHOT_ROWS * 29 + 1, digits_across * 29 + 1), np.uint8)
    d = {"snapshots": np.stack([snapshot] * diffusion_figures.STRIP_PANELS), "epochs": np.arange(1, 6)}
    fig = base.training_strip(d["snapshots"], d["epochs"], diffusion_figures.STRIP_COLUMNS)
    dpi = load_config(PROJECT.params).report.figure_dpi
    fig.set_dpi(dpi)
    fig.canvas.draw()
    shown_px = min(card_px, fig.get_tightbbox().width * dpi)  # an <img> shrinks to its card, never grows past its own size
    panel_share = fig.axes[0].get_window_extent().width / (fig.get_tightbbox().width * dpi)
    base.plt.close(fig)
    assert shown_px * panel_share / digits_across >= 28
