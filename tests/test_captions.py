"""Captions and their tokenizer: every caption names its digit and exactly its attributes, held-out combinations
never reach training captions, and every caption `compose` can write tokenises without unknowns and round-trips."""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pytest

from oekaki.data.attributes import ATTRIBUTES, LEVELS
from oekaki.models.captions import (
    BOS,
    DIGITS,
    HELD_OUT,
    LANGUAGES,
    MAX_TOKENS,
    PAD,
    PHRASES,
    Tokenizer,
    compose,
    is_held_out,
    normalise,
    prompt,
    training_caption,
)

JAPANESE = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff]")
TOKENIZER = Tokenizer()


@cache
def phrase_tokens(lang: str, attribute: str, level: int) -> set[str]:
    return {p for words in PHRASES[lang][attribute][level] for form in words if form for p in TOKENIZER.pieces(form)}


@cache
def telling_tokens(lang: str, attribute: str, level: int) -> set[str]:
    """Tokens that only this attribute at this level uses: finding one in a caption means it names them."""
    others = set().union(
        *(phrase_tokens(lang, a, v) for a in ATTRIBUTES for v in range(LEVELS) if (a, v) != (attribute, level)),
        *(TOKENIZER.pieces(d) for forms in DIGITS[lang] for d in forms),
    )
    return phrase_tokens(lang, attribute, level) - others


def language_of(caption: str) -> str | None:
    """ "ja" or "en" by its script; None for a caption of ASCII digits alone ("7"), which both languages write."""
    return "ja" if JAPANESE.search(caption) else ("en" if re.search("[a-z]", caption) else None)


def named_in(caption: str, lang: str | None = None) -> dict[str, int]:
    """Re-parse a caption: the attribute levels its tokens tell."""
    pieces, lang = set(TOKENIZER.pieces(caption)), lang or language_of(caption) or "en"
    found = {(a, v) for a in ATTRIBUTES for v in range(LEVELS) if pieces & telling_tokens(lang, a, v)}
    assert len({a for a, _ in found}) == len(found), f"{caption!r} names an attribute twice: {found}"
    return dict(found)


def digits_in(caption: str, lang: str | None = None) -> set[int]:
    pieces, lang = set(TOKENIZER.pieces(caption)), lang or language_of(caption) or "en"
    return {label for label, forms in enumerate(DIGITS[lang]) if pieces & set(forms)}


def random_named(rng: np.random.Generator, p: float = 0.6) -> dict[str, int]:
    return {a: int(rng.integers(LEVELS)) for a in ATTRIBUTES if rng.random() < p}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_phrase_holds_a_word_that_tells_its_attribute_and_level(lang):
    for attribute in ATTRIBUTES:
        assert len(PHRASES[lang][attribute]) == LEVELS
        for level in range(LEVELS):
            telling = telling_tokens(lang, attribute, level)
            for words in PHRASES[lang][attribute][level]:
                for form in filter(None, words):
                    assert set(TOKENIZER.pieces(form)) & telling, (lang, attribute, level, form)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compose_names_the_digit_and_exactly_the_named_attributes(lang):
    rng = np.random.default_rng(1)
    for _ in range(2000):
        label, named = int(rng.integers(10)), random_named(rng)
        caption = compose(label, named, lang, rng)
        assert language_of(caption) in (lang, None), caption
        assert digits_in(caption, lang) == {label}, caption
        assert named_in(caption, lang) == named, caption


def test_compose_without_attributes_names_the_digit_only():
    rng = np.random.default_rng(2)
    for lang in LANGUAGES:
        captions = {compose(label, {}, lang, rng) for label in range(10) for _ in range(200)}
        assert all(named_in(c, lang) == {} and len(digits_in(c, lang)) == 1 for c in captions)
        assert {"七", "7", "数字の7"} <= captions or lang == "en"
        assert {"7", "a 7", "seven", "an 8", "an eight", "a one"} <= captions or lang == "ja"


def test_compose_is_deterministic_for_a_seed_and_varies_across_draws():
    named = {"thickness": 2, "slant": 0, "width": 1}
    first = [compose(3, named, lang, np.random.default_rng(5)) for lang in LANGUAGES]
    assert first == [compose(3, named, lang, np.random.default_rng(5)) for lang in LANGUAGES]
    rng = np.random.default_rng(6)
    for lang in LANGUAGES:
        assert len({compose(3, named, lang, rng) for _ in range(200)}) > 100  # words, order, article, placement vary


def test_compose_refuses_what_it_cannot_say():
    rng = np.random.default_rng(0)
    for label, named, lang in [(10, {}, "en"), (1, {}, "fr"), (1, {"colour": 1}, "en"), (1, {"slant": 3}, "ja")]:
        with pytest.raises(ValueError):
            compose(label, named, lang, rng)


def test_training_captions_mix_both_languages_and_always_name_the_digit():
    rng = np.random.default_rng(3)
    labels = rng.integers(10, size=3000)
    captions = [training_caption(int(y), {a: int(rng.integers(LEVELS)) for a in ATTRIBUTES}, rng, 0.5) for y in labels]
    scripts = [language_of(c) for c in captions]
    assert 0.45 < scripts.count("ja") / (len(captions) - scripts.count(None)) < 0.55
    assert all(digits_in(c) == {int(y)} for c, y in zip(captions, labels, strict=True))
    counts = np.bincount([len(named_in(c)) for c in captions], minlength=4) / len(captions)
    assert counts == pytest.approx([1 / 8, 3 / 8, 3 / 8, 1 / 8], abs=0.03)  # each of 3 attributes named with p = 0.5


