"""Self-describing checkpoints: written atomically, loaded without running code, resumed only by the run that wrote them.

A checkpoint is a dict of plain tensors and containers, loaded with `torch.load(weights_only=True)`
so that a checkpoint can never run code. The training loop's checkpoint also holds what the next
step needs (every `state_dict`, the random generators) and a signature of the stage params, the
data and the code: it is resumed only when that signature matches the current run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from oekaki.core.errors import CheckpointError
from oekaki.core.io import atomic_path

CHECKPOINT_FORMAT = "oekaki-checkpoint/1"


@dataclass(frozen=True)
class Checkpointing:
    """What the training loop saves after every epoch, and what a checkpoint must match to be resumed."""

    path: Path
    signature: str  # `signature(...)` of this run: a checkpoint of other params, data or code starts training afresh
    state: dict[str, Any]  # name -> object with state_dict()/load_state_dict(): models, optimisers, schedulers, EMA copies
    generator: torch.Generator  # the stage's own random generator (data order, noise, augmentation)
    meta: dict[str, Any] = field(default_factory=dict)  # saved as is, e.g. {"kind", "model_args"}: the checkpoint describes itself


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
    """The random state the next training step draws from: torch's global generator (and CUDA's), the stage's own."""
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    """Put back what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
