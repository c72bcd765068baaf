"""The scoreboard's protocol in one place: what every row is asked for, how it is drawn and scored.

- `protocol`: n = evaluate.n_samples (at most the test set's size) and n_seeds sampling seeds
  base.seed + k; for each seed the requested labels are the test set's own label mix (a
  fixed-seed draw of n test labels);
- `reference`: the n test images every row is compared with (the draw of seed base.seed);
- `draw_board`: n images per seed from one painter, as `Board` (saved by the painter stages
  as models/<painter>/scoreboard.npz, so `evaluate` never draws a network painter again);
- `score_board`: the judge's measures of each seed's set, as mean and `_std` over seeds.

The `real` row is drawn like a painter: for each requested label a distinct training image of
that label (`real_board`), never the reference images themselves, so its FID is the honest floor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oekaki.core.errors import DataError, MissingInputError
from oekaki.core.io import write_atomic
from oekaki.models import judge as judge_mod

MEASURES = ("fid", "inception_score", "conditional_accuracy", "within_class_diversity", "class_entropy")
CONDITIONAL_ONLY = ("conditional_accuracy", "within_class_diversity")


@dataclass(frozen=True)
class Protocol:
    n: int
    seeds: tuple[int, ...]
    requested: np.ndarray  # (n_seeds, n) labels asked for with each seed


@dataclass(frozen=True)
class Board:
    images: np.ndarray  # (n_seeds, n, 28, 28) uint8
    requested: np.ndarray  # (n_seeds, n) the labels asked for (whether or not the painter takes labels)
    seeds: np.ndarray  # (n_seeds,)
    conditional: bool  # False: the painter ignores labels (untrained noise, an unconditional GAN)


def protocol(test_y: np.ndarray, n_samples: int, base_seed: int, n_seeds: int) -> Protocol:
    """The scoreboard's request: n, the seeds base_seed + k and, per seed, n labels of the test set's mix."""
    n = judge_mod.n_eval(n_samples, len(test_y))
    seeds = tuple(base_seed + k for k in range(n_seeds))
    return Protocol(n, seeds, np.stack([judge_mod.requested_labels(test_y, n, s) for s in seeds]))


def protocol_of(cfg, test_y: np.ndarray) -> Protocol:
    """`protocol` from a Config's evaluate and base sections."""
    return protocol(test_y, cfg.evaluate.n_samples, cfg.base.seed, cfg.evaluate.n_seeds)


def reference(judge: judge_mod.Judge, test_x: np.ndarray, test_y: np.ndarray, proto: Protocol) -> tuple[judge_mod.Judged, np.ndarray]:
    """The n test images (and labels) every row is scored against, judged once."""
    pick = judge_mod.requested_indices(len(test_y), proto.n, proto.seeds[0])
    return judge.judge(test_x[pick]), test_y[pick]


def draw_board(paint: Callable[[np.ndarray, int], np.ndarray], proto: Protocol, conditional: bool) -> Board:
    """n images per seed: paint(labels (n,), seed) -> uint8 (n, 28, 28)."""
    images = np.stack([np.asarray(paint(labels, seed), dtype=np.uint8) for labels, seed in zip(proto.requested, proto.seeds, strict=True)])
    return Board(images, proto.requested.copy(), np.asarray(proto.seeds), conditional)


