"""The GAN: a generator that turns noise into digits and a discriminator that tells real from fake.

DCGAN layout at MNIST's native 28x28 (pytorch/examples upsamples to 64x64, about five times
the compute): the generator projects noise to 7x7 feature maps and doubles the resolution
twice with transposed convolutions (7 -> 14 -> 28); the discriminator is a small CNN that
halves it twice (28 -> 14 -> 7) and outputs one logit, "how real". When `conditional`, the
generator gets the label as a learned embedding next to the noise and the discriminator is a
projection discriminator (Miyato & Koyama 2018): its logit adds <embed(label), features>, so
it judges "is this a real 7", and the generator must draw the digit it was asked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from oekaki.core.config import GanConfig
from oekaki.core.constants import N_CLASSES
from oekaki.models import sampling


@dataclass(frozen=True)
class GanArgs:
    """Everything needed to rebuild both networks (stored in every checkpoint); no defaults: see from_config."""

    noise_size: int
    g_channels: tuple[int, int]
    d_channels: tuple[int, int]
    conditional: bool
    spectral_norm: bool
    aux_classifier: bool
    truncation: float  # sampling: noise entries beyond +-truncation redrawn (0 = plain N(0, I))

    @classmethod
    def from_config(cls, c: GanConfig) -> GanArgs:
        """The AC-GAN auxiliary classifier exists only for a conditional GAN with aux_weight > 0."""
        aux = c.conditional and c.aux_weight > 0
        return cls(c.noise_size, tuple(c.g_channels), tuple(c.d_channels), c.conditional, c.spectral_norm, aux, float(c.truncation))

    def as_dict(self) -> dict:
        return {**asdict(self), "g_channels": list(self.g_channels), "d_channels": list(self.d_channels)}


class Generator(nn.Module):
    def __init__(self, args: GanArgs):
        super().__init__()
        self.args = args
        c1, c2 = args.g_channels
        self.embed = nn.Embedding(N_CLASSES, N_CLASSES) if args.conditional else None
        width = args.noise_size + (N_CLASSES if args.conditional else 0)
        self.project = nn.Sequential(nn.Linear(width, c1 * 49, bias=False), nn.BatchNorm1d(c1 * 49), nn.ReLU(True))
        self.up = nn.Sequential(
            nn.Unflatten(1, (c1, 7, 7)),
            nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(True),  # 14
            nn.ConvTranspose2d(c2, 1, 4, stride=2, padding=1), nn.Tanh(),  # 28, in [-1, 1]
        )  # fmt: skip
        self.to(memory_format=torch.channels_last)  # conv weights NHWC for oneDNN, as the discriminator's (docs/speed.md)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """noise (B, noise_size) [+ labels (B,)] -> images (B, 1, 28, 28) in [-1, 1]."""
        if self.embed is not None:
            if labels is None:
                raise ValueError("the conditional generator needs labels")
            noise = torch.cat([noise, self.embed(labels)], 1)
        return self.up(self.project(noise))

    @torch.no_grad()
    def images(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 (B, 28, 28) images."""
        return ((self(noise, labels)[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


class Discriminator(nn.Module):
    def __init__(self, args: GanArgs):
        super().__init__()
        self.args = args
        c1, c2 = args.d_channels
        sn = spectral_norm if args.spectral_norm else (lambda m: m)
        self.features = nn.Sequential(
            sn(nn.Conv2d(1, c1, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True),  # 14
            sn(nn.Conv2d(c1, c2, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True),  # 7
            nn.Flatten(),
        )  # fmt: skip
        self.out = sn(nn.Linear(c2 * 49, 1))
        self.embed = sn(nn.Embedding(N_CLASSES, c2 * 49)) if args.conditional else None
        self.classify = sn(nn.Linear(c2 * 49, N_CLASSES)) if args.aux_classifier else None
        # Conv weights channels-last (NHWC): gan_levers bench of e145069: nchw -> default 1,002-1,045 -> 1,041-1,119 images/s (AVX-512 Xeon)
        self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, 1, 28, 28) in [-1, 1] -> logits (B,): high = looks real (and like its label)."""
        return self.scores(images, labels)[0]

    def scores(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(real/fake logits (B,), class logits (B, 10) of the auxiliary classifier or None)."""
        h = self.features(images)
        logit = self.out(h)[:, 0]
        if self.embed is not None:
            if labels is None:
                raise ValueError("the conditional discriminator needs labels")
            logit = logit + (self.embed(labels) * h).sum(1)
        return logit, (self.classify(h) if self.classify is not None else None)


class GanSampler(nn.Module):
    """The generator as a one-input module for serving: code (B, noise [+ 10 one-hot]) -> images (B, 28, 28) in [0, 1]."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        g = self.generator
        n = g.args.noise_size
        noise = code[:, :n]
        if g.embed is not None:
            noise = torch.cat([noise, code[:, n:] @ g.embed.weight], 1)  # one-hot @ table = embedding lookup
        return (g.up(g.project(noise))[:, 0] + 1) / 2


def build(model_args: dict) -> tuple[Generator, Discriminator]:
    """Rebuild both networks from a checkpoint's `model_args`."""
    args = GanArgs(
        **{"truncation": 0.0, **model_args, "g_channels": tuple(model_args["g_channels"]), "d_channels": tuple(model_args["d_channels"])}
    )
    return Generator(args), Discriminator(args)


def generate(G: Generator, n: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """n images from fixed-seed noise (with the requested labels when conditional): uint8 (n, 28, 28)."""
    return sampling.sample_images(G, G.args.noise_size, n, labels, seed, truncation=G.args.truncation)


def from_checkpoint(ckpt: dict) -> Generator:
    """The trained generator a loaded checkpoint holds (weights only; the discriminator is not needed), in eval mode."""
    model, _ = build(ckpt["model_args"])
    model.load_state_dict(ckpt["generator"])
    return model.eval()
