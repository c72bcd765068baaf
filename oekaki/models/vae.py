"""The variational autoencoder: image -> latent Gaussian -> image.

The encoder (two stride-2 convolutions, 28 -> 14 -> 7 pixels, then a hidden layer) turns an
image into the mean and log-variance of a Gaussian over a small latent vector: its "style".
The decoder mirrors it with transposed convolutions and returns one logit per pixel, the
Bernoulli parameter of that pixel's grey level. When `conditional`, both also see the label
as a one-hot vector, so the latent vector only has to carry what the label does not (slant,
thickness, loops), and decoding one latent vector with another label keeps the style.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

N_CLASSES = 10


@dataclass(frozen=True)
class VaeArgs:
    """Everything needed to rebuild the network (stored in every checkpoint)."""

    latent_size: int = 16
    channels: tuple[int, int] = (32, 64)
    hidden: int = 256
    conditional: bool = True

    def as_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @property
    def n_cond(self) -> int:
        return N_CLASSES if self.conditional else 0


class ConvVAE(nn.Module):
    def __init__(self, args: VaeArgs):
        super().__init__()
        self.args = args
        c1, c2 = args.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.SiLU(),  # 28 -> 14
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.SiLU(),  # 14 -> 7
            nn.Flatten(),
        )  # fmt: skip
        self.enc_hidden = nn.Sequential(nn.Linear(c2 * 49 + args.n_cond, args.hidden), nn.SiLU())
        self.mu = nn.Linear(args.hidden, args.latent_size)
        self.logvar = nn.Linear(args.hidden, args.latent_size)
        self.dec_hidden = nn.Sequential(
            nn.Linear(args.latent_size + args.n_cond, args.hidden), nn.SiLU(), nn.Linear(args.hidden, c2 * 49), nn.SiLU()
        )
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.SiLU(),  # 7 -> 14
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),  # 14 -> 28, logits
        )  # fmt: skip

    def _cond(self, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Append the one-hot label (B, 10) for the conditional model; labels may be soft (B, 10)."""
        if not self.args.conditional:
            return h
        if labels is None:
            raise ValueError("the conditional VAE needs labels")
        onehot = labels if labels.dim() == 2 else F.one_hot(labels, N_CLASSES)
        return torch.cat([h, onehot.to(h.dtype)], 1)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 1, 28, 28) in [0, 1] -> (mu, logvar), each (B, latent_size)."""
        h = self.enc_hidden(self._cond(self.encoder(x), labels))
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z: (B, latent_size) -> pixel logits (B, 1, 28, 28)."""
        return self.decoder(self.dec_hidden(self._cond(z, labels)))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None):
        """Reconstruction logits, mu and logvar, with z drawn by the reparameterisation trick."""
        mu, logvar = self.encode(x, labels)
        eps = torch.randn(mu.shape, generator=generator).to(mu.device) if generator is not None else torch.randn_like(mu)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z, labels), mu, logvar

    @torch.no_grad()
    def images(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decoded images as uint8 (B, 28, 28): each pixel's expected grey level."""
        return (torch.sigmoid(self.decode(z, labels))[:, 0] * 255).round().to(torch.uint8)


def loss_terms(logits: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image reconstruction and KL terms in nats, each (B,).

    Reconstruction: binary cross-entropy of the pixel logits against the grey levels in
    [0, 1], summed over the 784 pixels (as pytorch/examples' VAE). KL: of the encoder's
    diagonal Gaussian from N(0, I), analytically (Kingma & Welling 2014, appendix B):
    -1/2 * sum(1 + logvar - mu^2 - exp(logvar)).
    """
    recon = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return recon, kl


class VaeSampler(nn.Module):
    """The decoder as one-input module for serving: code (B, latent [+ 10 one-hot]) -> images (B, 28, 28) in [0, 1]."""

    def __init__(self, vae: ConvVAE):
        super().__init__()
        self.vae = vae

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        n = self.vae.args.latent_size
        labels = code[:, n:] if self.vae.args.conditional else None
        return torch.sigmoid(self.vae.decode(code[:, :n], labels))[:, 0]


def build(model_args: dict) -> ConvVAE:
    """Rebuild from a checkpoint's `model_args`."""
    return ConvVAE(VaeArgs(**{**model_args, "channels": tuple(model_args["channels"])}))
