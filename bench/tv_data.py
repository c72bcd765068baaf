"""Prepared arrays served the pytorch/examples way: torchvision's MNIST dataset and a DataLoader."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from oekaki.data import idx


def torchvision_loaders(prepared: Path, workdir: Path, batch_size: int, normalize: bool = True):
    """The prepared arrays as torchvision MNIST files, read back per sample, pytorch/examples style."""
    from torchvision import datasets, transforms

    raw = workdir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    with np.load(prepared) as d:
        for key, stem in (("train_images", "train-images-idx3-ubyte"), ("train_labels", "train-labels-idx1-ubyte"),
                          ("test_images", "t10k-images-idx3-ubyte"), ("test_labels", "t10k-labels-idx1-ubyte")):  # fmt: skip
            (raw / stem).write_bytes(idx.encode_idx(d[key]))
            (raw / f"{stem}.gz").write_bytes(gzip.compress(idx.encode_idx(d[key])))
    steps = [transforms.ToTensor()] + ([transforms.Normalize((0.1307,), (0.3081,))] if normalize else [])
    tf = transforms.Compose(steps)
    train = datasets.MNIST(str(workdir), train=True, download=False, transform=tf)
    test = datasets.MNIST(str(workdir), train=False, download=False, transform=tf)
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True)
    return loader, torch.utils.data.DataLoader(test, batch_size=1000)
