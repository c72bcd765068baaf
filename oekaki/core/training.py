"""The epoch loop every training stage shares (cnn, vae, gan, diffusion), and its progress bar.

`fit` trains epoch by epoch with an atomic checkpoint after each (oekaki.core.checkpoints) and
resumes from one that matches the run; the data and its batches live in oekaki.data.dataset, the
device in oekaki.core.device, the number of epochs and the learning-rate schedule in
oekaki.core.schedules. A progress bar per epoch in a terminal, plain log lines otherwise.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from oekaki.core.checkpoints import Checkpointing, resumable, rng_state, save_checkpoint, set_rng_state
from oekaki.core.errors import TrainingError
from oekaki.core.timing import phase


@dataclass
class Fit:
    history: list[dict[str, float]]  # one row per epoch, "step" = epoch
    seconds: float  # training time, summed over resumed runs
    snapshots: list[np.ndarray]  # the per-epoch image grid, when the stage draws one


def check_finite(value: float, what: str, epoch: int) -> None:
    if not math.isfinite(value):
        raise TrainingError(f"{what} became {value} in epoch {epoch}; lower the learning rate. The last good checkpoint is kept.")


def fit(
    stage: str,
    *,
    epochs: int,
    run_epoch: Callable[[int], dict[str, float]],
    checkpointing: Checkpointing,
    monitor: Any,
    log: logging.Logger,
    snapshot: Callable[[], np.ndarray] | None = None,
) -> Fit:
    """Train `epochs` epochs with an atomic checkpoint after each; resume from a matching one.

    `checkpointing.state` (models, optimisers, schedulers) and the random generators are all
    saved in the checkpoint. `run_epoch(epoch)` trains one epoch and returns its numbers (numpy
    scalars become Python numbers: the checkpoint holds plain data only); a non-finite one stops
    training before that epoch's checkpoint is written, so the last good checkpoint survives.
    `snapshot()` draws the fixed-noise grid after each epoch (kept in the checkpoint, so a resumed
    run still has every epoch's grid). Every epoch goes to `monitor` (oekaki.core.contract.Monitor)
    as it finishes, the restored ones first after a resume.
    """
    ck = checkpointing
    history, seconds, start, snapshots = [], 0.0, 1, []
    if saved := resumable(ck.path, ck.signature, log):
        for name, obj in ck.state.items():
            obj.load_state_dict(saved[name])
        set_rng_state(saved["rng"], ck.generator)
        history, seconds, start = saved["history"], saved["train_seconds"], saved["epoch"] + 1
        snapshots = [s.numpy() for s in saved.get("snapshots", [])]
        log.info("resuming from %s after epoch %d of %d", ck.path, saved["epoch"], epochs)
        for i, row in enumerate(history):  # this run's tracking record gets the epochs before the crash too
            monitor.epoch(f"{stage}_history", row, {f"{stage}_samples": snapshots[i]} if i < len(snapshots) else None)
    for epoch in range(start, epochs + 1):
        t0 = time.perf_counter()
        row = {"step": epoch, **{k: v.item() if isinstance(v, np.generic) else v for k, v in run_epoch(epoch).items()}}
        seconds += time.perf_counter() - t0
        for key, value in row.items():
            check_finite(value, f"{stage} {key}", epoch)
        images = None
        if snapshot is not None:
            with phase("epoch_snapshot"):
                snapshots.append(snapshot())
            images = {f"{stage}_samples": snapshots[-1]}
        history.append(row)
        with phase("mlflow_logging"):
            monitor.epoch(f"{stage}_history", row, images)
        with phase("checkpoint"):
            state = {name: obj.state_dict() for name, obj in ck.state.items()}
            save_checkpoint(
                ck.path,
                {**ck.meta, **state, "epoch": epoch, "epochs": epochs, "rng": rng_state(ck.generator), "history": history,
                 "train_seconds": seconds, "signature": ck.signature, "snapshots": [torch.from_numpy(s) for s in snapshots]},
            )  # fmt: skip
    return Fit(history, seconds, snapshots)


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """ema <- d ema + (1 - d) model, with d warmed up as min(decay, (1 + step) / (10 + step)): early epochs are not stuck at init.

    The moving average of a painter's weights that it draws with (the diffusion painter, the text painter).
    """
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.lerp_(p, 1 - d)


class Progress:
    """tqdm bar in a terminal; one log line per ~25 % otherwise (DVC and CI logs stay readable)."""

    def __init__(self, total: int, desc: str, log: logging.Logger):
        self.total, self.desc, self.log = total, desc, log
        self.n, self.t0, self.next_log = 0, time.perf_counter(), 0.25
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True)

    def update(self, images: int, **stats: float) -> None:
        self.n += images
        rate = self.n / max(time.perf_counter() - self.t0, 1e-9)
        if self.bar is not None:
            self.bar.update(images)
            self.bar.set_postfix({**{k: f"{v:.4f}" for k, v in stats.items()}, "img/s": f"{rate:.0f}"})
        elif self.n >= self.next_log * self.total:
            self.log.info(
                "%s %3.0f%% %s %.0f img/s", self.desc, 100 * self.n / self.total, " ".join(f"{k}={v:.4f}" for k, v in stats.items()), rate
            )
            self.next_log += 0.25

    def close(self) -> float:
        if self.bar is not None:
            self.bar.close()
        return self.n / max(time.perf_counter() - self.t0, 1e-9)
