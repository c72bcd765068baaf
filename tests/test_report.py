"""The evaluate scoreboard and the bilingual report, built from a real tiny pipeline run.

The report's tests check behaviour, not copied sentences or numbers: a number on the page is the one
in the metrics file it came from (read here from the file), both languages draw the same sections,
figures and numbers, and a sentence is named by its catalog key (oekaki/locales, tests/test_locales.py).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from oekaki.core.config import load_config
from oekaki.core.io import read_json, write_json
from oekaki.core.locales import LANGUAGES, text
from oekaki.data.dataset import TensorData
from oekaki.models import scoreboard
from oekaki.pipeline import runner
from oekaki.stages.report import stage as report
from oekaki.stages.report import vit_sizes
from oekaki.stages.report.page import SECTIONS, TEMPLATES, Lookups, md
from oekaki.stages.report.tables import GENERATOR_ROWS, SCORE_COLUMNS, SECOND_JUDGE_KEYS
from tests.conftest import copy_project

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
DECIMAL = re.compile(r"\d+\.\d+%?")  # a measured number as the page prints it (counts and years have no decimals)
FIGURE = re.compile(r'\bfig\("(\w+)", "([^"]+)", "(\w+)"')  # fig(stage, file, caption key) in the templates


def said(key: str, lang: str, **fields) -> str:
    """A catalog text as the page prints it (escaped, `code` spans as <code>)."""
    return str(md(text(key, lang, **fields)))


def section(page: str, sid: str) -> str:
    """One <section id=...> of a page, up to the next one."""
    return page.split(f'<section id="{sid}">', 1)[1].split("<section ", 1)[0]


def generator_row(page: str, name: str) -> str:
    return page.split(f'<tr data-generator="{name}">', 1)[1].split("</tr>", 1)[0]


def test_page_markup_escapes_every_value_and_builds_code_spans_from_escaped_parts():
    from oekaki.stages.report.page import ENV
    from oekaki.stages.report.tables import scoreboard_table

    assert md("a <b> & `x<y>`") == "a &lt;b&gt; &amp; <code>x&lt;y&gt;</code>"
    evaluate = {"scoreboard": {"gan": {"fid": float("nan"), "fid_std": 0.0}}, "generators": {"gan": {"device": "<script>x</script>"}}}
    html = str(ENV.get_template("macros.html.j2").module.table(scoreboard_table(evaluate, "en")))
    assert "<script>" not in html and "<td>&lt;script&gt;x&lt;/script&gt;</td>" in html
    assert '<tr data-generator="gan">' in html and f'<td class="bad">⚠ {text("cell_invalid", "en")}</td>' in html
    assert f'<td class="bad">⚠ {text("cell_missing", "en")}</td>' in html  # a generator or key absent from evaluate.json


def test_scoreboard_scores_every_generator_on_equal_footing(tiny_pipeline):
    paths, _, _ = tiny_pipeline
    e = read_json(paths.metrics("evaluate"))
    rows, facts = e["scoreboard"], read_json(paths.provenance("evaluate"))["facts"]["generators"]
    assert set(rows) == set(facts) == {"real", "untrained", "gmm", "vae", "gan", "diffusion"}
    cfg, n_test = load_config(paths.params), read_json(paths.metrics("download"))["n_test"]
    assert e["n_samples"] == min(cfg.evaluate.n_samples, n_test) and e["n_seeds"] == cfg.evaluate.n_seeds  # at most the test set
    # real training images (not the reference) beat every painter by more than the seeds' spread; noise is worst
    for name in ("gmm", "vae", "gan", "diffusion"):
        real, row = rows["real"], rows[name]
        assert real["fid"] + 2 * real["fid_std"] < row["fid"] - 2 * row["fid_std"], name
        assert row["fid"] < rows["untrained"]["fid"], name
        assert facts[name]["conditional"] and 0 <= row["conditional_accuracy"] <= 1 and row["fid_std"] > 0
    cnn = read_json(paths.metrics("cnn"))
    assert 0 < rows["real"]["fid"] == e["fid_real_floor"] == cnn["fid_real_floor"]  # the floor is the real row, same n
    assert rows["untrained"]["fid"] == e["fid_noise_ceiling"] == cnn["fid_noise_ceiling"]
    assert facts["untrained"]["conditional"] is False and rows["untrained"]["class_entropy"] < 0.5
    assert "within_class_diversity" not in rows["untrained"]  # not applicable: null in the facts, never in the metrics file
    assert rows["vae"]["train_seconds"] > 0 and facts["gan"]["mlflow_run_id"] == read_json(paths.provenance("gan"))["mlflow_run_id"]
    disagree = {f"disagree_{n}.png" for n, row in rows.items() if row.get("judges_disagree_n")}  # tests/test_two_judges.py
    assert {p.name for p in paths.figures("evaluate").iterdir()} == {f"{n}.png" for n in rows} | disagree


def test_a_painters_scoreboard_row_is_its_saved_drawings_judged_again(tiny_pipeline):
    """Drawn and judged once, by the painter's stage (models/<p>/scoreboard.npz, metrics/<p>.json); evaluate reuses the
    scores. Judged again here, from the saved drawings, with the judge and the reference: the same numbers."""
    from oekaki.models import judge as judge_mod

    paths, _, _ = tiny_pipeline
    rows = read_json(paths.metrics("evaluate"))["scoreboard"]
    data = TensorData.load(paths.prepared, torch.device("cpu"))
    judge = judge_mod.Judge.load(paths.cnn_model, torch.device("cpu"))
    proto = scoreboard.protocol_of(load_config(paths.params), data.test_y.numpy())
    reference = scoreboard.reference(judge, data.test_x.numpy(), data.test_y.numpy(), proto)
    for name in ("vae", "gan", "diffusion"):
        own = read_json(paths.metrics(name))
        keys = [k for k in rows[name] if k != "train_seconds" and k not in SECOND_JUDGE_KEYS]  # the ViT's: test_two_judges.py
        assert set(keys) == {k for key, _, _ in SCORE_COLUMNS for k in (key, f"{key}_std")}, name  # every score, mean and spread
        assert {k: own[k] for k in keys} == {k: rows[name][k] for k in keys}, name
        again = scoreboard.score_board(judge, scoreboard.load_board(paths.scoreboard_samples(name), proto, name), *reference)
        assert again == pytest.approx({k: rows[name][k] for k in keys}, rel=1e-9, abs=1e-12), name
        with np.load(paths.scoreboard_samples(name)) as npz:
            assert npz["images"].shape == (len(proto.seeds), proto.n, 28, 28) and npz["images"].dtype == np.uint8
            assert npz["requested"].shape == (len(proto.seeds), proto.n) and npz["seeds"].tolist() == list(proto.seeds)


def test_declared_metrics_files_hold_only_numbers(tiny_pipeline):
    from oekaki.core.contract import flat_metrics, is_number
    from oekaki.pipeline import fingerprint

    paths, _, _ = tiny_pipeline
    for stage in runner.stage_names(paths):
        for entry in fingerprint.dvc_stage(paths, stage).get("metrics", []):
            rel = next(iter(entry)) if isinstance(entry, dict) else entry
            if rel == "metrics/promote.json":  # the promotion gate's decision, written as the stage returns it
                continue
            values = flat_metrics(read_json(paths.root / rel))
            assert values and all(is_number(v) for v in values.values()), (rel, {k: v for k, v in values.items() if not is_number(v)})


def test_report_pages_are_complete_self_contained_and_bilingual(tiny_pipeline):
    paths, _, _ = tiny_pipeline
    pages = {lang: paths.report_page(lang).read_text() for lang in LANGUAGES}
    for lang, page in pages.items():
        assert f'<html lang="{lang}">' in page
        assert re.findall(r'<section id="([^"]+)">', page) == [s.id for s in SECTIONS], lang  # every section, in order
        assert re.findall(r'<tr data-generator="(\w+)">', page) == list(GENERATOR_ROWS), lang
        assert not re.search(r'(src|href)="(https?:)?//(?!127\.0\.0\.1)', page)  # nothing loaded from elsewhere
        assert re.search(r"<link|<script", page) is None
        assert ">nan<" not in page.lower() and 'class="missing"' not in page and "⚠" not in page
        assert len(page.encode()) < 15 * 2**20
        assert said("bundled_banner", lang, **read_json(paths.metrics("download"))) in page  # the offline sample, stated
        assert 'href="http://127.0.0.1:5000/#/experiments/' in section(page, "scoreboard")  # rows link their MLflow runs
    for heading in re.findall(r"<h[123][^>]*>(.*?)</h[123]>", pages["ja"]):
        assert JAPANESE.search(heading), heading


def test_every_figure_a_stage_drew_is_on_both_pages_with_its_caption(tiny_pipeline):
    paths, _, _ = tiny_pipeline
    named = {m for t in TEMPLATES.rglob("*.j2") for m in FIGURE.findall(t.read_text()) if m[0] != "contributions"}  # drawn only
    # where people contributed digits (the tiny pipeline's snapshot is empty): tests/test_report_contributions.py checks them
    named |= {("evaluate", f"{name}.png", "cap_grids") for name in GENERATOR_ROWS}  # scoreboard.html.j2: one per row
    if vit_sizes.newest_results(paths.bench_results) is None:  # bench/vit.py's figure: only from a committed results file
        named = {m for m in named if m[0] != vit_sizes.NAME}
    rows = read_json(paths.metrics("evaluate"))["scoreboard"]  # and the samples the two judges read differently, where any
    named |= {("evaluate", f"disagree_{n}.png", "cap_judges_disagree") for n, row in rows.items() if row.get("judges_disagree_n")}
    for lang in LANGUAGES:
        page = paths.report_page(lang).read_text()
        drawn = [(key, f) for stage, name, key in named if (f := Lookups(lang, paths).fig(stage, name, key))]
        assert len(drawn) == len(named), f"{lang}: figures the stages did not draw: {len(named) - len(drawn)}"
        for key, f in drawn:
            assert f'<img src="{f.src}"' in page, (lang, key)
        assert page.count('<img src="data:image/') == len(drawn) and 'src="data:image/gif;base64' in page


def test_both_languages_print_the_numbers_of_the_metrics_files(tiny_pipeline):
    """The scoreboard's cells are metrics/evaluate.json's numbers; each section prints the same measured numbers
    in English and Japanese; a few captions' numbers, read from their stage's file."""
    paths, _, _ = tiny_pipeline
    pages = {lang: paths.report_page(lang).read_text() for lang in LANGUAGES}
    e = read_json(paths.metrics("evaluate"))
    for name in GENERATOR_ROWS:
        row = e["scoreboard"][name]
        for lang, page in pages.items():
            cells = generator_row(page, name)
            assert f"<td>{text(f'row_{name}', lang)}</td>" in cells, (lang, name)
            assert f"<td>{row['fid']:.2f} ± {row['fid_std']:.2f}</td>" in cells, (lang, name)
            assert f"<td>{row['inception_score']:.2f} ± {row['inception_score_std']:.2f}</td>" in cells, (lang, name)
    measured = set()
    for s in SECTIONS:
        if s.id != "provenance":  # the build time is the page's own
            numbers = {lang: set(DECIMAL.findall(section(page, s.id))) for lang, page in pages.items()}
            assert numbers["ja"] == numbers["en"], (s.id, numbers["ja"] ^ numbers["en"])
            measured |= numbers["en"]
    assert len(measured) > len(GENERATOR_ROWS)
    cnn, gmm, dm = (read_json(paths.metrics(stage)) for stage in ("cnn", "gmm", "diffusion"))
    for page in pages.values():
        assert f"{cnn['test_accuracy']:.2%}" in section(page, "classification")
        assert f"K = {gmm['chosen_k']}" in section(page, "painting-contest")
        assert f"{gmm['loglik_gap']:.3f}" in section(page, "painting-contest")
        assert f"{dm['fid']:.1f}" in section(page, "generation")
    summary = paths.report_summary.read_text()
    for name in GENERATOR_ROWS:
        row = e["scoreboard"][name]
        assert f"| {text(f'row_{name}', 'en')} | {row['fid']:.2f} ± {row['fid_std']:.2f} |" in summary, name


def _fresh_copy(tiny_pipeline, dest):
    """A copy of the tiny pipeline's outputs to break without touching the shared one."""
    import shutil

    paths, _, _ = tiny_pipeline
    copy = copy_project(dest)
    for rel in ("metrics", "reports", "data/prepared.npz"):
        src = paths.root / rel
        if src.is_dir():
            shutil.copytree(src, copy.root / rel, dirs_exist_ok=True)
        else:
            shutil.copy2(src, copy.root / rel)
    return copy


