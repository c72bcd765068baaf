"""The text painter's report figures and section (issue 38), from small synthetic data: no training, no pipeline run.

Each new figure kind is drawn in English and Japanese (tests/test_figure_words.py draws the same data for its checks
of the words); the walkthrough shows the page's own language's prompt; the section's goals are said met or missed
from the numbers, in both languages, with the same numbers on both pages.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from oekaki.core.figure_data import FigureData
from oekaki.core.locales import LANGUAGES, text
from oekaki.figures import render
from oekaki.figures.base import figure_texts, plt
from oekaki.figures.text_painter import GOALS
from oekaki.stages.report.inputs import REQUIRED, check_metrics
from oekaki.stages.report.page import ENV, md

KINDS = ("text_walkthrough", "text_held_out", "text_guidance", "latent_channels")


def synthetic() -> dict[str, FigureData]:
    """Tiny data of each kind, shaped as the text_painter and autoencoder stages save it."""
    rng = np.random.default_rng(1)
    tokens = np.asarray([["[BOS]", "a", "thick", ",", "right-leaning", "3"], ["[BOS]", "太い", "、", "右に傾いた", "3", ""]])
    return {
        "text_walkthrough": {
            "prompts": np.asarray(["a thick, right-leaning 3", "太い、右に傾いた3"]), "langs": np.asarray(["en", "ja"]), "tokens": tokens,
            "n_tokens": np.asarray([6, 5]), "states": rng.normal(size=(2, 6, 16)).astype(np.float32),
            "latents": rng.normal(size=(2, 4, 4, 7, 7)).astype(np.float32), "images": rng.integers(0, 256, (2, 4, 28, 28), dtype=np.uint8),
            "steps": np.asarray([0, 1, 3, 4]),
        },
        "text_held_out": {
            "images": rng.integers(0, 256, (2, 4, 28, 28), dtype=np.uint8), "prompts": np.asarray(["a thick 4", "a thin 8"]),
            "labels": np.asarray([4, 8]), "attributes": np.asarray(["thickness", "slant"]), "levels": np.asarray([2, 0]),
            "adherence": np.asarray([0.9, 0.4]), "seen_adherence": np.asarray([0.95, 0.7]), "digit_adherence": np.asarray([0.99, 0.8]),
            "n": np.asarray([50, 50]),
        },
        "text_guidance": {
            "guidance": np.asarray([1.0, 2.0, 4.0, 8.0]), "digit_adherence": np.asarray([0.8, 0.9, 0.97, 0.98]),
            "attribute_adherence": np.asarray([0.5, 0.6, 0.7, 0.75]), "held_out_adherence": np.asarray([0.4, 0.5, 0.6, 0.7]),
        },
        "latent_channels": {
            "images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), "latents": rng.normal(size=(3, 4, 7, 7)).astype(np.float32),
            "labels": np.asarray([0, 1, 2]),
        },
    }  # fmt: skip


SAMPLES = synthetic()


def test_each_new_kind_is_registered_with_words():
    assert all(k in render.KINDS and render.KINDS[k].has_words for k in KINDS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_kind_draws_and_saves_in_each_language(kind, lang, tmp_path):
    fig = render.draw(kind, SAMPLES[kind], lang)
    try:
        texts = figure_texts(fig)
        assert texts and len(fig.axes) > 1 or kind == "text_guidance"
        path = tmp_path / f"{kind}.{lang}.png"
        fig.savefig(path, dpi=40)
        assert path.stat().st_size > 1000
    finally:
        plt.close(fig)


def test_the_walkthrough_shows_the_pages_own_prompt():
    for lang, shown, other in (("en", "right-leaning", "右に傾いた"), ("ja", "右に傾いた", "right-leaning")):
        fig = render.draw("text_walkthrough", SAMPLES["text_walkthrough"], lang)
        try:
            texts = figure_texts(fig)
        finally:
            plt.close(fig)
        assert shown in texts and other not in texts, (lang, texts)
        assert text("fig_tp_decoded", lang) in texts and text("fig_tp_step", lang, step=4) in texts


def test_the_held_out_rows_name_their_combination_in_the_pages_language():
    for lang in LANGUAGES:
        fig = render.draw("text_held_out", SAMPLES["text_held_out"], lang)
        try:
            texts = figure_texts(fig)
        finally:
            plt.close(fig)
        thick = text("fig_tp_combination", lang, level=text("fig_tp_level_thickness_2", lang), digit=4)
        assert thick in texts and "90%" in texts and "95%" in texts, texts


# ---------------------------------------------------------------- the report section, rendered alone from synthetic metrics


def metrics(**changes: float) -> dict:
    """Numbers shaped as metrics/text_painter.json (with its facts), every goal met unless changed."""
    tp = {f"{w}_adherence{s}": 0.99 if w == "digit" else 0.85 for w in ("digit", "thickness", "slant", "width", "attribute")
          for s in ("", "_en", "_ja")}  # fmt: skip
    tp |= {
        "held_out_adherence": 0.8, "seen_adherence": 0.85, "held_out_digit_adherence": 0.97, "japanese_gap": 0.01, "prompt_adherence": 0.8,
        "fid": 9.0, "fid_std": 0.2, "n_samples": 1000, "n_seeds": 3, "n_adherence_prompts": 1800, "epochs": 4, "steps": 2000,
        "train_seconds": 100.0, "sample_seconds_per_1000": 3.0, "n_parameters": 123456, "vocab_size": 80, "device": "cpu",
        "guidance": 4.0, "sample_steps": 8, "sampler": "euler", "reconstruction_keeps_thickness": 0.9, "reconstruction_keeps_slant": 0.8,
        "reconstruction_keeps_width": 0.85, "judge_test_accuracy": 0.99, "caption_examples": ["a thick 7", "太い7"],
        "held_out_table": [{"label": 4, "attribute": "thickness", "level": 2, "n": 100, "adherence": 0.8, "digit_adherence": 0.9,
                            "seen_adherence": 0.85, "seen_n": 900}],
        "guidance_sweep": [{"guidance": g, "digit_adherence": 0.9, "attribute_adherence": 0.8, "held_out_adherence": 0.7}
                           for g in (1.0, 4.0)],
    }  # fmt: skip
    return tp | changes


AUTOENCODER = {
    "epochs": 1, "train_seconds": 20.0, "device": "cpu", "latent_shape": [4, 7, 7], "compression": 4.0, "reconstruction_fid": 2.5,
    "reconstruction_accuracy": 0.98, "n_reconstructed": 1000, "judge_test_accuracy": 0.99,
}  # fmt: skip
DIFFUSION = {"fid": 8.0, "sample_seconds_per_1000": 6.0, "sample_steps": 8, "train_seconds": 120.0, "steps": 1000}
PARAMS = {
    "text_painter": {"params": {"text_painter.captions_per_image": 2, "text_painter.text_layers": 2, "text_painter.text_width": 64,
                                "text_painter.caption_drop": 0.15}},
    "autoencoder": {"params": {"autoencoder.kl_weight": 0.01}},
}  # fmt: skip


GOAL_SENTENCES = (  # each goal's sentence key (`<key>_met` / `<key>_missed`) and its fields
    ("tp_goal_digit", {"target": GOALS["digit"]}), ("tp_goal_attribute", {}), ("tp_goal_japanese", {"points": GOALS["japanese_points"]}),
    ("tp_goal_held_out", {"points": GOALS["held_out_points"]}), ("tp_goal_fid", {"target": GOALS["fid_ratio"]}), ("tp_goal_time", {}),
)  # fmt: skip


def section(lang: str, tp: dict) -> str:
    def t(key, **fields):
        return md(text(key, lang, **fields))

    context = {
        "t": t, "fig": lambda *a, **k: None, "text_painter_goals": GOALS, "provenance": PARAMS,
        "metrics": {"text_painter": tp, "autoencoder": AUTOENCODER, "diffusion": DIFFUSION},
    }  # fmt: skip
    return ENV.get_template("sections/text-painter.html.j2").render(context)


def said(key: str, lang: str, **fields) -> str:
    return str(md(text(key, lang, **fields)))


def test_the_synthetic_metrics_pass_the_reports_check():
    assert check_metrics("text_painter", metrics()) == [] and check_metrics("autoencoder", AUTOENCODER) == []
    bad = metrics(held_out_table=[{"label": 4, "attribute": "thickness", "adherence": float("nan")}])
    assert check_metrics("text_painter", bad) == ["metrics/text_painter.json: held_out_table[0].adherence is missing or not finite"]
    assert set(REQUIRED["text_painter"]) <= set(metrics())


def test_every_goal_met_is_said_met_in_both_languages_with_the_same_numbers():
    pages = {lang: section(lang, metrics()) for lang in LANGUAGES}
    for lang, page in pages.items():
        for key, fields in GOAL_SENTENCES:
            assert said(f"{key}_met", lang, **fields) in page and said(f"{key}_missed", lang, **fields) not in page, (lang, key)
        assert "85.0%" in page and "9.00" in page and "1.12" in page  # an adherence, the FID, FID / the diffusion painter's
    decimals = {lang: set(re.findall(r"\d+\.\d+%?", page)) for lang, page in pages.items()}
    assert decimals["en"] == decimals["ja"]


def test_a_missed_goal_is_said_missed_from_the_numbers():
    tp = metrics(digit_adherence=0.9, slant_adherence_ja=0.786, japanese_gap=0.05, held_out_adherence=0.6, fid=13.0,
                 sample_seconds_per_1000=7.0)  # fmt: skip
    for lang in LANGUAGES:
        page = section(lang, tp)
        for key, fields in GOAL_SENTENCES:
            assert said(f"{key}_missed", lang, **fields) in page and said(f"{key}_met", lang, **fields) not in page, (lang, key)
        assert "78.6%" in page and said("tp_cell_missed", lang, goal=GOALS["attribute"]) in page
        missed = said("tp_goal_attribute_missed", lang)
        assert said("p_tp_attribute", lang, acc=0.85, target=GOALS["attribute"], met=5, total=6, goal=missed) in page  # 5 of 6 is missed
