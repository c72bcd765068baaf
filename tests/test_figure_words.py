"""Every report figure speaks its page's language: each figure kind is drawn in English and in Japanese.

Drawn from tiny synthetic figure data (no training), every text on the matplotlib Figure is read
(titles, axis labels, tick labels, legends, colour bars) before saving: the Japanese drawing holds no
English word (acronyms such as FID, BIC, PC stay, as the Japanese captions write them), the English
one no Japanese, and a figure the renderer draws once for all languages holds no word at all.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from oekaki.core.figure_data import FigureData
from oekaki.figures import render
from oekaki.figures.base import figure_texts, plt
from tests.test_figures_text_painter import synthetic as text_painter_synthetic

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uff00-\uffef]")  # kana, kanji, full-width forms
ENGLISH_WORD = re.compile(r"[A-Za-z]*[a-z][A-Za-z]*")  # Latin letters with a lower-case one: a word, not an acronym
WORD = re.compile(r"[A-Za-z]{2,}|[\u3040-\u30ff\u4e00-\u9fff]")  # any word at all, in either language
MATH_COMMAND = re.compile(r"\\[A-Za-z]+")  # matplotlib's tick numbers come as mathtext, "$\mathdefault{10^{1}}$"


def shown(texts: list[str]) -> list[str]:
    """The texts as a reader sees them: mathtext commands are markup, not words."""
    return [MATH_COMMAND.sub("", t) for t in texts]


def english_words(texts: list[str]) -> list[str]:
    """English words in texts: runs of two or more Latin letters holding a lower-case one (FID, K, z1 are not words)."""
    return [w for t in texts for w in ENGLISH_WORD.findall(t) if len(w) >= 2]


def synthetic() -> dict[str, FigureData]:
    """Tiny data of every figure kind, shaped as the stages save it."""
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    steps = np.arange(1, 7)
    return {
        "digit_grid": {"images": digits, "nrow": np.asarray(4), "row_labels": np.asarray(["3", "1 -> 7", "9"])},
        "training_strip": {"snapshots": rng.integers(0, 256, (3, 59, 88), dtype=np.uint8), "epochs": np.asarray([1, 4, 8]), "columns": 3},
        "memorisation": {"samples": digits[:2], "neighbours": rng.integers(0, 256, (2, 3, 28, 28), dtype=np.uint8)},
        "cnn_filters": {"kernels": rng.random((16, 3, 3))},
        "cnn_feature_maps": {"image": digits[0], "maps_0": rng.random((8, 14, 14)), "maps_1": rng.random((8, 7, 7))},
        "cnn_feature_space": {"xy": rng.normal(size=(50, 2)), "labels": np.arange(50) % 10},
        "cnn_confusion": {"counts": rng.integers(0, 9, (10, 10))},
        "vit_attention": {
            "images": rng.integers(0, 256, (4, 28, 28)),
            "labels": np.arange(4),
            "pred": np.arange(4),
            "rollout": rng.random((4, 7, 7)),
            "cnn": rng.random((4, 7, 7)),
            "vit_share": rng.random(4),
            "cnn_share": rng.random(4),
            "patch": 4,
        },
        "vit_positions": {"similarity": rng.uniform(-1, 1, (7, 7, 7, 7))},
        "cnn_confidently_wrong": {
            "images": digits[:3], "true": np.asarray([3, 5, 8]), "pred": np.asarray([5, 3, 0]), "confidence": np.asarray([0.99, 0.9, 0.8])
        },
        "gmm_contest": {"points": rng.uniform(0, 255, (30, 2))},
        "gmm_density": {
            "grid": np.linspace(-20, 275, 16), "fitted": rng.random((16, 16)), "truth": rng.random((16, 16)),
            "generated": rng.uniform(0, 255, (20, 2)),
        },
        "gmm_style_slice": {
            "x2": np.linspace(-20, 275, 40), "learned": rng.random(40), "true": rng.random(40), "styled": rng.normal(120, 30, 50),
        },
        "gmm_pictures": {"strips": rng.uniform(0, 255, (4, 12, 2))},
        "gmm_bic": {"bics": np.asarray([900.0, 800.0, 750.0, 760.0]), "chosen": np.asarray(3)},
        "vae_latent_space": {"xy": rng.normal(size=(50, 2)), "labels": np.arange(50) % 10, "explained": np.asarray([0.31, 0.12])},
        "gan_curves": {
            "step": steps, "loss_d": rng.random(6), "loss_g": rng.random(6), "d_real": rng.random(6), "d_fake": rng.random(6),
            "scored_step": np.asarray([4, 6]), "fid": np.asarray([80.0, 40.0]), "coverage": np.asarray([0.7, 0.8]),
            "conditional": np.asarray(True),
        },
        "diffusion_steps_sweep": {
            "steps": np.asarray([2, 4, 8, 16]), "fid": np.asarray([90.0, 30.0, 12.0, 10.0]),
            "conditional_accuracy": np.asarray([0.5, 0.8, 0.95, 0.97]), "seconds_per_1000": np.asarray([0.5, 1.0, 2.0, 4.0]),
        },
        "diffusion_guidance_sweep": {
            "guidance": np.asarray([0.0, 1.0, 2.0, 4.0]), "conditional_accuracy": np.asarray([0.3, 0.8, 0.95, 0.99]),
            "within_class_diversity": np.asarray([0.9, 0.85, 0.8, 0.6]),
        },
        "judges_disagree": {
            "images": digits[:3], "asked": np.asarray([7, 4, 9]), "cnn": np.asarray([7, 9, 4]), "vit": np.asarray([1, 4, 9]),
        },
        "contrib_per_class": {"counts": rng.integers(0, 30, (3, 10))},
        "contrib_over_time": {"ids": np.arange(1, 41), "split": rng.integers(0, 3, 40)},
        "contrib_quarantined": {
            "images": digits[:3], "labels": np.asarray([8, 8, 1]), "judge_label": np.asarray([3, 3, 7]),
            "confidence": np.asarray([0.99, 0.97, 0.96]),
        },
        "vit_sizes": {
            "datasets": np.asarray(["fashion-mnist", "mnist"]), "kinds": np.asarray(["cnn", "vit_stem", "vit_pure"]),
            "sizes": np.asarray([[1000, 4000, 16000, 60000]] * 2), "mean": rng.uniform(0.8, 0.99, (2, 3, 4)),
            "std": rng.uniform(0, 0.01, (2, 3, 4)),
        },
        **text_painter_synthetic(),  # the text painter's and the autoencoder's kinds (tests/test_figures_text_painter.py)
    }  # fmt: skip


SAMPLES = synthetic()


def texts_of(kind: str, lang: str) -> list[str]:
    fig = render.draw(kind, SAMPLES[kind], lang)
    try:
        return shown(figure_texts(fig))
    finally:
        plt.close(fig)


def test_every_kind_has_synthetic_data():
    assert set(SAMPLES) == set(render.KINDS), "give every figure kind tiny data here, so its words are checked"


@pytest.mark.parametrize("kind", sorted(k for k, spec in render.KINDS.items() if spec.has_words))
def test_a_figure_with_words_speaks_each_language(kind):
    en, ja = texts_of(kind, "en"), texts_of(kind, "ja")
    assert english_words(en), f"{kind}: no English words on the English drawing; is it really a figure with words?"
    assert not [t for t in en if JAPANESE.search(t)], f"{kind}: Japanese on the English drawing: {en}"
    assert not english_words(ja), f"{kind}: English left on the Japanese drawing: {english_words(ja)} in {ja}"


@pytest.mark.parametrize("kind", sorted(k for k, spec in render.KINDS.items() if not spec.has_words))
def test_a_figure_drawn_once_for_all_languages_has_no_words(kind):
    en, ja = texts_of(kind, "en"), texts_of(kind, "ja")
    assert en == ja, f"{kind}: its texts depend on the language, so it must be drawn per language (has_words=True)"
    assert not [t for t in en if WORD.search(t)], f"{kind}: words on a figure drawn once for every language: {en}"


def test_the_checks_find_words():
    assert english_words(["FID（対数目盛）", "D(本物)", "z1", "第 1 主成分（分散の 31%）", "K = 3"]) == []
    assert english_words(["sampling steps", "FID (log scale)", "D(real)"]) == ["sampling", "steps", "log", "scale", "real"]
    fig, ax = plt.subplots()
    ax.set_xlabel("pixel 1")
    ax.plot([0, 1], label="learned")
    ax.legend()
    ax.set_xticks([0, 1], ["a", "generated"])
    try:
        assert {"pixel 1", "learned", "generated"} <= set(figure_texts(fig))
    finally:
        plt.close(fig)
