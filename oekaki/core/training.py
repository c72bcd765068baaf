"""Machinery every training stage shares (cnn, vae, gan, diffusion).

- the whole dataset as uint8 tensors in memory, batches sliced by index, augmentation
  vectorised per batch (no per-sample PIL images or transforms);
- device and thread choice from `base`, and freed memory kept in the process (`keep_freed_memory`);
- self-describing checkpoints written atomically after every epoch, loaded with
  `torch.load(weights_only=True)` so a checkpoint can never run code, and resumed only
  when their signature (stage params, data hash, code hash) matches the current run;
- a progress bar per epoch in a terminal, plain log lines otherwise.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import math
import pickle
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oekaki.core.config import BaseConfig
from oekaki.core.constants import DATA_KEYS, INFERENCE_BATCH
from oekaki.core.errors import CheckpointError, TrainingError
from oekaki.core.io import arrays_sha256, atomic_path
from oekaki.core.timing import phase

CHECKPOINT_FORMAT = "oekaki-checkpoint/1"


# --------------------------------------------------------------------------- device, data
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Keep the memory freed tensors leave behind in the process, for the next step's tensors (glibc only).

    PyTorch has no caching allocator on the CPU: every training step frees its activations and
    gradients and allocates them again. glibc then gives the freed top of the heap back to the
    kernel (above 128 KiB by default) and serves large blocks with mmap, so each step's buffers
    come back as fresh pages the kernel must zero on first touch. With both thresholds raised
    (`mallopt`), the diffusion model's training step took 71-74 ms instead of 76-81 ms, with
    150,000 page faults instead of 465,000-614,000 over 85 steps (docs/speed.md). Raising the
    trim threshold alone is worse than neither: it also freezes the mmap threshold at 128 KiB.
    The arithmetic does not change (CPU tensors stay 64-byte aligned, c10's allocator). True
    when glibc took both settings; elsewhere (macOS, musl) nothing happens.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def resolve_device(base: BaseConfig) -> torch.device:
    """`auto` = CUDA when present, else CPU; `cuda` without a GPU is an error, not a silent CPU run.

    Also sets the process up for training: `base.threads` torch threads, freed memory kept.
    """
    torch.set_num_threads(base.threads)
    keep_freed_memory()
    if base.device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("base.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if base.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


@dataclass
class TensorData:
    """Prepared images (N, 28, 28) uint8 and labels (N,) int64, on the training device.

    Training reads train_*, the reported test numbers test_*; validation_* (val_x, val_y) is the
    promotion gate's alone, carved out of the source's training split by the download stage.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    sha256: str  # over all six arrays
    val_x: torch.Tensor
    val_y: torch.Tensor
    validation_sha256: str  # over the validation arrays alone (the promotion gate's evaluation key)

    @classmethod
    def load(cls, path: Path, device: torch.device) -> TensorData:
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in DATA_KEYS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise TrainingError(
                f"{path}: not a readable prepared-data file ({exc}); re-run the download stage (`dvc repro download`)"
            ) from exc

        def t(key: str) -> torch.Tensor:
            return torch.from_numpy(arrays[key]).to(device)

        validation = {k: v for k, v in arrays.items() if k.startswith("validation_")}
        return cls(
            t("train_images"), t("train_labels").long(), t("test_images"), t("test_labels").long(), arrays_sha256(arrays),
            t("validation_images"), t("validation_labels").long(), arrays_sha256(validation),
        )  # fmt: skip


def check_class_labels(stage: str, conditional: bool, data: TensorData, n_classes: int = 10) -> None:
    """A conditional generator needs labels 0..n_classes-1 in both splits; say how to go on otherwise."""
    if not conditional:
        return
    for split, y in (("train", data.train_y), ("test", data.test_y)):
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= n_classes:
            raise TrainingError(
                f"{stage}.conditional = true needs class labels 0-{n_classes - 1}, but the {split} labels in data/prepared.npz "
                f"run from {lo} to {hi}; set {stage}.conditional=false to train without labels"
            )


@torch.no_grad()
def truncated_normal(n: int, width: int, seed: int, truncation: float) -> torch.Tensor:
    """Fixed-seed N(0, I) codes (n, width); with truncation > 0 every entry beyond +-truncation is redrawn.

    The truncation trick (Brock et al. 2019, BigGAN): codes nearer the mode give more faithful
    drawings of the asked class at some cost in variety; 0 = plain N(0, I).
    """
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, width, generator=gen)
    if truncation > 0:
        while (far := z.abs() > truncation).any():
            z[far] = torch.randn(int(far.sum()), generator=gen)
    return z


