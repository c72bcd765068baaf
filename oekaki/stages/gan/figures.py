"""Figure data of the `gan` stage: per-digit samples, training (a GIF), curves, a noise walk, memorisation.

Computed here, saved as reports/figure_data/gan/<name>.npz (oekaki/core/figure_data.py), drawn by the
report stage (oekaki/figures/gan.py and base.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import figure_data
from oekaki.core.constants import N_CLASSES
from oekaki.core.training import Fit
from oekaki.data.dataset import TensorData
from oekaki.models.gan import Generator, generate
from oekaki.models.judge import Judge
from oekaki.models.memorisation import memorisation

WALK_STEPS = 10


def final_grid(G: Generator, path: Path, seed: int) -> Path:
    if G.args.conditional:
        labels = np.repeat(np.arange(N_CLASSES), 10)
        images = generate(G, len(labels), labels, seed + 2)
        return figure_data.digit_grid(path, images, 10, [str(c) for c in range(10)])
    return figure_data.digit_grid(path, generate(G, 144, None, seed + 2), 12)


def curves(history: list[dict], path: Path, conditional: bool) -> Path:
    """Losses and the discriminator's outputs per epoch; FID and the mode-coverage measure at the scored epochs."""
    scored = [h for h in history if "fid" in h]  # the epochs the judge scored (gan.eval_every)
    coverage = "within_class_diversity" if conditional else "class_entropy"
    return figure_data.save(
        path,
        "gan_curves",
        **{k: [h[k] for h in history] for k in ("step", "loss_d", "loss_g", "d_real", "d_fake")},
        scored_step=[h["step"] for h in scored],
        fid=[h["fid"] for h in scored],
        coverage=[h[coverage] for h in scored],
        conditional=conditional,
    )


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: stays at the norm Gaussian noise vectors typically have."""
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def noise_walk(G: Generator, path: Path, seed: int) -> Path:
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed + 3)
    t = torch.linspace(0, 1, WALK_STEPS)[:, None]
    rows, names = [], []
    for r in range(4):
        a, b = torch.randn(2, G.args.noise_size, generator=gen)
        z = slerp(a, b, t).to(device)
        labels = torch.full((WALK_STEPS,), (3 * r + 2) % N_CLASSES, device=device) if G.args.conditional else None
        rows.append(G.images(z, labels).cpu().numpy())
        names.append(str(int(labels[0])) if labels is not None else "")  # the asked-for digit
    G.train(was_training)
    return figure_data.digit_grid(path, np.concatenate(rows), WALK_STEPS, names)


def save_all(G: Generator, judge: Judge, data: TensorData, samples: np.ndarray, done: Fit, out: Path, seed: int):
    """Every figure's data, and the memorisation ratio."""
    memo_path, ratio = memorisation(judge, data, samples, out / "memorisation.npz")
    figures = [
        final_grid(G, out / "samples.npz", seed),
        figure_data.save(out / "training.npz", "training_gif", snapshots=np.stack(done.snapshots)),
        curves(done.history, out / "curves.npz", G.args.conditional),
        noise_walk(G, out / "noise_walk.npz", seed),
        memo_path,
    ]
    return figures, ratio
