"""The evaluate scoreboard and the bilingual report, built from a real tiny pipeline run."""

from __future__ import annotations

import json
import re
import string

import numpy as np
import pytest
import torch

from oekaki.core.config import load_config
from oekaki.core.io import read_json, write_json
from oekaki.data.dataset import TensorData
from oekaki.pipeline import runner
from oekaki.stages.report import stage as report
from oekaki.stages.report.text import LANGUAGES, T
from tests.conftest import copy_project

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_every_text_exists_in_both_languages_with_the_same_fields():
    for key, langs in T.items():
        assert set(langs) == set(LANGUAGES), key
        fields = {lang: {f for _, f, _, _ in string.Formatter().parse(v) if f} for lang, v in langs.items()}
        assert fields["en"] == fields["ja"], key
        if key not in {"col_fid", "col_is", "row_vae", "row_gan", "other_language"}:  # names kept as they are
            assert JAPANESE.search(langs["ja"]), key


def test_page_markup_escapes_every_value_and_builds_code_spans_from_escaped_parts():
    from oekaki.stages.report.page import ENV, md
    from oekaki.stages.report.tables import scoreboard_table

    assert md("a <b> & `x<y>`") == "a &lt;b&gt; &amp; <code>x&lt;y&gt;</code>"
    evaluate = {"scoreboard": {"gan": {"fid": float("nan"), "fid_std": 0.0}}, "generators": {"gan": {"device": "<script>x</script>"}}}
    html = str(ENV.get_template("macros.html.j2").module.table(scoreboard_table(evaluate, "en")))
    assert "<script>" not in html and "<td>&lt;script&gt;x&lt;/script&gt;</td>" in html
    assert '<tr data-generator="gan">' in html and '<td class="bad">⚠ invalid (NaN)</td>' in html
    assert '<td class="bad">⚠ missing</td>' in html  # a generator or key absent from evaluate.json


def test_scoreboard_scores_every_generator_on_equal_footing(tiny_pipeline):
    paths, _, _ = tiny_pipeline
    e = read_json(paths.metrics("evaluate"))
    rows, facts = e["scoreboard"], read_json(paths.provenance("evaluate"))["facts"]["generators"]
    assert set(rows) == set(facts) == {"real", "untrained", "gmm", "vae", "gan", "diffusion"}
    assert e["n_samples"] == 1000 and e["n_seeds"] == 3
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
    assert {p.name for p in paths.figures("evaluate").iterdir()} == {f"{n}.png" for n in rows}


def test_a_painters_scoreboard_row_is_its_saved_drawings_judged_again(tiny_pipeline):
    """Drawn and judged once, by the painter's stage (models/<p>/scoreboard.npz, metrics/<p>.json); evaluate reuses the
    scores. Judged again here, from the saved drawings, with the judge and the reference: the same numbers."""
    from oekaki.models import judge as judge_mod
    from oekaki.models import scoreboard

    paths, _, _ = tiny_pipeline
    rows = read_json(paths.metrics("evaluate"))["scoreboard"]
    data = TensorData.load(paths.prepared, torch.device("cpu"))
    judge = judge_mod.Judge.load(paths.cnn_model, torch.device("cpu"))
    proto = scoreboard.protocol(data.test_y.numpy(), 1000, 42, 3)
    reference = scoreboard.reference(judge, data.test_x.numpy(), data.test_y.numpy(), proto)
    for name in ("vae", "gan", "diffusion"):
        own = read_json(paths.metrics(name))
        keys = [k for k in rows[name] if k != "train_seconds"]
        assert len(keys) == 10 and {k: own[k] for k in keys} == {k: rows[name][k] for k in keys}, name
        again = scoreboard.score_board(judge, scoreboard.load_board(paths.scoreboard_samples(name), proto, name), *reference)
        assert again == pytest.approx({k: rows[name][k] for k in keys}, rel=1e-9, abs=1e-12), name
        with np.load(paths.scoreboard_samples(name)) as npz:
            assert npz["images"].shape == (3, 1000, 28, 28) and npz["images"].dtype == np.uint8
            assert npz["requested"].shape == (3, 1000) and npz["seeds"].tolist() == [42, 43, 44]


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
    en, ja = paths.report_page("en").read_text(), paths.report_page("ja").read_text()
    for page, lang in ((en, "en"), (ja, "ja")):
        assert f'<html lang="{lang}">' in page
        for sid in ("images-are-numbers", "painting-contest", "classification", "generation", "scoreboard", "provenance"):
            assert f'<section id="{sid}">' in page, (lang, sid)
        for name in ("real", "untrained", "gmm", "vae", "gan", "diffusion"):
            assert f'<tr data-generator="{name}">' in page
        assert not re.search(r'(src|href)="(https?:)?//(?!127\.0\.0\.1)', page)  # nothing loaded from elsewhere
        assert re.search(r"<link|<script", page) is None
        assert ">nan<" not in page.lower() and 'class="missing"' not in page and "⚠" not in page
        assert len(page.encode()) < 15 * 2**20
        assert 'class="banner"' in page  # the bundled sample is stated prominently
    for heading in re.findall(r"<h[123][^>]*>(.*?)</h[123]>", ja):
        assert JAPANESE.search(heading), heading
    assert "data:image/gif;base64" in en and en.count("data:image/png;base64") >= 25
    assert "http://127.0.0.1:5000/#/experiments/" in en  # scoreboard rows link their MLflow runs
    summary = paths.report_summary.read_text()
    assert "| generator |" in summary and summary.count("\n| ") >= 6


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
    assert result.metrics["missing_stages"] == 1 and "dvc repro gan" in page and 'class="missing"' in page
    assert "dvc repro gan" in paths.report_page("ja").read_text()


