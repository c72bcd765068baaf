"""The prompt box: a sentence in English or Japanese, read by the text painter's own tokenizer, painted as four digits.

The painter is the pipeline's TextPainter (oekaki/models/text_painter.py), served by oekaki/app/service.py as the other
models are (champion or DVC checkpoint, hot reload); this module reads the prompt and writes the answer.

What a prompt may be (each refusal a BadPrompt, a 422 naming what was wrong):
- not empty (nor white space only): the empty prompt is classifier-free guidance's "no caption", any digit;
- at most the model's max_tokens tokens, its start token included (the tokenizer's ValueError);
- at least one word the painter knows: a prompt of unknown words (and commas) alone would paint the empty prompt.
Words the painter does not know are left out and named (`unknown`, and a `warning` sentence), and the rest is painted:
"a thick 7 please" paints "a thick 7" and says "please" was not understood. The alternative, refusing every prompt with
an unknown word, would refuse a typo of one word in five that the painter can still follow; the page shows the
warning beside the four digits, so nothing is left out silently.
"""

from __future__ import annotations

import time
from typing import Any

from oekaki.models import captions

KIND = "text_painter"
IMAGES = 4  # digits painted per prompt: one fixed-seed noise batch
MAX_CHARS = 200  # characters of a prompt (the model reads at most max_tokens tokens; this bounds the work before that)
HOW = "the text painter is trained by the `text_painter` stage, after the `autoencoder` stage: `make run`, or `dvc repro text_painter`"
# the page's example prompts, written by the captions' own templates (so every word is in the vocabulary):
# (label, attribute -> level, language); "幅の広い0" names a combination no training caption names (captions.HELD_OUT)
EXAMPLES = (
    (7, {"thickness": 2}, "en"),
    (3, {"slant": 2}, "ja"),
    (8, {"width": 0}, "en"),
    (5, {"thickness": 0, "slant": 2}, "ja"),
    (1, {"slant": 0}, "en"),
    (0, {"width": 2}, "ja"),
)


class BadPrompt(ValueError):
    """A prompt the text painter cannot paint (422): empty, too long, or no word it knows (`unknown`: the words it did not)."""

    def __init__(self, message: str, unknown: list[str] | None = None):
        super().__init__(message)
        self.unknown = unknown


def quoted(words: list[str]) -> str:
    return ", ".join(f"\u201c{w}\u201d" for w in words)


def unknown_words(tokenizer: captions.Tokenizer, text: str) -> list[str]:
    """The words of `text` outside the tokenizer's vocabulary, in order, each once. An unknown Japanese run, which the
    tokenizer cuts into single characters, is given back whole ("かわいい", not "か", "わ", "い")."""
    known, words, previous = set(tokenizer.tokens), [], False
    for piece in tokenizer.pieces(text):
        unknown = piece not in known
        if unknown and previous and not piece.isascii() and not words[-1].isascii():
            words[-1] += piece
        elif unknown:
            words.append(piece)
        previous = unknown
    return list(dict.fromkeys(words))


def check(prompt: str) -> None:
    """What can be refused before a model is asked: an empty prompt."""
    if not captions.normalise(prompt):
        raise BadPrompt("prompt: empty; write what to paint, e.g. \u201ca thick 7\u201d or \u201c右に傾いた3\u201d")


def paint(painter, prompt: str, seed: int, lock) -> dict[str, Any]:
    """IMAGES digits for `prompt` from TextPainter `painter` (the network pass under `lock`), reproducible per seed:
    images, the tokens read (`ids`: BOS first, no padding), the words left out, the model's milliseconds."""
    check(prompt)
    try:
        ids, _ = painter.tokens([prompt] * IMAGES)
    except ValueError as exc:  # the tokenizer's: more tokens than the model reads
        n, most = len(painter.tokenizer.encode(prompt, 2**31)[0]), painter.args.max_tokens
        raise BadPrompt(f"prompt: too long: {n - 1} tokens; the painter reads at most {most - 1} (a start token takes "
                        f"one of its {most}); write a shorter one") from exc  # fmt: skip
    unknown = unknown_words(painter.tokenizer, prompt)
    read = [int(i) for i in ids[0].tolist() if i != captions.PAD]
    tokens = [painter.tokenizer.tokens[i] for i in read[1:]]
    if not any(c.isalnum() for t in tokens for c in t):  # nothing read but BOS (and commas): the empty prompt, any digit
        words = f"not understood: {quoted(unknown)}" if unknown else "punctuation only"
        raise BadPrompt(f"prompt: no word the painter knows ({words}); try e.g. \u201ca thick 7\u201d", unknown)
    with lock:
        start = time.perf_counter()
        images = painter.paint(ids, seed)
        ms = (time.perf_counter() - start) * 1000
    answer = {"prompt": prompt, "seed": seed, "images": images.tolist(), "tokens": tokens, "ids": read,
              "max_tokens": painter.args.max_tokens, "unknown": unknown, "ms": ms}  # fmt: skip
    return answer | ({"warning": f"not understood, so left out: {quoted(unknown)}"} if unknown else {})


def info(painter) -> dict[str, Any]:
    """What the page's prompt box needs (`painter`: the TextPainter serving, or None): whether one serves, how many digits
    a prompt paints, the longest prompt in tokens, and the example prompts it reads whole."""
    examples = [captions.prompt(label, named, lang) for label, named, lang in EXAMPLES]
    if painter is None:
        return {"available": False, "n": IMAGES, "max_tokens": None, "examples": examples}
    readable = []
    for text in examples:
        try:
            _, unknown = painter.tokenizer.encode(text, painter.args.max_tokens)
        except ValueError:
            continue
        if not unknown:
            readable.append(text)
    return {"available": True, "n": IMAGES, "max_tokens": painter.args.max_tokens, "examples": readable}
