"""What a loaded model answers about one drawing, apart from which model serves it (oekaki/app/service.py).

Plain functions of a model and a (28, 28) uint8 digit, as the pipeline computes them: the judge's
reading and its first blocks' feature maps (the cnn stage's figure), the ViT's reading and its
attention rollout (oekaki/models/vit.py, the vit stage's figure), the diffusion painter's way
from noise to a digit. The service times them and says which model gave them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from oekaki.models.judge import Judge
from oekaki.models.vit import attention_rollout

MAP_BLOCKS = 2  # feature maps of the first two conv blocks
MAX_MAPS = 64  # channels shown per block at most


def grey(x: torch.Tensor | np.ndarray) -> list:
    """A map of any scale -> 0-255 ints (its own maximum is white; an all-zero map stays black)."""
    a = np.asarray(x, dtype=np.float32)
    top = float(a.max())
    return (np.clip(a / top, 0, 1) * 255).round().astype(np.uint8).tolist() if top > 0 else np.zeros(a.shape, np.uint8).tolist()


def warm_digit() -> np.ndarray:
    """A stroke of a "1": what a model answers once before it serves (torch's lazy set-up off the first person's wait)."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255
    return digit


def noise_to_digit(model, label: int, seed: int) -> np.ndarray:
    """The diffusion painter's first drawing for (label, seed) at ~8 points of its path, noise first (as the report's figure)."""
    from oekaki.models import diffusion

    noise, y, gen = diffusion.start(model, 1, np.array([label]), seed)
    steps = diffusion.sample_path(model, y, noise, model.args.sample_steps, model.args.guidance, gen=gen)
    return np.concatenate([diffusion.to_pixels(x) for x in steps])


@torch.no_grad()
def cnn_reading(judge: Judge, digit: np.ndarray) -> dict[str, Any]:
    """The judge's label and ten probabilities for one (28, 28) digit, and its first blocks' feature maps as grey images."""
    images = torch.from_numpy(digit[None])  # (1, 28, 28)
    probs = judge.judge(images).probs[0]  # (10,)
    model = judge.model
    maps = model.feature_maps(model.normalize(images))[:MAP_BLOCKS]  # as the cnn stage's feature-map figure
    blocks = [{"block": i + 1, "size": int(m.shape[-1]), "channels": [grey(c) for c in m[0, :MAX_MAPS]]} for i, m in enumerate(maps)]
    return {"label": int(probs.argmax()), "probs": [float(p) for p in probs], "maps": blocks}


@torch.no_grad()
def vit_reading(judge: Judge, digit: np.ndarray) -> dict[str, Any]:
    """The ViT's label and ten probabilities for one (28, 28) digit, and its attention rollout: one forward pass.

    rollout: grid x grid floats summing to 1 (row-major patches, grid = 28 / patch): how much of the
    [CLS] token's final state flows from each patch (Abnar & Zuidema 2020). `judge` holds a DigitViT.
    """
    model = judge.model
    logits, attentions = model.attention_maps(model.normalize(torch.from_numpy(digit[None])))  # (1, 10), [(1, H, N, N)]
    probs = torch.softmax(logits.double(), dim=1)[0]  # (10,)
    grid = model.args.grid
    rollout = attention_rollout(attentions)[0].double()  # (grid * grid,)
    rollout = (rollout / rollout.sum()).view(grid, grid)  # renormalised in float64: the JSON's cells sum to 1
    reading = {"label": int(probs.argmax()), "probs": [float(p) for p in probs]}
    return reading | {"rollout": rollout.tolist(), "grid": grid, "patch": model.args.patch}


READINGS = {"cnn": cnn_reading, "vit": vit_reading}  # judge kind -> what it answers about a drawing
