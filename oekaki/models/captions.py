"""Captions for the latent text-to-image painter, in English and Japanese, and their tokenizer.

A caption names the digit and some of its measured attributes (oekaki/data/attributes.py), e.g. "a thick 7 leaning
right" or "太くて右に傾いた7". The words are model data, not interface text: the painter learns them, so they
live here beside the tokenizer built from them. Both languages carry the same information phrase for phrase.
Some label x attribute x level combinations (HELD_OUT) are never captioned in training, to test composition.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from oekaki.data.attributes import ATTRIBUTES, LEVELS

LANGUAGES = ("en", "ja")
MAX_TOKENS = 16  # BOS included; the longest caption `compose` can write has 15 (tests/test_captions.py)
PAD, BOS = 0, 1
SPECIALS = ("<pad>", "<bos>")

# (4, thickness, thick), (8, thickness, thin), (7, slant, right), (0, width, wide): never named in training
HELD_OUT: tuple[tuple[int, str, int], ...] = ((4, "thickness", 2), (8, "thickness", 0), (7, "slant", 2), (0, "width", 2))


class Words(NamedTuple):
    """One phrase in its forms: before the digit, after it, and chained (a non-final stacked phrase; default pre)."""

    pre: str  # "thick", "太い"
    post: str  # "with thick strokes", "太い" (the predicate)
    chain: str = ""  # "太くて" in "太くて右に傾いた7"; English stacks the pre form


DIGITS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        ("0", "zero"),
        ("1", "one"),
        ("2", "two"),
        ("3", "three"),
        ("4", "four"),
        ("5", "five"),
        ("6", "six"),
        ("7", "seven"),
        ("8", "eight"),
        ("9", "nine"),
    ),
    "ja": (
        ("0", "〇", "零"),
        ("1", "一"),
        ("2", "二"),
        ("3", "三"),
        ("4", "四"),
        ("5", "五"),
        ("6", "六"),
        ("7", "七"),
        ("8", "八"),
        ("9", "九"),
    ),
}

# PHRASES[lang][attribute][level]: synonyms; every phrase holds a word no other attribute or level uses
PHRASES: dict[str, dict[str, tuple[tuple[Words, ...], ...]]] = {
    "en": {
        "thickness": (
            (Words("thin", "with thin strokes"), Words("slim", "drawn thin"), Words("fine", "with fine strokes")),
            (Words("regular", "of regular weight"), Words("normal-weight", "with regular strokes")),
            (Words("thick", "with thick strokes"), Words("bold", "drawn bold"), Words("heavy", "with heavy strokes")),
        ),
        "slant": (
            (Words("left-leaning", "leaning left"), Words("left-slanted", "slanted left"), Words("left-tilted", "tilted left")),
            (
                Words("upright", "standing upright"),
                Words("straight", "standing straight"),
                Words("vertical", "standing vertical"),
            ),
            (Words("right-leaning", "leaning right"), Words("italic", "slanted right"), Words("right-tilted", "tilted right")),
        ),
        "width": (
            (Words("narrow", "drawn narrow"), Words("condensed", "of narrow width")),
            (Words("medium-width", "of medium width"), Words("average-width", "of average width")),
            (Words("wide", "drawn wide"), Words("broad", "of broad width")),
        ),
    },
    "ja": {
        "thickness": (
            (Words("細い", "細い", "細くて"), Words("細めの", "細め", "細めで"), Words("線の細い", "線が細い", "線が細くて")),
            (
                Words("普通の太さの", "普通の太さ", "普通の太さで"),
                Words("中くらいの太さの", "中くらいの太さ", "中くらいの太さで"),
            ),
            (Words("太い", "太い", "太くて"), Words("太めの", "太め", "太めで"), Words("線の太い", "線が太い", "線が太くて")),
        ),
        "slant": (
            (
                Words("左に傾いた", "左に傾いている", "左に傾いていて"),
                Words("左傾きの", "左傾き", "左傾きで"),
                Words("左斜めの", "左斜め", "左斜めで"),
            ),
            (
                Words("まっすぐな", "まっすぐ", "まっすぐで"),
                Words("傾いていない", "傾いていない", "傾いていなくて"),
                Words("直立した", "直立している", "直立していて"),
            ),
            (
                Words("右に傾いた", "右に傾いている", "右に傾いていて"),
                Words("斜体の", "斜体", "斜体で"),
                Words("右斜めの", "右斜め", "右斜めで"),
            ),
        ),
        "width": (
            (Words("幅の狭い", "幅が狭い", "幅が狭くて"), Words("幅狭の", "幅狭", "幅狭で")),
            (Words("普通の幅の", "普通の幅", "普通の幅で"), Words("中くらいの幅の", "中くらいの幅", "中くらいの幅で")),
            (Words("幅の広い", "幅が広い", "幅が広くて"), Words("幅広の", "幅広", "幅広で")),
        ),
    },
}


def _english_article(text: str) -> str:
    """'a' -> 'an' before a vowel sound: "an italic 7", "an 8", "an eight" (but "a one")."""
    return re.sub(r"^a (?=[aeiu8]|o(?!ne\b))", "an ", text)


@dataclass(frozen=True)
class Grammar:
    """How one language assembles a caption: [article] [pre-phrases] noun [after post-phrases].

    A style is (separator, chained): chained phrases take their chain form except the last.
    """

    articles: tuple[str, ...]  # first one is the evaluation prompts' default
    nouns: tuple[str, ...]  # "{d}" is the digit
    before: str  # between the pre-phrases and the noun
    after: tuple[str, ...]  # between the noun and the post-phrases
    pre_styles: tuple[tuple[str, bool], ...]
    post_styles: tuple[tuple[str, bool], ...]
    finish: Callable[[str], str] = str  # a last touch on the whole caption
    also: tuple[str, ...] = ()  # words `finish` may write


GRAMMARS = {
    "en": Grammar(
        articles=("a ", ""),
        nouns=("{d}", "digit {d}", "number {d}"),
        before=" ",
        after=(" ", ", "),
        pre_styles=((", ", False), (" ", True)),  # "a thick, narrow 7", "thick narrow seven"
        post_styles=((", ", False),),  # "7 leaning right, with thick strokes"
        finish=_english_article,
        also=("an",),
    ),
    "ja": Grammar(
        articles=("",),
        nouns=("{d}", "数字の{d}"),
        before="",
        after=("、",),
        pre_styles=(("、", False), ("", True)),  # "太い、右に傾いた7", "太くて右に傾いた7"
        post_styles=(("", True), ("、", False)),  # "7、太くて右に傾いている", "7、太い、右に傾いている"
    ),
}


class _Draw:
    """Choices drawn from a generator (training captions)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def pick(self, options: Sequence):
        return options[int(self.rng.integers(len(options)))]

    def order(self, items: list) -> list:
        return [items[i] for i in self.rng.permutation(len(items))]