def real_indices(pool_labels: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """For each requested label a distinct image of that label from the pool (a fixed-seed draw)."""
    rng = np.random.default_rng(seed)
    pick = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        where, have = np.flatnonzero(labels == c), np.flatnonzero(pool_labels == c)
        if len(have) < len(where):
            raise DataError(f"the real row asks for {len(where)} images of label {c} but the pool has {len(have)}")
        pick[where] = rng.choice(have, size=len(where), replace=False)
    return pick


def noise_images(n: int, seed: int) -> np.ndarray:
    """The untrained painter: n images of uniform random pixels, uint8 (n, 28, 28)."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def real_board(pool: tuple[np.ndarray, np.ndarray], proto: Protocol) -> Board:
    """The `real` row: per seed, for each requested label a distinct pool (training) image of that label."""
    x, y = pool
    return draw_board(lambda labels, seed: x[real_indices(y, labels, seed)], proto, True)


def noise_board(proto: Protocol) -> Board:
    """The `untrained` row: uniform noise per seed (it takes no labels)."""
    return draw_board(lambda labels, seed: noise_images(len(labels), seed), proto, False)


def save_board(path: Path, board: Board) -> None:
    """models/<painter>/scoreboard.npz, written atomically (a reader never sees half a file)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=board.images, requested=board.requested, seeds=board.seeds, conditional=board.conditional)

    write_atomic(path, write)


def read_board(path: Path) -> Board:
    """A saved board as it is (load_board also checks it against a protocol)."""
    with np.load(path) as npz:
        return Board(npz["images"], npz["requested"], npz["seeds"], bool(npz["conditional"]))


def load_board(path: Path, proto: Protocol, stage: str) -> Board:
    """A painter stage's saved samples, refused unless they answer exactly this protocol's request."""
    rerun = f"rerun stage {stage!r} (`dvc repro {stage}`)"
    if not path.is_file():
        raise MissingInputError(f"{path} is missing: {rerun}")
    board = read_board(path)
    if tuple(int(s) for s in board.seeds) != proto.seeds or not np.array_equal(board.requested, proto.requested):
        raise MissingInputError(
            f"{path}: drawn for seeds {board.seeds.tolist()} and {board.requested.shape[1]} requested labels, but the scoreboard "
            f"now requests seeds {list(proto.seeds)} and {proto.n} labels (evaluate.n_samples, evaluate.n_seeds, base.seed or the "
            f"test set changed): {rerun}"
        )
    if board.images.shape != (len(proto.seeds), proto.n, 28, 28) or board.images.dtype != np.uint8:
        raise MissingInputError(f"{path}: images of shape {board.images.shape} ({board.images.dtype}), expected uint8 "
                                f"{(len(proto.seeds), proto.n, 28, 28)}: {rerun}")  # fmt: skip
    return board


def score_set(judge: judge_mod.Judge, images: np.ndarray, labels: np.ndarray | None, ref: judge_mod.Judged, ref_labels: np.ndarray) -> dict:
    """Every measure of one set of n images (conditional ones only when `labels` were asked for)."""
    judged = judge.judge(images)
    scores = judge_mod.score(judged, ref, labels, ref_labels if labels is not None else None)
    scores["class_entropy"] = judge_mod.class_entropy(judged.probs)
    return scores


def score_board(judge: judge_mod.Judge, board: Board, ref: judge_mod.Judged, ref_labels: np.ndarray) -> dict[str, float]:
    """Mean and `<measure>_std` over seeds (sample standard deviation, ddof=1; 0 for one seed).

    Unconditional boards have no conditional_accuracy or within_class_diversity keys.
    """
    per_seed = [
        score_set(judge, images, labels if board.conditional else None, ref, ref_labels)
        for images, labels in zip(board.images, board.requested, strict=True)
    ]
    out = {}
    for key in MEASURES:
        if key in per_seed[0]:
            values = np.array([s[key] for s in per_seed], dtype=float)
            out[key] = float(values.mean())
            out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def calibrate(judge: judge_mod.Judge, real: Board, noise: Board, ref: judge_mod.Judged, ref_labels: np.ndarray) -> dict[str, float]:
    """The judge's scale at the scoreboard's n: real training images (floor) and uniform noise (ceiling)
    against the n-image test reference, as the real and untrained rows score them; IS of the reference."""
    return {
        "fid_real_floor": score_board(judge, real, ref, ref_labels)["fid"],
        "fid_noise_ceiling": score_board(judge, noise, ref, ref_labels)["fid"],
        "inception_score_real": judge_mod.inception_score(ref.probs),
    }
