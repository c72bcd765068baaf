"""The prepared data in memory: the whole dataset as uint8 tensors, batches sliced by index.

No per-sample PIL images or transforms: augmentation is vectorised over a batch. Training,
evaluation and the promotion gate all read data/prepared.npz through `TensorData.load`.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from oekaki.core.constants import DATA_KEYS
from oekaki.core.errors import TrainingError
from oekaki.core.io import arrays_sha256
from oekaki.core.paths import Paths
from oekaki.data import snapshot as snapshot_mod


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
    # contributed digits (load_training): the held-out ones the gate scores, never trained on, and what was merged
    contrib_val_x: torch.Tensor | None = None
    contrib_val_y: torch.Tensor | None = None
    snapshot_digest: str | None = None
    n_contributed: int = 0  # distinct contributed digits in train_x (before the weight's repeats)
    n_base_train: int | None = None  # train_x[:n_base_train] is the source's training split

    @classmethod
    def load(cls, path: Path, device: torch.device) -> TensorData:
        """Read the arrays named by DATA_KEYS from `path` onto `device`, with their SHA-256s."""
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


def load_training(paths: Paths, device: torch.device, weight: int) -> TensorData:
    """The data every training stage trains on, read the one way they all read it: data/prepared.npz plus
    the contributions snapshot's training digits, each repeated `weight` times (contributions.weight).

    The snapshot's held-out digits become contrib_val_x/y (the gate's, never trained on); quarantined ones are
    left out. With no contributed training digit the data and its sha256 are exactly data/prepared.npz's, so
    checkpoints, caches and numbers stay those of the base dataset; otherwise the sha256 also covers the
    snapshot's digest and the weight, so a checkpoint never resumes across snapshots.
    """
    base = TensorData.load(paths.prepared, device)
    return with_contributions(base, snapshot_mod.read(paths.contributions_snapshot), weight)


def with_contributions(base: TensorData, snap: dict, weight: int) -> TensorData:
    """`base` with the snapshot `snap` merged in (see load_training)."""
    device = base.train_x.device
    split = snap["split"]
    val = split == snapshot_mod.VALIDATION
    held_x = torch.from_numpy(snap["images"][val]).to(device)
    held_y = torch.from_numpy(snap["labels"][val]).long().to(device)
    train = split == snapshot_mod.TRAIN
    n = int(train.sum())
    digest = arrays_sha256(snap) if len(split) else None
    out = replace(base, contrib_val_x=held_x, contrib_val_y=held_y, snapshot_digest=digest, n_base_train=len(base.train_y))
    if n == 0:
        return out
    x = torch.from_numpy(snap["images"][train]).to(device).repeat(weight, 1, 1)
    y = torch.from_numpy(snap["labels"][train]).long().to(device).repeat(weight)
    sha = hashlib.sha256(f"{base.sha256}+{digest}x{weight}".encode()).hexdigest()
    return replace(out, train_x=torch.cat([base.train_x, x]), train_y=torch.cat([base.train_y, y]), sha256=sha, n_contributed=n)


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
