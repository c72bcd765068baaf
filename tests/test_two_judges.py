"""The scoreboard's second judge: evaluate's ViT reading of the painters' boards, and how the report tells it.

The tiny pipeline's evaluate numbers are recomputed here from the boards (the painters' saved ones, the real and gmm
rows drawn again) read by both judges; the report's column and paragraph are checked against those numbers, and a
metrics file from before the ViT still gives a report, without the column.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oekaki.core.config import load_config
from oekaki.core.io import read_json, write_json
from oekaki.core.locales import LANGUAGES, text
from oekaki.data.dataset import TensorData
from oekaki.models import judge as judge_mod
from oekaki.models import scoreboard, two_judges
from oekaki.stages.evaluate import stage as evaluate
from oekaki.stages.report import stage as report
from oekaki.stages.report.judges import WITHIN_POINTS, judges
from oekaki.stages.report.tables import SECOND_JUDGE_KEYS, check_scoreboard, scoreboard_table
from tests.test_report import _fresh_copy, generator_row, said, section

CONDITIONAL = ("real", "gmm", "vae", "gan", "diffusion")


def test_the_report_and_the_stage_name_the_same_keys():
    assert SECOND_JUDGE_KEYS == two_judges.SECOND_JUDGE_KEYS  # the report restates them: it imports no model code


def test_the_vit_column_is_the_saved_boards_read_again_by_both_judges(tiny_pipeline):
    paths, _, _ = tiny_pipeline
    rows = read_json(paths.metrics("evaluate"))["scoreboard"]
    facts = read_json(paths.provenance("evaluate"))["facts"]["scoreboard"]
    data = TensorData.load(paths.prepared, torch.device("cpu"))
    cnn_judge = judge_mod.Judge.load(paths.cnn_model)
    vit_judge = two_judges.load_vit_judge(paths.vit_model, paths.cnn_model)
    proto = scoreboard.protocol_of(load_config(paths.params), data.test_y.numpy())
    train = (data.train_x.numpy(), data.train_y.numpy())
    for name in CONDITIONAL:
        board = evaluate.row_board(name, paths, proto, torch.device("cpu"), train)
        cnn, vit = two_judges.readings(cnn_judge, board), two_judges.readings(vit_judge, board)
        asked, row = board.requested, rows[name]
        # the CNN read these very samples: its readings give the row's conditional accuracy
        assert (cnn == asked).mean() == pytest.approx(row["conditional_accuracy"], abs=1e-12), name
        by_seed = (vit == asked).mean(1)
        assert row["conditional_accuracy_vit"] == pytest.approx(by_seed.mean(), abs=1e-12), name
        assert row["conditional_accuracy_vit_std"] == pytest.approx(by_seed.std(ddof=1), abs=1e-12), name
        differ = cnn != vit
        assert row["judges_disagree"] == pytest.approx(differ.mean(), abs=1e-12), name
        assert row["judges_disagree_n"] == differ.sum(), name
        assert row["judges_disagree_cnn_asked"] == (differ & (cnn == asked)).sum(), name
        assert row["judges_disagree_vit_asked"] == (differ & (vit == asked)).sum(), name
        total = asked.size  # where they agree both are right or both wrong: the whole gap is in the disagreements
        gap = (row["judges_disagree_cnn_asked"] - row["judges_disagree_vit_asked"]) / total
        assert row["conditional_accuracy"] - row["conditional_accuracy_vit"] == pytest.approx(gap, abs=1e-12), name
        saved = paths.figure_data("evaluate") / f"disagree_{name}.npz"
        assert saved.is_file() == bool(differ.any()), name
        if differ.any():
            with np.load(saved) as npz:
                seed, index = np.nonzero(differ)
                seed, index = seed[:10], index[:10]
                assert np.array_equal(npz["images"], board.images[seed, index]) and npz["asked"].tolist() == asked[seed, index].tolist()
                assert npz["cnn"].tolist() == cnn[seed, index].tolist() and npz["vit"].tolist() == vit[seed, index].tolist()
    assert all(facts["untrained"][k] is None for k in SECOND_JUDGE_KEYS)  # no label asked: null, as the CNN's
    assert not any(k in rows["untrained"] for k in SECOND_JUDGE_KEYS)


def _scoreboard(paths) -> dict:
    """metrics/evaluate.json with its facts, as the report reads it."""
    from oekaki.core.contract import stage_results

    return stage_results(paths, "evaluate")


def test_the_page_shows_both_judges_and_says_which_goal_holds(tiny_pipeline, tmp_path):
    paths, _, _ = tiny_pipeline
    e = _scoreboard(paths)
    verdict = judges(e)
    assert [r.name for r in verdict.rows] == list(CONDITIONAL) and verdict.painters == 4
    for lang in LANGUAGES:
        page = paths.report_page(lang).read_text()
        board = section(page, "scoreboard")
        assert f"<th>{text('col_cond_cnn', lang)}</th><th>{text('col_cond_vit', lang)}</th>" in board, lang
        for name in CONDITIONAL:
            row = e["scoreboard"][name]
            vit = f"<td>{row['conditional_accuracy_vit']:.1%} ± {row['conditional_accuracy_vit_std']:.1%}</td>"
            assert vit in generator_row(page, name), (lang, name)
        assert f"<td>{text('cell_na', lang)}</td>" * 3 in generator_row(page, "untrained")  # CNN, ViT, diversity: n/a
        for r in verdict.rows:
            fields = {"cnn": r.cnn, "vit": r.vit, "share": r.share, "n": r.n, "cnn_asked": r.cnn_asked, "vit_asked": r.vit_asked}
            assert said("judges_row", lang, painter=said(f"row_{r.name}", lang), **fields) in board, (lang, r.name)
        gaps = {name: abs(e["scoreboard"][name]["conditional_accuracy"] - e["scoreboard"][name]["conditional_accuracy_vit"]) * 100
                for name in CONDITIONAL[1:]}  # fmt: skip
        apart = sum(round(g, 1) > WITHIN_POINTS for g in gaps.values())  # as the page prints the gap: one decimal
        widest = max(gaps, key=gaps.get)
        real = abs(e["scoreboard"]["real"]["conditional_accuracy"] - e["scoreboard"]["real"]["conditional_accuracy_vit"]) * 100
        fields = {"points": WITHIN_POINTS, "gap": gaps[widest], "painter": said(f"row_{widest}", lang), "painters": 4, "apart": apart}
        fields["real_gap"] = real
        assert said("judges_apart" if apart else "judges_within", lang, **fields) in board, lang
        for r in verdict.rows:  # the samples, where there are any, with their caption
            caption = said("cap_judges_disagree", lang, painter=said(f"row_{r.name}", lang), shown=r.shown, n=r.n)
            assert (f"<figcaption>{caption}</figcaption>" in board) == (r.n > 0), (lang, r.name)
    # the other verdict, on a copy whose GAN the ViT reads 5 points worse than the CNN
    copy = _fresh_copy(tiny_pipeline, tmp_path / "p")
    m = read_json(copy.metrics("evaluate"))
    m["scoreboard"]["gan"]["conditional_accuracy_vit"] = m["scoreboard"]["gan"]["conditional_accuracy"] - 0.05
    write_json(copy.metrics("evaluate"), m)
    report.run(load_config(copy.params), copy)
    verdict = judges(_scoreboard(copy))
    assert not verdict.within and verdict.apart >= 1
    for lang in LANGUAGES:
        board = section(copy.report_page(lang).read_text(), "scoreboard")
        w = verdict.widest
        fields = {"points": WITHIN_POINTS, "gap": w.gap, "painter": said(f"row_{w.name}", lang), "painters": 4, "apart": verdict.apart}
        fields["real_gap"] = verdict.real.gap
        assert said("judges_apart", lang, **fields) in board and text("h_judges", lang) in board, lang


def test_a_scoreboard_from_before_the_vit_still_reports_without_the_column(tiny_pipeline, tmp_path):
    paths = _fresh_copy(tiny_pipeline, tmp_path / "p")
    m = read_json(paths.metrics("evaluate"))
    for row in m["scoreboard"].values():
        for key in SECOND_JUDGE_KEYS:
            row.pop(key, None)
    write_json(paths.metrics("evaluate"), m)
    record = read_json(paths.provenance("evaluate"))
    for row in record["facts"]["scoreboard"].values():
        for key in SECOND_JUDGE_KEYS:
            row.pop(key, None)
    write_json(paths.provenance("evaluate"), record)
    assert check_scoreboard(_scoreboard(paths)) == [] and judges(_scoreboard(paths)) is None
    report.run(load_config(paths.params), paths)  # allow_partial off: nothing counts as missing
    for lang in LANGUAGES:
        board = section(paths.report_page(lang).read_text(), "scoreboard")
        assert f"<th>{text('col_cond', lang)}</th>" in board and text("col_cond_vit", lang) not in board, lang
        assert text("h_judges", lang) not in board and "disagree_" not in board, lang
    assert text("col_cond_vit", "en") not in paths.report_summary.read_text()


def test_the_column_is_checked_only_where_evaluate_measured_it():
    older = {"scoreboard": {"gan": {"conditional_accuracy": 0.9, "conditional_accuracy_std": 0.01}}}
    assert text("col_cond", "en") in scoreboard_table(older, "en").columns
    assert not [p for p in check_scoreboard(older) if "vit" in p or "judges" in p]
    newer = {"scoreboard": {"gan": {**older["scoreboard"]["gan"], "conditional_accuracy_vit": float("nan")}}}
    table = scoreboard_table(newer, "en")
    at = table.columns.index(text("col_cond_cnn", "en"))
    assert table.columns[at + 1] == text("col_cond_vit", "en") and text("col_cond", "en") not in table.columns
    problems = check_scoreboard(newer)
    assert "metrics/evaluate.json: scoreboard.gan.conditional_accuracy_vit is nan" in problems
    assert "metrics/evaluate.json: scoreboard.gan.judges_disagree_n is missing" in problems
    assert "metrics/evaluate.json: scoreboard.vae.conditional_accuracy_vit is missing" not in problems  # vae: the row is missing


def test_the_verdict_counts_painters_only_and_two_points_is_within():
    def row(cnn: float, vit: float) -> dict:
        return {"conditional_accuracy": cnn, "conditional_accuracy_vit": vit, "judges_disagree": 0.1, "judges_disagree_n": 3,
                "judges_disagree_cnn_asked": 2, "judges_disagree_vit_asked": 1}  # fmt: skip

    untrained = {"conditional_accuracy": None, "conditional_accuracy_vit": None}
    e = {"scoreboard": {"real": row(0.99, 0.90), "gan": row(0.97, 0.95), "vae": row(0.95, 0.95), "untrained": untrained}}
    verdict = judges(e)
    assert [r.name for r in verdict.rows] == ["real", "vae", "gan"] and verdict.painters == 2
    assert verdict.within and verdict.widest.name == "gan" and verdict.widest.gap == pytest.approx(2.0)  # real's 9 points do not count
    assert verdict.real.gap == pytest.approx(9.0)  # but are said beside
    e["scoreboard"]["vae"] = row(0.95, 0.9296)  # 2.04 points: printed as 2.0, within
    assert judges(e).within
    e["scoreboard"]["vae"] = row(0.95, 0.929)  # 2.1 points
    verdict = judges(e)
    assert not verdict.within and verdict.apart == 1 and verdict.widest.name == "vae"
    assert verdict.rows[0].shown == 3 and judges({"scoreboard": {"gan": {"fid": 1.0}}}) is None
