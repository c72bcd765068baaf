"""Figures of the `gan` stage: per-digit samples, training as a GIF, curves, a noise walk, memorisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core.constants import N_CLASSES
from oekaki.core.io import atomic_path
from oekaki.core.plots import digit_grid, plt, save_figure
from oekaki.core.training import Fit
from oekaki.data.dataset import TensorData
from oekaki.models.gan import Generator, generate
from oekaki.models.judge import Judge
from oekaki.models.memorisation import memorisation

WALK_STEPS = 10


def final_grid(G: Generator, path: Path, dpi: int, seed: int) -> Path:
    if G.args.conditional:
        labels = np.repeat(np.arange(N_CLASSES), 10)
        images = generate(G, len(labels), labels, seed + 2)
        return digit_grid(images, 10, path, dpi, [str(c) for c in range(10)])
    return digit_grid(generate(G, 144, None, seed + 2), 12, path, dpi)


def training_gif(snapshots: list[np.ndarray], path: Path, seconds_per_frame: float = 0.5) -> Path:
    """The fixed-noise grid after every epoch as an animated GIF (last frame held longer)."""
    from PIL import Image, ImageDraw

    frames = []
    for i, snap in enumerate(snapshots):
        big = Image.fromarray(np.kron(snap, np.ones((2, 2), dtype=np.uint8))).convert("P")  # 2x, crisp pixels
        canvas = Image.new("P", (big.width, big.height + 16), 255)
        canvas.paste(big, (0, 16))
        ImageDraw.Draw(canvas).text((4, 2), f"{i + 1}/{len(snapshots)}", fill=0)  # epoch / epochs (the caption says so)
        frames.append(canvas)
    durations = [int(seconds_per_frame * 1000)] * (len(frames) - 1) + [2000]
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return Path(path)


def curves(history: list[dict], path: Path, dpi: int, conditional: bool) -> Path:
    steps = [h["step"] for h in history]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(12, 3.3))
    a.plot(steps, [h["loss_d"] for h in history], label="discriminator")
    a.plot(steps, [h["loss_g"] for h in history], label="generator")
    b.plot(steps, [h["d_real"] for h in history], label="D(real)")
    b.plot(steps, [h["d_fake"] for h in history], label="D(generated)")
    b.set_ylim(0, 1)
    scored = [h for h in history if "fid" in h]  # the epochs the judge scored (gan.eval_every)
    c.plot([h["step"] for h in scored], [h["fid"] for h in scored], "o-", color="C3", label="FID (log scale)")
    c.set_yscale("log")
    twin = c.twinx()
    key = "within_class_diversity" if conditional else "class_entropy"
    twin.plot([h["step"] for h in scored], [h[key] for h in scored], "o-", color="C2", label=key.replace("_", " "))
    twin.set_ylim(0, 1.2)
    for ax in (a, b, c):
        ax.set_xlabel("epoch")
    for ax in (a, b):
        ax.legend(fontsize=8)
    c.legend(loc="upper right", fontsize=8)
    twin.legend(loc="center right", fontsize=8)
    return save_figure(fig, path, dpi)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: stays at the norm Gaussian noise vectors typically have."""
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


@torch.no_grad()
def noise_walk(G: Generator, path: Path, dpi: int, seed: int) -> Path:
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
    return digit_grid(np.concatenate(rows), WALK_STEPS, path, dpi, names)


def draw_all(G: Generator, judge: Judge, data: TensorData, samples: np.ndarray, done: Fit, out: Path, dpi: int, seed: int):
    memo_path, ratio = memorisation(judge, data, samples, out / "memorisation.png", dpi)
    figures = [
        final_grid(G, out / "samples.png", dpi, seed),
        training_gif(done.snapshots, out / "training.gif"),
        curves(done.history, out / "curves.png", dpi, G.args.conditional),
        noise_walk(G, out / "noise_walk.png", dpi, seed),
        memo_path,
    ]
    return figures, ratio
