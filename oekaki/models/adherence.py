"""How often the text painter obeys each word of a prompt: the requests it is measured on, and the measures.

The request set (`requests`): for each language, digit, attribute and level, `per_prompt` prompts naming the digit
and that one attribute level (`captions.prompt`, variants cycling through the catalog's words); the held-out
label x attribute x level combinations (captions.HELD_OUT, never in a training caption) get `HELD_OUT_FACTOR` times
as many, so their adherence is measured on as many drawings as a seen combination's pooled over a few digits.

Measures (`adherence`): digit adherence = the judge reads the named digit; attribute adherence = the drawing's
measured level (oekaki/data/attributes.py, the training digits' per-class tertiles of the named digit) is the named
level; both per language, attribute adherence per attribute; held-out vs seen on the same attribute levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oekaki.core.constants import N_CLASSES
from oekaki.data.attributes import ATTRIBUTES, LEVELS, Bins, measure
from oekaki.models import captions
from oekaki.models.judge import Judge

HELD_OUT_FACTOR = 5


@dataclass(frozen=True)
class Requests:
    prompts: list[str]
    labels: np.ndarray  # (N,) the named digit
    langs: np.ndarray  # (N,) "en" | "ja"
    attributes: np.ndarray  # (N,) the named attribute
    levels: np.ndarray  # (N,) its named level
    held_out: np.ndarray  # (N,) bool: a combination no training caption named

    def subset(self, keep: np.ndarray) -> Requests:
        return Requests([p for p, k in zip(self.prompts, keep, strict=True) if k], *(a[keep] for a in self._arrays()))

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return self.labels, self.langs, self.attributes, self.levels, self.held_out


def requests(per_prompt: int) -> Requests:
    """Every language x digit x attribute x level, `per_prompt` prompts each (the held-out ones HELD_OUT_FACTOR times as many)."""
    rows: list[tuple[str, int, str, str, int, bool]] = []
    for lang in captions.LANGUAGES:
        for label in range(N_CLASSES):
            for attribute in ATTRIBUTES:
                for level in range(LEVELS):
                    held = captions.is_held_out(label, attribute, level)
                    for k in range(per_prompt * (HELD_OUT_FACTOR if held else 1)):
                        rows.append((captions.prompt(label, {attribute: level}, lang, k), label, lang, attribute, level, held))
    prompts, labels, langs, attributes, levels, held = zip(*rows, strict=True)
    return Requests(list(prompts), np.asarray(labels), np.asarray(langs), np.asarray(attributes), np.asarray(levels), np.asarray(held))


def thinned(req: Requests, every: int) -> Requests:
    """Every `every`-th request of each language x digit x attribute x level (the guidance sweep's smaller set)."""
    keep = np.zeros(len(req.labels), dtype=bool)
    for key in {(a, b, c, d) for a, b, c, d in zip(req.langs, req.labels, req.attributes, req.levels, strict=True)}:
        where = np.flatnonzero((req.langs == key[0]) & (req.labels == key[1]) & (req.attributes == key[2]) & (req.levels == key[3]))
        keep[where[::every]] = True
    return req.subset(keep)


def obeyed(images: np.ndarray, req: Requests, judge: Judge, bins: Bins) -> tuple[np.ndarray, np.ndarray]:
    """(digit right (N,), attribute right (N,)) for drawings of `req`."""
    digit = judge.judge(images).probs.argmax(1) == req.labels
    measured = bins.levels(measure(images), req.labels)
    attribute = np.zeros(len(req.labels), dtype=bool)
    for name in ATTRIBUTES:
        rows = req.attributes == name
        attribute[rows] = measured[name][rows] == req.levels[rows]
    return digit, attribute


def adherence(digit: np.ndarray, attribute: np.ndarray, req: Requests) -> dict[str, float]:
    """The metrics: `digit_adherence[_<lang>]`, `<attribute>_adherence[_<lang>]`, `attribute_adherence[_<lang>]`,
    `held_out_adherence`, `seen_adherence` (seen digits, the held-out attribute levels) and their gap,
    `prompt_adherence` (digit and attribute both obeyed, seen combinations), `japanese_gap` (the largest |en - ja|
    over the per-language figures)."""
    out: dict[str, float] = {}
    for suffix, rows in [("", np.ones(len(req.labels), dtype=bool)), *((f"_{lang}", req.langs == lang) for lang in captions.LANGUAGES)]:
        seen = rows & ~req.held_out  # the main figures: combinations training captions named
        out[f"digit_adherence{suffix}"] = float(digit[rows].mean())
        for name in ATTRIBUTES:
            out[f"{name}_adherence{suffix}"] = float(attribute[seen & (req.attributes == name)].mean())
        out[f"attribute_adherence{suffix}"] = float(np.mean([out[f"{name}_adherence{suffix}"] for name in ATTRIBUTES]))
    pairs = {(a, lv) for (_, a, lv) in captions.HELD_OUT}
    same = np.array([(a, lv) in pairs for a, lv in zip(req.attributes, req.levels, strict=True)])
    out["held_out_adherence"] = float(attribute[req.held_out].mean()) if req.held_out.any() else float("nan")
    out["seen_adherence"] = float(attribute[same & ~req.held_out].mean())
    out["held_out_gap"] = out["seen_adherence"] - out["held_out_adherence"]
    out["held_out_digit_adherence"] = float(digit[req.held_out].mean()) if req.held_out.any() else float("nan")
    out["prompt_adherence"] = float((digit & attribute)[~req.held_out].mean())  # every word obeyed: the gate's measure
    keys = [k.removesuffix("_en") for k in out if k.endswith("_en")]
    out["japanese_gap"] = float(max(abs(out[f"{k}_en"] - out[f"{k}_ja"]) for k in keys))
    return out


def prompt_adherence(painter, judge: Judge, bins: Bins, per_prompt: int, seed: int) -> float:
    """The share of drawings that obey every word of their prompt (digit and attribute level), seen combinations,
    `per_prompt` drawings per language x digit x attribute x level: how the promotion gate compares two text painters."""
    req = requests(per_prompt)
    ids, _ = painter.tokens(req.prompts)
    return adherence(*obeyed(painter.paint(ids, seed), req, judge, bins), req)["prompt_adherence"]


def per_combination(digit: np.ndarray, attribute: np.ndarray, req: Requests) -> list[dict]:
    """Each held-out combination's attribute and digit adherence, beside the same attribute level on the seen digits."""
    rows = []
    for label, name, level in captions.HELD_OUT:
        held = req.held_out & (req.labels == label) & (req.attributes == name) & (req.levels == level)
        seen = ~req.held_out & (req.attributes == name) & (req.levels == level)
        rows.append({
            "label": label, "attribute": name, "level": level, "n": int(held.sum()),
            "adherence": float(attribute[held].mean()) if held.any() else float("nan"),
            "digit_adherence": float(digit[held].mean()) if held.any() else float("nan"),
            "seen_adherence": float(attribute[seen].mean()) if seen.any() else float("nan"), "seen_n": int(seen.sum()),
        })  # fmt: skip
    return rows