class _Cycle:
    """The variant-th choice everywhere, cycling (evaluation prompts); variant 0 takes every first choice."""

    def __init__(self, variant: int):
        self.variant = variant

    def pick(self, options: Sequence):
        return options[self.variant % len(options)]

    def order(self, items: list) -> list:
        k = self.variant % max(len(items), 1)
        return items[k:] + items[:k]


def _check(label: int, named: dict[str, int], lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}; expected one of {LANGUAGES}")
    if not 0 <= label < len(DIGITS[lang]):
        raise ValueError(f"label {label}; expected 0-{len(DIGITS[lang]) - 1}")
    for attribute, level in named.items():
        if attribute not in ATTRIBUTES or not 0 <= level < LEVELS:
            raise ValueError(f"{attribute}={level}; expected an attribute of {ATTRIBUTES} at a level 0-{LEVELS - 1}")


def _join(words: list[Words], style: tuple[str, bool], final: Callable[[Words], str]) -> str:
    sep, chained = style
    return sep.join((w.chain or w.pre) if chained and i < len(words) - 1 else final(w) for i, w in enumerate(words))


def _render(label: int, named: dict[str, int], lang: str, choose: _Draw | _Cycle) -> str:
    """The caption: the digit and exactly the attributes in `named`, each choice made by `choose`."""
    _check(label, named, lang)
    g = GRAMMARS[lang]
    noun = choose.pick(g.nouns).format(d=choose.pick(DIGITS[lang][label]))
    attrs = choose.order([a for a in ATTRIBUTES if a in named])
    words = [choose.pick(PHRASES[lang][a][int(named[a])]) for a in attrs]
    split = choose.pick(range(len(words), -1, -1))  # this many phrases before the noun, the rest after
    before, after = words[:split], words[split:]
    text = choose.pick(g.articles)
    if before:
        text += _join(before, choose.pick(g.pre_styles), lambda w: w.pre) + g.before
    text += noun
    if after:
        text += choose.pick(g.after) + _join(after, choose.pick(g.post_styles), lambda w: w.post)
    return g.finish(text)


def compose(label: int, named: dict[str, int], lang: str, rng: np.random.Generator) -> str:
    """One caption naming the digit and exactly the attributes in `named` (attribute -> level), drawn from rng."""
    return _render(int(label), {a: int(v) for a, v in named.items()}, lang, _Draw(rng))


def prompt(label: int, named: dict[str, int], lang: str, variant: int = 0) -> str:
    """A deterministic evaluation prompt: the `variant`-th choice of words and order, cycling (0: "a thick 7")."""
    return _render(int(label), {a: int(v) for a, v in named.items()}, lang, _Cycle(variant))