def sample_images(
    model: torch.nn.Module,
    width: int,
    n: int,
    labels: np.ndarray | None,
    seed: int,
    batch_size: int = INFERENCE_BATCH,
    truncation: float = 0.0,
) -> np.ndarray:
    """n images from a generator's `images(code, labels)` with fixed-seed (truncated) N(0, I) codes of `width`.

    In eval mode (batch norm uses its running statistics), so the same seed gives the same
    images; the model's train/eval mode is restored afterwards. uint8 (n, 28, 28).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    z = truncated_normal(n, width, seed, truncation)
    out = []
    for start in range(0, n, batch_size):
        y = torch.as_tensor(labels[start : start + batch_size]).long().to(device) if labels is not None else None
        out.append(model.images(z[start : start + batch_size].to(device), y).cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None) -> Iterator[torch.Tensor]:
    """Index slices of one epoch (shuffled with `generator`, in order when it is None)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of x (B, H, W) by its own random (dy, dx) in [-s, s], zero fill; vectorised."""
    if max_shift == 0:
        return x
    b, h, w = x.shape
    s = max_shift
    padded = torch.nn.functional.pad(x, (s, s, s, s))  # (B, H+2s, W+2s)
    offs = torch.randint(0, 2 * s + 1, (b, 2), generator=generator).to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + offs[:, :1])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w, device=x.device)[None, :] + offs[:, 1:])[:, None, :]  # (B, 1, W)
    return padded[torch.arange(b, device=x.device)[:, None, None], rows, cols]


# --------------------------------------------------------------------------- checkpoints
def signature(stage: str, params: dict, data_sha256: str, code_files: list[Path]) -> str:
    """What a checkpoint must match to be resumed: stage params, data content, model/training code."""
    h = hashlib.sha256(json.dumps({"stage": stage, "params": params, "data": data_sha256}, sort_keys=True, default=list).encode())
    for f in code_files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write {format, ...payload} atomically: a crash mid-write leaves the previous checkpoint."""
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load plain tensors and containers only; anything that would unpickle code is refused."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused: it holds pickled objects, not plain tensors (weights_only load failed: {str(exc).splitlines()[0]})"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({exc}); delete it to start fresh") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not an oekaki checkpoint (format {ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__!r})"
        )
    return ckpt


def resumable(path: Path, expected_signature: str, log: logging.Logger) -> dict[str, Any] | None:
    """The checkpoint at `path` if it belongs to this exact run; else None, and the log says why."""
    if not path.is_file():
        return None
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        log.warning("not resuming: %s", exc)
        return None
    if ckpt.get("signature") != expected_signature:
        log.warning("not resuming from %s: it was written for other params, data or code; training starts fresh", path)
        return None
    return ckpt


def rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_finite(value: float, what: str, epoch: int) -> None:
    if not math.isfinite(value):
        raise TrainingError(f"{what} became {value} in epoch {epoch}; lower the learning rate. The last good checkpoint is kept.")


def lr_schedule(opt: torch.optim.Optimizer, schedule: str, lr: float, total_steps: int):
    """`onecycle` (peak `lr`, over `total_steps` optimiser steps) or `constant`."""
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


# --------------------------------------------------------------------------- the epoch loop
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


@dataclass
class Fit:
    history: list[dict[str, float]]  # one row per epoch, "step" = epoch
    seconds: float  # training time, summed over resumed runs
    snapshots: list[np.ndarray]  # the per-epoch image grid, when the stage draws one


def fit(
    stage: str,
    checkpoint: Path,
    sig: str,
    stateful: dict[str, Any],
    gen: torch.Generator,
    epochs: int,
    run_epoch: Callable[[int], dict[str, float]],
    monitor: Any,
    log: logging.Logger,
    meta: dict[str, Any],
    snapshot: Callable[[], np.ndarray] | None = None,
) -> Fit:
    """Train `epochs` epochs with an atomic checkpoint after each; resume from a matching one.

    `stateful`: name -> object with state_dict()/load_state_dict() (models, optimisers,
    schedulers), all saved in the checkpoint. `run_epoch(epoch)` trains one epoch and returns
    its numbers (numpy scalars become Python numbers: the checkpoint holds plain data only);
    a non-finite one stops training before that epoch's checkpoint is written, so the last
    good checkpoint survives. `snapshot()` draws the fixed-noise grid after each epoch
    (kept in the checkpoint, so a resumed run still has every epoch's grid). Every epoch goes
    to `monitor` (oekaki.stage.Monitor) as it finishes, the restored ones first after a resume.
    """
    history, seconds, start, snapshots = [], 0.0, 1, []
    if ckpt := resumable(checkpoint, sig, log):
        for name, obj in stateful.items():
            obj.load_state_dict(ckpt[name])
        set_rng_state(ckpt["rng"], gen)
        history, seconds, start = ckpt["history"], ckpt["train_seconds"], ckpt["epoch"] + 1
        snapshots = [s.numpy() for s in ckpt.get("snapshots", [])]
        log.info("resuming from %s after epoch %d of %d", checkpoint, ckpt["epoch"], epochs)
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
            state = {name: obj.state_dict() for name, obj in stateful.items()}
            save_checkpoint(
                checkpoint,
                {**meta, **state, "epoch": epoch, "epochs": epochs, "rng": rng_state(gen), "history": history,
                 "train_seconds": seconds, "signature": sig, "snapshots": [torch.from_numpy(s) for s in snapshots]},
            )  # fmt: skip
    return Fit(history, seconds, snapshots)


# --------------------------------------------------------------------------- progress
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
