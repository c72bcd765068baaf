"""Every painter behind one call: n images of the requested labels, from the stages' saved models.

The scoreboard (`evaluate`) and the promotion gate (`promote`) both draw through `draw`, so a
painter is sampled the same way wherever it is scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import training
from oekaki.core.paths import Paths
from oekaki.models import judge as judge_mod
from oekaki.models.gmm import sample_digit_model
from oekaki.models.loading import NETWORKS, load_network


def draw(
    name: str,
    paths: Paths,
    labels: np.ndarray,
    seed: int,
    device: torch.device,
    test: tuple[np.ndarray, np.ndarray],
    checkpoint: Path | None = None,
):
    """n images from generator `name`, asked for `labels` where it takes labels; (images, labels or None).

    `checkpoint`: another vae/gan checkpoint than the workspace's (the promotion gate scores champions).
    """
    n = len(labels)
    if name == "real":  # the test images in the order that gave `labels` (same permutation, same seed)
        x, y = test
        pick = judge_mod.requested_indices(len(y), n, seed)
        return x[pick], y[pick]
    if name == "untrained":
        return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8), None
    if name == "gmm":
        with np.load(paths.gmm_digit_model) as npz:
            return sample_digit_model(dict(npz), labels, seed), labels
    model = load_network(training.load_checkpoint(checkpoint or paths.final_model(name))).to(device)
    conditional = model.args.conditional
    return NETWORKS[name].generate(model, n, labels if conditional else None, seed), (labels if conditional else None)
