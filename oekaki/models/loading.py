"""Rebuild a trained network from its self-describing checkpoint (no pickled code: weights and args only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.constants import N_CLASSES
from oekaki.models import autoencoder, cnn, diffusion, gan, text_painter, vae, vit

# checkpoint kind -> its model module: each has from_checkpoint(ckpt); painters also generate(model, n, labels, seed)
NETWORKS = {
    "cnn": cnn,
    "vit": vit,
    "vae": vae,
    "gan": gan,
    "diffusion": diffusion,
    "autoencoder": autoencoder,
    "text_painter": text_painter,
}


def load_network(ckpt: dict):
    """The trained network a loaded checkpoint holds, in eval mode: DigitCNN, DigitViT, ConvVAE, the GAN's Generator, the Denoiser,
    the Autoencoder or the TextPainter."""
    kind = ckpt.get("kind")
    if kind not in NETWORKS:
        raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(NETWORKS)})")
    return NETWORKS[kind].from_checkpoint(ckpt)


def load_model(checkpoint: Path):
    """Rebuild the model a self-describing checkpoint holds, in eval mode, with an example input.

    Returns (module, example) where example is a float32 numpy batch the module accepts.
    """
    ckpt = load_checkpoint(checkpoint)
    try:
        model = load_network(ckpt)
    except ValueError as exc:
        raise ValueError(f"{checkpoint}: {exc}") from exc
    if ckpt["kind"] in ("cnn", "vit"):
        return model, np.zeros((2, 1, 28, 28), dtype=np.float32)  # normalised images (B, 1, 28, 28)
    if ckpt["kind"] == "vae":
        width = model.args.latent_size + model.args.n_cond
        return vae.VaeSampler(model).eval(), np.zeros((2, width), dtype=np.float32)  # latent code [+ one-hot label]
    if ckpt["kind"] == "text_painter":  # latent noise + the prompt's token ids
        code = np.zeros((2, model.args.latent_channels * 49 + model.args.max_tokens), dtype=np.float32)
        code[:, model.args.latent_channels * 49] = 1.0  # BOS: the empty prompt
        return text_painter.TextPainterSampler(model).eval(), code
    if ckpt["kind"] == "autoencoder":  # latents -> pixel logits
        return model.decoder.eval(), np.zeros((2, model.args.latent_channels, 7, 7), dtype=np.float32)
    if ckpt["kind"] == "diffusion":
        return diffusion.DiffusionSampler(model).eval(), np.zeros((2, 28 * 28 + N_CLASSES), dtype=np.float32)  # noise + one-hot

    width = model.args.noise_size + (N_CLASSES if model.args.conditional else 0)
    return gan.GanSampler(model).eval(), np.zeros((2, width), dtype=np.float32)  # noise [+ one-hot label]