def test_missing_stage_fails_or_is_marked_with_allow_partial(tiny_pipeline, tmp_path):
    paths = _fresh_copy(tiny_pipeline, tmp_path / "p")
    paths.metrics("gan").unlink()
    before = paths.report_html.read_bytes()
    cfg = load_config(paths.params)
    with pytest.raises(report.ReportError, match=r"stage 'gan' has no output.*run `dvc repro gan`.*allow_partial"):
        report.run(cfg, paths)
    assert paths.report_html.read_bytes() == before  # nothing half-written
    result = report.run(load_config(paths.params, ["report.allow_partial=true"]), paths)
    page = paths.report_html.read_text()
    assert result.metrics["missing_stages"] == 1 and 'class="missing"' in page
    for lang in LANGUAGES:
        assert said("missing_section", lang, stage="gan") in paths.report_page(lang).read_text(), lang


def test_nan_or_missing_metric_is_named_and_never_printed_as_nan(tiny_pipeline, tmp_path):
    paths = _fresh_copy(tiny_pipeline, tmp_path / "p")
    e = read_json(paths.metrics("evaluate"))
    e["scoreboard"]["vae"]["fid"] = float("nan")
    del e["scoreboard"]["gan"]["inception_score"]
    write_json(paths.metrics("evaluate"), e)
    with pytest.raises(report.ReportError, match=r"scoreboard.vae.fid is nan \(and 1 more\)"):
        report.run(load_config(paths.params), paths)
    report.run(load_config(paths.params, ["report.allow_partial=true"]), paths)
    for lang in LANGUAGES:
        page = paths.report_page(lang).read_text()
        assert f'<td class="bad">⚠ {text("cell_invalid", lang)}</td>' in generator_row(page, "vae"), lang
        assert f'<td class="bad">⚠ {text("cell_missing", lang)}</td>' in generator_row(page, "gan"), lang
        assert ">nan<" not in page.lower()
    assert text("cell_invalid", "en") in paths.report_summary.read_text()
    assert json.loads(paths.metrics("evaluate").read_text(), parse_constant=lambda c: c)  # input left as it was


