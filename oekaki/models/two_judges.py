"""The scoreboard's second reading: the ViT judge reads the very drawings the CNN judged, and where the two disagree.

Every conditional row's board (the same seeds, the same samples the CNN scored) is read again by the
Vision Transformer (oekaki/models/vit.py); each image's reading is the judge's most likely class. Per row:
- `conditional_accuracy_vit` (and `_std` over seeds, ddof=1 as scoreboard.score_board): the share the ViT
  reads as the asked-for label, the CNN's `conditional_accuracy` read by the other judge;
- `judges_disagree` (and `_std`): the share of samples the two judges read as different digits;
  `judges_disagree_n` those samples over every seed, `judges_disagree_cnn_asked` / `judges_disagree_vit_asked`
  how many of them each judge reads as the asked-for label. Where the judges agree they are both right or
  both wrong, so the two accuracies differ by exactly (cnn_asked - vit_asked) / samples: a painter that
  fools one judge but not the other shows up here, sample by sample (`disagreements`).

Kept apart from judge.py and scoreboard.py, which the painter stages import: the second reading is the
evaluate stage's alone, so the painters' code (and their DVC caches) stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.errors import TrainingError
from oekaki.models import vit
from oekaki.models.judge import Judge
from oekaki.models.scoreboard import Board

MAX_SHOWN = 10  # disagreement samples per row saved for the report's figure
SECOND_JUDGE_KEYS = (  # what `compare` adds to a conditional row (None on an unconditional one)
    "conditional_accuracy_vit", "conditional_accuracy_vit_std", "judges_disagree", "judges_disagree_std",
    "judges_disagree_n", "judges_disagree_cnn_asked", "judges_disagree_vit_asked",
)  # fmt: skip


def load_vit_judge(vit_path: Path, cnn_path: Path, device: torch.device | str = "cpu") -> Judge:
    """The vit stage's classifier as a Judge; refused unless it was trained on the CNN judge's data (same sha256)."""
    ckpt, cnn = load_checkpoint(vit_path), load_checkpoint(cnn_path)
    if ckpt.get("kind") != "vit":
        raise TrainingError(f"{vit_path}: holds a {ckpt.get('kind')!r} model, not the ViT; re-run the vit stage (`dvc repro vit`)")
    if ckpt.get("data_sha256") != cnn.get("data_sha256"):
        raise TrainingError(
            f"{vit_path} was trained on other data than the CNN judge {cnn_path}; re-run the vit stage on the current data "
            f"(`dvc repro vit`, which re-runs cnn first when it is stale)"
        )
    return Judge(vit.from_checkpoint(ckpt), device)


def readings(judge: Judge, board: Board) -> np.ndarray:
    """The digit `judge` reads in each image of the board: (n_seeds, n) int64."""
    return np.stack([judge.judge(images).probs.argmax(1) for images in board.images])


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (0 for one seed), as scoreboard.score_board gives them."""
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def compare(asked: np.ndarray, cnn: np.ndarray, vit_read: np.ndarray) -> dict[str, float | int]:
    """The ViT's conditional accuracy and the judges' disagreement on one board (all arrays (n_seeds, n))."""
    vit_right, cnn_right, differ = vit_read == asked, cnn == asked, cnn != vit_read  # (n_seeds, n) each
    accuracy, accuracy_std = _mean_std(vit_right.mean(1))
    share, share_std = _mean_std(differ.mean(1))
    return {
        "conditional_accuracy_vit": accuracy,
        "conditional_accuracy_vit_std": accuracy_std,
        "judges_disagree": share,
        "judges_disagree_std": share_std,
        "judges_disagree_n": int(differ.sum()),
        "judges_disagree_cnn_asked": int((differ & cnn_right).sum()),
        "judges_disagree_vit_asked": int((differ & vit_right).sum()),
    }


@dataclass(frozen=True)
class Disagreements:
    """Up to MAX_SHOWN samples the two judges read differently, in board order (seed by seed)."""

    images: np.ndarray  # (k, 28, 28) uint8
    asked: np.ndarray  # (k,) the label each was drawn for
    cnn: np.ndarray  # (k,) the CNN's reading
    vit: np.ndarray  # (k,) the ViT's reading


def disagreements(board: Board, cnn: np.ndarray, vit_read: np.ndarray, limit: int = MAX_SHOWN) -> Disagreements:
    """The first `limit` samples (seed by seed, in drawing order) that the two judges read as different digits."""
    seed, index = np.nonzero(cnn != vit_read)  # row-major: seed 0's first
    seed, index = seed[:limit], index[:limit]
    return Disagreements(board.images[seed, index], board.requested[seed, index], cnn[seed, index], vit_read[seed, index])
