"""Every painter behind one call: n images of the requested labels, from the stages' saved models.

The scoreboard (`evaluate`) and the promotion gate (`promote`) both draw through `draw`, so a
painter is sampled the same way wherever it is scored.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from oekaki.core import checkpoints
from oekaki.core.paths import Paths
from oekaki.models import scoreboard
from oekaki.models.gmm import sample_digit_model
from oekaki.models.loading import NETWORKS, load_network


def draw(
    name: str,
    paths: Paths,
    labels: np.ndarray,
    seed: int,
    device: torch.device,
    pool: tuple[np.ndarray, np.ndarray],
    checkpoint: Path | None = None,
):
    """n images from generator `name`, asked for `labels` where it takes labels; (images, labels or None).

    `pool`: the real images (x, y) the `real` row draws from; the scoreboard passes the training
    set, so that real row is never the reference (test) images themselves.
    `checkpoint`: another vae/gan checkpoint than the workspace's (the promotion gate scores champions).
    """
    n = len(labels)
    if name == "real":
        x, y = pool
        return x[scoreboard.real_indices(y, labels, seed)], labels.copy()
    if name == "untrained":
        return scoreboard.noise_images(n, seed), None
    if name == "gmm":
        with np.load(paths.gmm_digit_model) as npz:
            return sample_digit_model(dict(npz), labels, seed), labels
    model = load_network(checkpoints.load_checkpoint(checkpoint or paths.final_model(name))).to(device)
    conditional = model.args.conditional
    return NETWORKS[name].generate(model, n, labels if conditional else None, seed), (labels if conditional else None)


def draw_painter(name: str, paths: Paths, proto: scoreboard.Protocol, device: torch.device, pool) -> scoreboard.Board:
    """The scoreboard's samples of painter `name` (scoreboard.draw_board through `draw`): evaluate's gmm, real and untrained rows."""
    asked: list[bool] = []

    def paint(labels: np.ndarray, seed: int) -> np.ndarray:
        images, got = draw(name, paths, labels, seed, device, pool)
        asked.append(got is not None)
        return images

    board = scoreboard.draw_board(paint, proto, True)
    return replace(board, conditional=all(asked))