def test_nan_in_a_stage_metric_never_reaches_the_text(tiny_pipeline, tmp_path):
    paths = _fresh_copy(tiny_pipeline, tmp_path / "p")
    v = read_json(paths.metrics("vae"))
    v["test_loss_nats"] = float("nan")
    write_json(paths.metrics("vae"), v)
    with pytest.raises(report.ReportError, match=r"metrics/vae.json: test_loss_nats is nan"):
        report.run(load_config(paths.params), paths)
    report.run(load_config(paths.params, ["report.allow_partial=true"]), paths)
    page = paths.report_html.read_text()
    assert "nan nats" not in page and ">nan<" not in page.lower()
    assert said("missing_section", "en", stage="vae") in page and "⚠ metrics/vae.json: test_loss_nats is nan" in page


def test_the_generation_goals_are_said_met_or_missed_in_words(tiny_pipeline, tmp_path):
    """Issue 14's goals in the text: the VAE's FID (a tenth of the noise) and style transfer (90 %); on Fashion-MNIST
    the VAE's 5-point goal (3 on the digits) and the GAN's on-label variety (0.8), which the digits do not have."""
    paths = _fresh_copy(tiny_pipeline, tmp_path / "p")
    v = read_json(paths.metrics("vae"))
    v["fid"], v["style_transfer_accuracy"] = v["fid_noise_ceiling"] / 10 + 1, 0.5  # both goals missed
    write_json(paths.metrics("vae"), v)
    a = read_json(paths.metrics("gan"))
    a["within_class_diversity"] = 0.61
    write_json(paths.metrics("gan"), a)
    report.run(load_config(paths.params), paths)
    for lang in LANGUAGES:
        page = section(paths.report_page(lang).read_text(), "generation")
        assert said("goal_fid_missed", lang) in page and said("goal_fid_met", lang) not in page, lang
        assert said("goal_style_missed", lang) in page and said("goal_style_met", lang) not in page, lang
        assert any(said(f"goal_within_{end}", lang, points=3) in page for end in ("met", "missed")), lang
        assert not any(said(f"goal_gan_div_{end}", lang) in page for end in ("met", "missed")), lang  # no goal on the digits
    record = read_json(paths.provenance("download"))
    record["facts"]["dataset"] = "fashion-mnist"
    write_json(paths.provenance("download"), record)
    report.run(load_config(paths.params), paths)
    for lang in LANGUAGES:
        page = section(paths.report_page(lang).read_text(), "generation")
        assert any(said(f"goal_within_{end}", lang, points=5) in page for end in ("met", "missed")), lang
        assert said("goal_gan_div_missed", lang) in page and said("goal_gan_div_met", lang) not in page, lang
