"""The quarantine and the held-out split: what of the store the snapshot trains on, holds out, or keeps aside.

A contribution is quarantined (kept, shown in the report, not trained on) when the judge read another digit
with at least `quarantine_confidence`, **and** the contributor's labels agree with the judge's readings less
often than `quarantine_agreement`. The judge disagreeing is not enough on its own: a new style that today's
judge misreads is what the loop must learn. A writer whose digits today's judge misreads a third of the time
(scikit-learn's, 60-66 % read right) still agrees with it far more often than one who labels 3s as 8s on purpose
(about 0 %). The agreement rate is smoothed with a sceptical prior, PRIOR_AGREE agreeing readings in PRIOR_N
(an even chance): a contributor earns trust by agreeing, so a poisoner gains nothing from a fresh token per
digit (one confident contradiction from a new token is quarantined until that token has agreed more often).
It is decided over the whole store each time the snapshot is taken, so a contributor's later digits count.
What it cannot stop: a poisoner who also sends at least as many correctly labelled digits as poisoned ones;
the gate's MNIST condition then protects the champion (docs/contributions.md).

The held-out split (the gate's "contributed validation", never trained on) is a deterministic share
`validation_share` of the accepted digits, decided per digit by one rule, so a digit never changes sides as
the store grows: by writer where a batch named one (the writer id scoped to its token: a held-out writer is a
person the judge never learned from), otherwise by the image's hash. An image that is also trained on (the
same digit sent by another token) is not held out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from oekaki.core.io import arrays_sha256
from oekaki.data.snapshot import QUARANTINE, SPLIT_NAMES, TRAIN, VALIDATION

PRIOR_AGREE, PRIOR_N = 1.0, 2.0  # the agreement rate's prior: one agreeing reading in two


def agreement_rates(contributors: Sequence[str], labels: np.ndarray, judged: np.ndarray) -> dict[str, float]:
    """Per contributor: how often the judge read the label given, smoothed by the prior (judged = -1: not read)."""
    agree: dict[str, float] = {}
    seen: dict[str, float] = {}
    for who, label, read in zip(contributors, labels.tolist(), judged.tolist(), strict=True):
        if read < 0:
            continue
        seen[who] = seen.get(who, 0.0) + 1
        agree[who] = agree.get(who, 0.0) + (read == label)
    return {who: (agree.get(who, 0.0) + PRIOR_AGREE) / (seen.get(who, 0.0) + PRIOR_N) for who in set(contributors)}


def quarantine(
    contributors: Sequence[str], labels: np.ndarray, judged: np.ndarray, confidence: np.ndarray, min_confidence: float, min_agreement: float
) -> list[str | None]:
    """Per contribution: why it is quarantined, or None."""
    rates = agreement_rates(contributors, labels, judged)
    out: list[str | None] = []
    for who, label, read, conf in zip(contributors, labels.tolist(), judged.tolist(), confidence.tolist(), strict=True):
        if read >= 0 and read != label and conf >= min_confidence and rates[who] < min_agreement:
            out.append(
                f"the judge read a {read} ({conf:.0%}) where the label says {label}, and agrees with this contributor's "
                f"labels {rates[who]:.0%} of the time (under {min_agreement:.0%})"
            )
        else:
            out.append(None)
    return out


def _share(key: str) -> float:
    """A number in [0, 1) from a string, the same on every machine."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / 16**12


def take(rows: dict[str, np.ndarray], validation_share: float, min_confidence: float, min_agreement: float):
    """(arrays, manifest) of the store's rows (Store.export): oekaki/data/snapshot.py's KEYS, and the manifest."""
    n = len(rows["ids"])
    tokens = rows["token_sha"].tolist()
    writers = rows["writer"].tolist()
    people = [f"{t}/{w}" if w else t for t, w in zip(tokens, writers, strict=True)]  # a writer id counts within its token
    why = quarantine(tokens, rows["labels"], rows["judge_label"], rows["judge_confidence"], min_confidence, min_agreement)
    rates = agreement_rates(tokens, rows["labels"], rows["judge_label"])
    shas = [str(x) for x in rows["image_sha"].tolist()]
    split = np.full(n, TRAIN, dtype=np.int8)
    for i in range(n):
        if why[i] is not None:
            split[i] = QUARANTINE
        elif _share(people[i] if writers[i] else shas[i]) < validation_share:
            split[i] = VALIDATION
    trained = {shas[i] for i in range(n) if split[i] == TRAIN}
    split[[i for i in range(n) if split[i] == VALIDATION and shas[i] in trained]] = TRAIN  # never on both sides
    index: dict[str, int] = {}
    contributor = np.array([index.setdefault(p, len(index)) for p in people], dtype=np.int32)
    arrays = {
        "images": rows["images"].astype(np.uint8),
        "labels": rows["labels"].astype(np.int64),
        "split": split,
        "contributor": contributor,
        "ids": rows["ids"].astype(np.int64),
        "judge_label": rows["judge_label"].astype(np.int64),
        "judge_confidence": rows["judge_confidence"].astype(np.float32),
    }
    counts = {name: np.bincount(arrays["labels"][split == s], minlength=10).tolist() for s, name in SPLIT_NAMES.items()}
    manifest = {
        "digest": arrays_sha256(arrays),
        "n": n,
        "newest_id": int(arrays["ids"].max()) if n else 0,
        "counts_per_class": counts,
        "counts": {name: int(sum(c)) for name, c in counts.items()},
        "contributors": len(set(tokens)),
        "writers": len(set(people)),
        "quarantined": [
            {
                "id": int(arrays["ids"][i]),
                "label": int(arrays["labels"][i]),
                "judge_label": int(arrays["judge_label"][i]),
                "confidence": float(arrays["judge_confidence"][i]),
                "agreement": rates[tokens[i]],
                "min_agreement": min_agreement,
                "reason": why[i],
            }  # fmt: skip
            for i in range(n)
            if why[i] is not None
        ],
    }
    return arrays, manifest