def test_nan_or_missing_metric_is_named_and_never_printed_as_nan(tiny_pipeline, tmp_path):
    paths = _fresh_copy(tiny_pipeline, tmp_path / "p")
    e = read_json(paths.metrics("evaluate"))
    e["scoreboard"]["vae"]["fid"] = float("nan")
    del e["scoreboard"]["gan"]["inception_score"]
    write_json(paths.metrics("evaluate"), e)
    with pytest.raises(report.ReportError, match=r"scoreboard.vae.fid is nan \(and 1 more\)"):
        report.run(load_config(paths.params), paths)
    report.run(load_config(paths.params, ["report.allow_partial=true"]), paths)
    for lang, marks in (("en", ("invalid (NaN)", "missing")), ("ja", ("無効（NaN）", "欠損"))):
        page = paths.report_page(lang).read_text()
        for mark in marks:
            assert f'<td class="bad">⚠ {mark}</td>' in page, (lang, mark)
        assert ">nan<" not in page.lower()
    assert "invalid (NaN)" in paths.report_summary.read_text()
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
    assert "dvc repro vae" in page and "⚠ metrics/vae.json: test_loss_nats is nan" in page


def test_the_generation_goals_are_said_met_or_missed_in_words(tiny_pipeline, tmp_path):
    """Issue 14's goals in the text: the VAE's FID (a tenth of the noise) and style transfer (90 %); on Fashion-MNIST
    the VAE's 5-point goal and the GAN's on-label variety (0.8), which the digits do not have."""
    paths = _fresh_copy(tiny_pipeline, tmp_path / "p")
    v = read_json(paths.metrics("vae"))
    v["fid"], v["style_transfer_accuracy"] = v["fid_noise_ceiling"] / 10 + 1, 0.5
    write_json(paths.metrics("vae"), v)
    a = read_json(paths.metrics("gan"))
    a["within_class_diversity"] = 0.61
    write_json(paths.metrics("gan"), a)
    report.run(load_config(paths.params), paths)
    page = paths.report_html.read_text()
    assert "not under a tenth of the noise, which misses the goal" in page and "That misses the goal of 90 %." in page
    assert "within 3 points of the judge" in page and "goal on this data, 0.8" not in page  # the digits' goals
    record = read_json(paths.provenance("download"))
    record["facts"]["dataset"] = "fashion-mnist"
    write_json(paths.provenance("download"), record)
    report.run(load_config(paths.params), paths)
    page = paths.report_html.read_text()
    assert "within 5 points of the judge" in page and "That misses the goal on this data, 0.8" in page
    assert "このデータでの目標 0.8 には届いていません" in paths.report_page("ja").read_text()
