"""The memorisation check every painter shares: are its samples copies of training images?"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import figure_data
from oekaki.data.dataset import TensorData
from oekaki.models.judge import Judge

N_MEMO = 8


def memorisation(judge: Judge, data: TensorData, samples: np.ndarray, path: Path) -> tuple[Path, float]:
    """The memorisation ratio; and, as figure data at `path`, a few samples beside their nearest training images.

    Ratio = median distance from generated images to their nearest training image / the same
    for real test images (distances between judge features). Near 1: samples are as far from the
    training set as new real digits are; well below 1: the generator is copying training images.
    The figure (kind `memorisation`, drawn by oekaki/figures/base.py) shows the first N_MEMO samples
    and their three nearest training images.
    """
    train_x = data.train_x.cpu().numpy()
    train_f = torch.as_tensor(judge.judge(train_x).features)
    n = min(len(samples), len(data.test_y), 1000)
    gen_f = torch.as_tensor(judge.judge(samples[:n]).features)
    test_f = torch.as_tensor(judge.judge(data.test_x[:n].cpu().numpy()).features)
    d_gen, nn_gen = torch.cdist(gen_f, train_f).topk(3, largest=False)
    d_test = torch.cdist(test_f, train_f).min(1).values
    ratio = float(d_gen[:, 0].median() / d_test.median())
    shown = min(N_MEMO, n)
    neighbours = train_x[nn_gen[:shown].numpy()]  # (shown, 3, 28, 28)
    return figure_data.save(path, "memorisation", samples=samples[:shown], neighbours=neighbours), ratio
