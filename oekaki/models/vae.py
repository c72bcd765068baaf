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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oekaki.core import training
from oekaki.core.config import VaeConfig
from oekaki.core.constants import N_CLASSES


@dataclass(frozen=True)
class VaeArgs:
    """Everything needed to rebuild the network (stored in every checkpoint); no defaults: see from_config."""

    latent_size: int
    channels: tuple[int, int]
    hidden: int
    conditional: bool

    @classmethod
    def from_config(cls, c: VaeConfig) -> VaeArgs:
        return cls(c.latent_size, tuple(c.channels), c.hidden, c.conditional)

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


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) grey levels in [0, 1] (the Bernoulli targets)."""
    return images.float().div(255.0).unsqueeze(1)


@torch.no_grad()
def test_elbo(model: ConvVAE, x: torch.Tensor, y: torch.Tensor, c: VaeConfig, seed: int) -> dict[str, float]:
    """Negative ELBO per test image (one latent draw per image, fixed seed): recon + KL, in nats."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    recon_sum = kl_sum = 0.0
    for idx in training.batch_indices(len(y), c.eval_batch_size, None):
        xb = as_input(x[idx])
        logits, mu, logvar = model(xb, y[idx] if c.conditional else None, gen)
        recon, kl = loss_terms(logits, xb, mu, logvar)
        recon_sum += recon.sum().item()
        kl_sum += kl.sum().item()
    n = len(y)
    return {"test_loss_nats": (recon_sum + kl_sum) / n, "test_recon_nats": recon_sum / n, "test_kl_nats": kl_sum / n}


def generate(model: ConvVAE, n: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """n new images from z ~ N(0, I) (with the requested labels when conditional): uint8 (n, 28, 28)."""
    return training.sample_images(model, model.args.latent_size, n, labels, seed)


@torch.no_grad()
def encode_means(model: ConvVAE, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Latent means (N, latent_size) of uint8 images (N, 28, 28)."""
    model.eval()
    return torch.cat(
        [
            model.encode(as_input(x[i]), y[i] if model.args.conditional else None)[0]
            for i in training.batch_indices(len(x), batch_size, None)
        ]
    )


@torch.no_grad()
def style_transfer(model: ConvVAE, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Each source digit's latent "style" decoded with every label: uint8 (N, 10, 28, 28).

    The seed's "same style, another landscape": the encoder sees the image and its label, so
    the latent mean holds what the label does not; the decoder redraws it as each digit.
    """
    if not model.args.conditional:
        raise ValueError("style transfer needs the conditional VAE (vae.conditional = true)")
    mu = encode_means(model, x, y)  # (N, latent)
    device = mu.device
    labels = torch.arange(N_CLASSES, device=device)
    rows = [model.images(m.expand(N_CLASSES, -1), labels).cpu() for m in mu]
    return torch.stack(rows).numpy()


def from_checkpoint(ckpt: dict) -> ConvVAE:
    """The trained VAE a loaded checkpoint holds (weights only), in eval mode."""
    model = build(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.eval()
