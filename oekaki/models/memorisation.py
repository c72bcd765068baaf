"""The memorisation check every painter shares: are its samples copies of training images?"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core.plots import plt, save_figure, tile
from oekaki.data.dataset import TensorData
from oekaki.models.judge import Judge

N_MEMO = 8


def memorisation(judge: Judge, data: TensorData, samples: np.ndarray, path: Path, dpi: int) -> tuple[Path, float]:
    """Nearest training images (judge features) of a few samples; and the memorisation ratio.

    Ratio = median distance from generated images to their nearest training image / the same
    for real test images. Near 1: samples are as far from the training set as new real digits
    are; well below 1: the generator is copying training images.
    """
    train_x = data.train_x.cpu().numpy()
    train_f = torch.as_tensor(judge.judge(train_x).features)
    n = min(len(samples), len(data.test_y), 1000)
    gen_f = torch.as_tensor(judge.judge(samples[:n]).features)
    test_f = torch.as_tensor(judge.judge(data.test_x[:n].cpu().numpy()).features)
    d_gen, nn_gen = torch.cdist(gen_f, train_f).topk(3, largest=False)
    d_test = torch.cdist(test_f, train_f).min(1).values
    ratio = float(d_gen[:, 0].median() / d_test.median())
    rows = []
    for i in range(N_MEMO):
        rows += [samples[i], *train_x[nn_gen[i].numpy()]]
    mosaic = tile(np.stack(rows), 4)
    fig, ax = plt.subplots(figsize=(3.6, 0.9 * N_MEMO))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([14.5, 43.5, 72.5, 101.5], ["generated", "nearest\ntrain 1", "2", "3"], fontsize=7)
    ax.set_yticks([])
    return save_figure(fig, path, dpi), ratio
