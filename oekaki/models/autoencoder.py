"""The latent painter's autoencoder: 28x28 pixels <-> a small spatial latent grid (4 x 7 x 7 on the defaults).

The text painter (oekaki/models/text_painter.py) never sees pixels: it learns to draw these latent
grids, and this decoder turns them into images, the way latent diffusion does (Rombach et al. 2022,
"High-resolution image synthesis with latent diffusion models"). Encoder: conv 3x3 at 28, two stride-2
convs (28 -> 14 -> 7), a 1x1 conv to a diagonal Gaussian per latent cell (mean, log-variance). Decoder:
the mirror, with transposed convs, ending in pixel logits. Loss per image in nats: Bernoulli reconstruction
(BCE summed over the pixels) + `kl_weight` x KL to N(0, I), summed over the latent cells: a light KL (as the
"KL-regularised" autoencoder of Rombach et al., much lighter than a VAE's) keeps the latent smooth and its scale
bounded, so noise in latent space is a sensible starting point, without blurring the reconstructions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oekaki.core.constants import INFERENCE_BATCH


@dataclass(frozen=True)
class AutoencoderArgs:
    """Everything needed to rebuild the autoencoder (stored in every checkpoint); no defaults."""

    channels: tuple[int, int]  # at 28 and at 14 / 7 pixels
    latent_channels: int  # the latent grid is latent_channels x 7 x 7

    @classmethod
    def from_config(cls, c) -> AutoencoderArgs:
        return cls(tuple(c.channels), c.latent_channels)

    def as_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}


class Autoencoder(nn.Module):
    """images in [0, 1] (B, 1, 28, 28) <-> latents (B, latent_channels, 7, 7)."""

    def __init__(self, args: AutoencoderArgs):
        super().__init__()
        self.args = args
        c0, c1 = args.channels
        z = args.latent_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c0, 3, padding=1), nn.SiLU(),  # 28
            nn.Conv2d(c0, c1, 4, stride=2, padding=1), nn.SiLU(),  # 28 -> 14
            nn.Conv2d(c1, c1, 4, stride=2, padding=1), nn.SiLU(),  # 14 -> 7
            nn.Conv2d(c1, 2 * z, 1),  # mean and log-variance per cell
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2d(z, c1, 3, padding=1), nn.SiLU(),  # 7
            nn.ConvTranspose2d(c1, c1, 4, stride=2, padding=1), nn.SiLU(),  # 7 -> 14
            nn.ConvTranspose2d(c1, c0, 4, stride=2, padding=1), nn.SiLU(),  # 14 -> 28
            nn.Conv2d(c0, 1, 3, padding=1),  # pixel logits
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance), each (B, latent_channels, 7, 7)."""
        mu, logvar = self.encoder(x).chunk(2, 1)
        return mu, logvar.clamp(-30, 20)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits (B, 1, 28, 28)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, gen: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=gen).to(mu.device)
        return self.decode(mu + (0.5 * logvar).exp() * eps), mu, logvar


def loss_terms(logits: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (reconstruction, KL) in nats, batch means: BCE summed over pixels; KL(N(mu, s^2) || N(0, I)) over cells
    (Kingma & Welling 2014, appendix B)."""
    rec = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(target)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(target)
    return rec, kl


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [0, 1]."""
    return images.float().div(255.0).unsqueeze(1)


def to_pixels(logits: torch.Tensor) -> np.ndarray:
    """Pixel logits (B, 1, 28, 28) -> uint8 (B, 28, 28)."""
    return (torch.sigmoid(logits[:, 0]) * 255).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def encode_means(model: Autoencoder, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The posterior means of uint8 images (N, 28, 28): (N, latent_channels, 7, 7), float32 on the model's device."""
    device = next(model.parameters()).device
    return torch.cat([model.encode(as_input(images[s : s + batch_size]).to(device))[0] for s in range(0, len(images), batch_size)])


@torch.no_grad()
def decode_images(model: Autoencoder, z: torch.Tensor, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """Latents (N, latent_channels, 7, 7) -> uint8 images (N, 28, 28)."""
    return np.concatenate([to_pixels(model.decode(z[s : s + batch_size])) for s in range(0, len(z), batch_size)])


@torch.no_grad()
def reconstruct(model: Autoencoder, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """uint8 images (N, 28, 28) through the encoder's means and the decoder: uint8 (N, 28, 28)."""
    return decode_images(model, encode_means(model, images, batch_size), batch_size)


@torch.no_grad()
def evaluate(model: Autoencoder, images: torch.Tensor, kl_weight: float, batch_size: int = 256) -> dict[str, float]:
    """Test loss terms (nats per image, the posterior means decoded: no sampling noise) and pixel MSE in [0, 1] units."""
    was = model.training
    model.eval()
    rec = kl = mse = 0.0
    for s in range(0, len(images), batch_size):
        x = as_input(images[s : s + batch_size]).to(next(model.parameters()).device)
        mu, logvar = model.encode(x)
        logits = model.decode(mu)
        r, k = loss_terms(logits, x, mu, logvar)
        rec, kl = rec + r.item() * len(x), kl + k.item() * len(x)
        mse += F.mse_loss(torch.sigmoid(logits), x, reduction="sum").item() / (28 * 28)
    model.train(was)
    n = len(images)
    return {"test_rec_nats": rec / n, "test_kl_nats": kl / n, "test_loss_nats": (rec + kl_weight * kl) / n, "test_mse": mse / n}


def build(model_args: dict) -> Autoencoder:
    return Autoencoder(AutoencoderArgs(**{**model_args, "channels": tuple(model_args["channels"])}))


def from_checkpoint(ckpt: dict) -> Autoencoder:
    """The trained autoencoder a loaded checkpoint holds, in eval mode."""
    model = build(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.eval()
