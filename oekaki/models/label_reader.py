"""The VAE's own label reader: a small classifier that teaches the decoder to draw the label it is given.

A conditional VAE's decoder may ignore its label when the latent vector already says which
digit or garment it saw (docs/painters.md: on full Fashion-MNIST a quarter of the drawings
were another class). The reader is trained beside the VAE, on real training images only, to
name their label. The decoder then gets one more loss term: a few latent vectors of the batch
are decoded with random labels, and the reader, with its weights held fixed, must read each
drawing as the label it was decoded with (the auxiliary-classifier idea of AC-GAN, Odena et
al. 2017, applied to the decoder). The reader never learns from drawings, so the decoder cannot
agree a private code with it; and it is not the judge that scores the painters (a different,
smaller network trained in another stage), so the scoreboard still measures something the
VAE was not fitted to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from oekaki.core.constants import N_CLASSES
from oekaki.data import dataset


class LabelReader(nn.Module):
    """Two stride-2 convolutions (28 -> 14 -> 7 pixels, `width` and 2 * `width` channels) and a linear layer to 10 logits."""

    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Flatten(), nn.Linear(2 * width * 49, N_CLASSES),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, 28, 28) grey levels in [0, 1] -> label logits (B, 10)."""
        return self.net(x)


def read_as(reader: LabelReader, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the reader's reading of `images` against `labels`, with the reader's weights held fixed.

    The gradient reaches the images (and through them the decoder) and never the reader's own weights.
    """
    fixed = {name: p.detach() for name, p in reader.named_parameters()}
    return F.cross_entropy(torch.func.functional_call(reader, fixed, (images,)), labels)


@torch.no_grad()
def accuracy(reader: LabelReader, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """Share of images x (B, 1, 28, 28) in [0, 1] the reader names correctly."""
    was_training = reader.training
    reader.eval()
    hits = sum(int((reader(x[idx]).argmax(1) == y[idx]).sum()) for idx in dataset.batch_indices(len(y), batch, None))
    reader.train(was_training)
    return hits / max(len(y), 1)
