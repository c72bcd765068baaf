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
    raise ValueError(f"{checkpoint}: unknown model kind {ckpt.get('kind')!r}")