@pytest.mark.parametrize(("label", "attribute", "level"), HELD_OUT)
def test_held_out_combinations_never_reach_training_captions(label, attribute, level):
    rng = np.random.default_rng(4)
    named = []
    for _ in range(5000):
        levels = {a: int(rng.integers(LEVELS)) for a in ATTRIBUTES} | {attribute: level}
        named.append(named_in(training_caption(label, levels, rng, mention=1.0)))
    assert not any(attribute in n for n in named)
    others = [a for a in ATTRIBUTES if a != attribute]
    assert all(set(n) == set(others) for n in named)  # the image is still captioned, without that attribute
    assert is_held_out(label, attribute, level) and not is_held_out(label, attribute, (level + 1) % LEVELS)


def test_other_digits_at_a_held_out_level_are_still_named():
    rng = np.random.default_rng(5)
    caption = training_caption(3, {"thickness": 2, "slant": 1, "width": 1}, rng, mention=1.0)
    assert named_in(caption) == {"thickness": 2, "slant": 1, "width": 1}


def test_prompts_are_deterministic_and_cycle_through_variants():
    named = {"thickness": 2, "slant": 2}
    assert prompt(7, named, "en") == "a thick, right-leaning 7"
    assert prompt(7, named, "ja") == "太い、右に傾いた7"
    assert prompt(7, {}, "en") == "a 7" and prompt(7, {}, "ja") == "7"
    for lang in LANGUAGES:
        variants = [prompt(7, named, lang, v) for v in range(12)]
        assert variants == [prompt(7, named, lang, v) for v in range(12)]
        assert len(set(variants)) >= 4
        assert all(named_in(p) == named and digits_in(p) == {7} for p in variants)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_composed_caption_tokenises_fits_and_round_trips(lang):
    rng = np.random.default_rng(7)
    longest = 0
    for _ in range(5000):
        caption = compose(int(rng.integers(10)), random_named(rng, p=0.8), lang, rng)
        ids, unknown = TOKENIZER.encode(caption, MAX_TOKENS)
        assert unknown == [] and ids[0] == BOS and PAD not in ids
        assert TOKENIZER.decode(ids) == normalise(caption) == caption
        longest = max(longest, len(ids))
    assert longest <= MAX_TOKENS


def test_the_vocabulary_comes_from_the_catalog_alone():
    again = Tokenizer()
    assert again.tokens == TOKENIZER.tokens and again.vocab_size == len(TOKENIZER.tokens)
    assert TOKENIZER.tokens[PAD] == "<pad>" and TOKENIZER.tokens[BOS] == "<bos>"
    assert len(set(TOKENIZER.tokens)) == TOKENIZER.vocab_size
    assert {"7", "seven", "七", "right-leaning", "右に傾いた", "、", ","} <= set(TOKENIZER.tokens)


def test_unknown_pieces_are_reported_and_dropped():
    ids, unknown = TOKENIZER.encode("A purple 7 猫", MAX_TOKENS)
    assert unknown == ["purple", "猫"]
    assert TOKENIZER.decode(ids) == "a 7"
    ids, unknown = TOKENIZER.encode("太い猫の7", MAX_TOKENS)
    assert unknown == ["猫", "の"] and TOKENIZER.decode(ids) == "太い7"


def test_the_empty_prompt_is_bos_alone():
    assert TOKENIZER.encode("", MAX_TOKENS) == ([BOS], [])
    assert TOKENIZER.encode("  \n ", MAX_TOKENS) == ([BOS], [])
    assert TOKENIZER.batch(["", "a 7"], 4).tolist()[0] == [BOS, PAD, PAD, PAD]


def test_too_long_a_caption_is_refused_naming_the_limit():
    with pytest.raises(ValueError, match=r"22 tokens .*limit is 16"):
        TOKENIZER.encode(" ".join(["thick"] * 21), 16)
    with pytest.raises(ValueError, match="limit is 3"):
        TOKENIZER.batch(["a thick 7"], 3)


def test_full_width_and_capitals_are_normalised():
    assert normalise("　Ａ ７，  Bold ") == "a 7, bold"
    assert TOKENIZER.encode("７", MAX_TOKENS) == TOKENIZER.encode("7", MAX_TOKENS)
    assert TOKENIZER.encode("太い７", MAX_TOKENS)[0] == TOKENIZER.encode("太い7", MAX_TOKENS)[0]


def test_batch_pads_to_a_fixed_width():
    texts = ["a thick, right-leaning 7", "太くて右に傾いた七", "", "seven 猫"]
    out = TOKENIZER.batch(texts, MAX_TOKENS)
    assert out.shape == (4, MAX_TOKENS) and out.dtype == np.int64
    for row, text in zip(out, texts, strict=True):
        ids, _ = TOKENIZER.encode(text, MAX_TOKENS)
        assert row[: len(ids)].tolist() == ids and (row[len(ids) :] == PAD).all()
