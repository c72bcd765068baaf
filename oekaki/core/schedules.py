"""How long a training stage trains and how its learning rate moves: epochs, scored epochs, the schedule."""

from __future__ import annotations

import math

import torch

from oekaki.core.errors import TrainingError


def plan_epochs(stage: str, epochs: int, min_steps: int, batch_size: int, n_train: int) -> tuple[int, int]:
    """(epochs, steps per epoch): at least `epochs`, more when needed to reach `min_steps` steps.

    Scheduling by optimiser steps as well keeps a 4,000-image sample and 60,000 images comparable.
    """
    if batch_size > n_train:
        raise TrainingError(f"{stage}.batch_size = {batch_size} is larger than the {n_train} training images; lower it")
    steps = math.ceil(n_train / batch_size)
    return max(epochs, math.ceil(min_steps / steps)), steps


def is_eval_epoch(epoch: int, epochs: int, every: int) -> bool:
    """Whether epoch `epoch` (1-based) of `epochs` is scored: every `every`-th one, and always the last."""
    return epoch % every == 0 or epoch == epochs


def lr_schedule(opt: torch.optim.Optimizer, schedule: str, lr: float, total_steps: int):
    """`onecycle` (peak `lr`, over `total_steps` optimiser steps) or `constant`."""
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
