"""What the benchmarks in bench/ share: the pytorch/examples data path their baselines train on.

Each script puts bench/ and the repository root on sys.path when run as a script
(`.venv/bin/python bench/<name>.py`), which is how this module and the package are found.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from oekaki.data import idx


def torchvision_loaders(prepared: Path, workdir: Path, batch_size: int, normalize: bool = True):
    """The prepared arrays as torchvision MNIST files, read back per sample through a DataLoader, as pytorch/examples does.

    Args:
        prepared: the pipeline's prepared arrays (data/prepared.npz).
        workdir: an empty scratch folder; the IDX files go to workdir/MNIST/raw.
        batch_size: the training loader's batch; the test loader reads 1,000 at a time.
        normalize: apply MNIST's usual mean/std (pytorch/examples' mnist does, its vae does not).

    Returns:
        (train loader, shuffled; test loader).
    """
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