def is_held_out(label: int, attribute: str, level: int) -> bool:
    """True for a combination that training captions never name (HELD_OUT)."""
    return (int(label), attribute, int(level)) in HELD_OUT


def training_caption(label: int, levels: dict[str, int], rng: np.random.Generator, mention: float) -> str:
    """A training caption: language 50/50, each attribute named with probability `mention` unless held out.

    A held-out combination is never named; the image is still used, captioned without that attribute.
    """
    lang = LANGUAGES[int(rng.integers(len(LANGUAGES)))]
    named = {}
    for attribute in ATTRIBUTES:
        level = int(levels[attribute])
        if rng.random() < mention and not is_held_out(label, attribute, level):
            named[attribute] = level
    return compose(label, named, lang, rng)


def normalise(text: str) -> str:
    """What the tokenizer reads: Unicode NFKC (full-width "７" -> "7", "，" -> ","), lowercase, stripped,
    runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")  # an English word, hyphenated ones whole ("right-leaning")
_PIECE = re.compile(r"[a-z]+(?:-[a-z]+)*|\d|[^\sa-z\d]+")  # catalog pieces: words, digits, runs of anything else


def _catalog_texts() -> Iterable[str]:
    for lang in LANGUAGES:
        g = GRAMMARS[lang]
        yield from (d for forms in DIGITS[lang] for d in forms)
        yield from (f for levels in PHRASES[lang].values() for synonyms in levels for w in synonyms for f in w if f)
        yield from (*g.articles, *g.nouns, g.before, *g.after, *(sep for sep, _ in g.pre_styles + g.post_styles))
        yield from g.also


class Tokenizer:
    """Word-level tokenizer over the caption catalog of both languages; ids PAD = 0, BOS = 1, then catalog pieces.

    English splits into words (hyphenated ones whole), single digits and punctuation; Japanese runs are
    segmented by greedy longest match over the catalog's Japanese phrases ("太くて", "右に傾いた", "数字の", "、").
    Pieces outside the vocabulary are reported, not mapped to a token.
    """

    def __init__(self, tokens: tuple[str, ...] | list[str] | None = None) -> None:
        """`tokens`: a stored vocabulary (a checkpoint's, id order); None = the one this catalog builds."""
        if tokens is None:
            built = {m.group() for text in _catalog_texts() for part in text.split("{d}") for m in _PIECE.finditer(normalise(part))}
            tokens = SPECIALS + tuple(sorted(built))
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}; got {tuple(tokens[: len(SPECIALS)])}")
        self.tokens: tuple[str, ...] = tuple(tokens)
        pieces = set(self.tokens[len(SPECIALS) :])
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        self._symbols = {t for t in pieces if not _WORD.fullmatch(t)}  # digits, punctuation, Japanese phrases
        self._longest = max(len(t) for t in self._symbols)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def pieces(self, text: str) -> list[str]:
        """The normalised text cut into pieces, vocabulary or not (an unknown Japanese run: one per character)."""
        s, i, out = normalise(text), 0, []
        while i < len(s):
            if s[i].isspace():
                i += 1
            elif m := _WORD.match(s, i):
                out.append(m.group())
                i = m.end()
            else:
                n = next((n for n in range(min(self._longest, len(s) - i), 0, -1) if s[i : i + n] in self._symbols), 1)
                out.append(s[i : i + n])
                i += n
        return out

    def encode(self, text: str, max_len: int) -> tuple[list[int], list[str]]:
        """Ids starting with BOS (an empty text: [BOS] only, the "no caption" of classifier-free guidance) and
        the unknown pieces, which are dropped. ValueError when the ids exceed max_len."""
        ids, unknown = [BOS], []
        for piece in self.pieces(text):
            if piece in self._ids:
                ids.append(self._ids[piece])
            else:
                unknown.append(piece)
        if len(ids) > max_len:
            raise ValueError(f"caption is {len(ids)} tokens long (BOS included); the limit is {max_len}")
        return ids, unknown

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to normalised text: English tokens spaced, commas on the word before, Japanese unspaced."""
        text, prev = "", ""
        for i in ids:
            token = self.tokens[int(i)]
            if int(i) in (PAD, BOS):
                continue
            if prev and prev.isascii() and token.isascii() and token != ",":
                text += " "
            text, prev = text + token, token
        return text

    def batch(self, texts: Sequence[str], max_len: int) -> np.ndarray:
        """int64 (N, max_len): each text encoded (unknown pieces dropped) and padded with PAD."""
        out = np.full((len(texts), max_len), PAD, dtype=np.int64)
        for row, text in zip(out, texts, strict=True):
            ids, _ = self.encode(text, max_len)
            row[: len(ids)] = ids
        return out
