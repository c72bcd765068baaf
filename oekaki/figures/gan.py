"""Drawings of the `gan` stage's figures: the training curves, and training as an animated GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oekaki.core.figure_data import FigureData
from oekaki.core.io import atomic_path
from oekaki.figures.base import plt, words


def curves(d: FigureData, lang: str) -> plt.Figure:
    """Losses (left), the discriminator's outputs (middle), FID and the mode-coverage measure at the scored epochs (right)."""
    steps = d["step"]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(12, 3.3))
    a.plot(steps, d["loss_d"], label=words("fig_discriminator", lang))
    a.plot(steps, d["loss_g"], label=words("fig_generator", lang))
    b.plot(steps, d["d_real"], label=words("fig_d_real", lang))
    b.plot(steps, d["d_fake"], label=words("fig_d_generated", lang))
    b.set_ylim(0, 1)
    c.plot(d["scored_step"], d["fid"], "o-", color="C3", label=words("fig_fid_log", lang))
    c.set_yscale("log")
    twin = c.twinx()
    coverage = "fig_within_class_diversity" if bool(d["conditional"]) else "fig_class_entropy"
    twin.plot(d["scored_step"], d["coverage"], "o-", color="C2", label=words(coverage, lang))
    twin.set_ylim(0, 1.2)
    for ax in (a, b, c):
        ax.set_xlabel(words("fig_epoch", lang))
    for ax in (a, b):
        ax.legend(fontsize=8)
    c.legend(loc="upper right", fontsize=8)
    twin.legend(loc="center right", fontsize=8)
    return fig


def training_gif(d: FigureData, path: Path, seconds_per_frame: float = 0.5) -> Path:
    """The fixed-noise grid after every epoch as an animated GIF (last frame held longer), each frame marked `epoch/epochs`."""
    from PIL import Image, ImageDraw

    snapshots = d["snapshots"]
    frames = []
    for i, snap in enumerate(snapshots):
        big = Image.fromarray(np.kron(snap, np.ones((2, 2), dtype=np.uint8))).convert("P")  # 2x, crisp pixels
        canvas = Image.new("P", (big.width, big.height + 16), 255)
        canvas.paste(big, (0, 16))
        ImageDraw.Draw(canvas).text((4, 2), f"{i + 1}/{len(snapshots)}", fill=0)
        frames.append(canvas)
    durations = [int(seconds_per_frame * 1000)] * (len(frames) - 1) + [2000]
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return Path(path)
