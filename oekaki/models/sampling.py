"""Drawing from a trained generator: fixed-seed (truncated) normal codes decoded in batches."""

from __future__ import annotations

import numpy as np
import torch

from oekaki.core.constants import INFERENCE_BATCH


@torch.no_grad()
def truncated_normal(n: int, width: int, seed: int, truncation: float) -> torch.Tensor:
    """Fixed-seed N(0, I) codes (n, width); with truncation > 0 every entry beyond +-truncation is redrawn.

    The truncation trick (Brock et al. 2019, BigGAN): codes nearer the mode give more faithful
    drawings of the asked class at some cost in variety; 0 = plain N(0, I).
    """
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, width, generator=gen)
    if truncation > 0:
        while (far := z.abs() > truncation).any():
            z[far] = torch.randn(int(far.sum()), generator=gen)
    return z


def sample_images(
    model: torch.nn.Module,
    width: int,
    n: int,
    labels: np.ndarray | None,
    seed: int,
    batch_size: int = INFERENCE_BATCH,
    truncation: float = 0.0,
) -> np.ndarray:
    """n images from a generator's `images(code, labels)` with fixed-seed (truncated) N(0, I) codes of `width`.

    In eval mode (batch norm uses its running statistics), so the same seed gives the same
    images; the model's train/eval mode is restored afterwards. uint8 (n, 28, 28).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    z = truncated_normal(n, width, seed, truncation)
    out = []
    for start in range(0, n, batch_size):
        y = torch.as_tensor(labels[start : start + batch_size]).long().to(device) if labels is not None else None
        out.append(model.images(z[start : start + batch_size].to(device), y).cpu())
    model.train(was_training)
    return torch.cat(out).numpy()
