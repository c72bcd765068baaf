"""Model definitions: one model per file, each built from its own config."""

from __future__ import annotations

from pathlib import Path


def load_model(checkpoint: Path):
    """Rebuild the model a self-describing checkpoint holds, in eval mode, with an example input.

    Returns (module, example) where example is a float32 numpy batch the module accepts.
    """
    import numpy as np

    from oekaki.training import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    if ckpt.get("kind") == "cnn":
        from oekaki.models.cnn import build

        model = build(ckpt["model_args"])
        model.load_state_dict(ckpt["model"])
        example = np.zeros((2, 1, 28, 28), dtype=np.float32)  # normalised images (B, 1, 28, 28)
        return model.eval(), example
    if ckpt.get("kind") == "vae":
        from oekaki.models.vae import VaeSampler, build

        vae = build(ckpt["model_args"])
        vae.load_state_dict(ckpt["model"])
        width = vae.args.latent_size + vae.args.n_cond
        return VaeSampler(vae).eval(), np.zeros((2, width), dtype=np.float32)  # latent code [+ one-hot label]
    if ckpt.get("kind") == "gan":
        from oekaki.models.gan import N_CLASSES, GanSampler, build

        generator, _ = build(ckpt["model_args"])
        generator.load_state_dict(ckpt["generator"])
        width = generator.args.noise_size + (N_CLASSES if generator.args.conditional else 0)
        return GanSampler(generator).eval(), np.zeros((2, width), dtype=np.float32)  # noise [+ one-hot label]
    raise ValueError(f"{checkpoint}: unknown model kind {ckpt.get('kind')!r}")
