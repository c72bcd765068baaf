"""Figure data of the `text_painter` stage: one prompt walked through the system, the prompt grid, the held-out
combinations, guidance vs adherence, drawings by digit.

Computed here, saved as reports/figure_data/text_painter/<name>.npz (oekaki/core/figure_data.py), drawn by the
report stage (oekaki/figures/text_painter.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import figure_data
from oekaki.core.constants import N_CLASSES
from oekaki.core.training import Fit
from oekaki.models import captions
from oekaki.models.adherence import Requests
from oekaki.models.diffusion import PATH_POINTS
from oekaki.models.scoreboard import Board
from oekaki.models.text_painter import TextPainter

WALKTHROUGH = (3, {"thickness": 2, "slant": 2})  # a thick 3 leaning right: a seen combination, two attributes named
# The prompt grid's requests, each in English and in Japanese: a digit alone, one attribute, two attributes
GRID = (
    (1, {}),
    (7, {"thickness": 2}),
    (3, {"slant": 0}),
    (0, {"width": 0}),
    (5, {"thickness": 0, "slant": 2}),
    (2, {"width": 2, "thickness": 2}),
)
GRID_SEEDS = 6
HELD_OUT_SHOWN = 8  # drawings per held-out combination (half of them from English prompts, half from Japanese)


def walkthrough(painter: TextPainter, path: Path, seed: int) -> Path:
    """tokens -> the text encoder's token states -> latent noise -> latent steps -> decoded images, for one prompt per language."""
    label, named = WALKTHROUGH
    prompts = [captions.prompt(label, named, lang) for lang in captions.LANGUAGES]
    ids, _ = painter.tokens(prompts)
    with torch.no_grad():
        states, pad, _ = painter.denoiser.text(ids)  # (2, L, D)
    points = painter.paint_path(ids, seed + 20, points=PATH_POINTS)  # each (2, C, 7, 7), standardised
    latents = torch.stack(points, 1).cpu().numpy()  # (2, P, C, 7, 7)
    images = np.stack([painter.decode(p) for p in points], 1)  # (2, P, 28, 28)
    n_tokens = (~pad).sum(1).cpu().numpy()
    tokens = [["[BOS]", *painter.tokenizer.pieces(p)] for p in prompts]
    width = max(len(t) for t in tokens)
    return figure_data.save(
        path, "text_walkthrough", prompts=np.asarray(prompts), langs=np.asarray(captions.LANGUAGES),
        tokens=np.asarray([t + [""] * (width - len(t)) for t in tokens]), n_tokens=n_tokens,
        states=states.cpu().numpy()[:, :width].astype(np.float32), latents=latents.astype(np.float32), images=images,
        steps=np.asarray(np.linspace(0, painter.args.sample_steps, latents.shape[1]).round(), dtype=np.int64),
    )  # fmt: skip


def prompt_grid(painter: TextPainter, path: Path, seed: int) -> Path:
    """Rows: the GRID prompts in English then Japanese; columns: seeds (the same seed down a column)."""
    prompts = [captions.prompt(label, named, lang) for label, named in GRID for lang in captions.LANGUAGES]
    ids, _ = painter.tokens(prompts)
    columns = [painter.paint(ids, seed + 30 + k) for k in range(GRID_SEEDS)]  # each (rows, 28, 28)
    images = np.stack(columns, 1).reshape(-1, 28, 28)
    return figure_data.digit_grid(path, images, GRID_SEEDS, prompts)


def held_out(drawn: tuple[np.ndarray, Requests], table: list[dict], path: Path) -> Path:
    """Each held-out combination: HELD_OUT_SHOWN of its drawings, its adherence and the same level's on seen digits."""
    images, req = drawn
    rows, prompts = [], []
    for row in table:
        where = np.flatnonzero(
            req.held_out & (req.labels == row["label"]) & (req.attributes == row["attribute"]) & (req.levels == row["level"])
        )
        half = HELD_OUT_SHOWN // 2
        pick = np.concatenate([where[req.langs[where] == lang][:half] for lang in captions.LANGUAGES])
        cells = np.zeros((HELD_OUT_SHOWN, 28, 28), dtype=np.uint8)
        cells[: len(pick)] = images[pick]
        rows.append(cells)
        prompts.append(captions.prompt(row["label"], {row["attribute"]: row["level"]}, "en"))
    return figure_data.save(
        path, "text_held_out", images=np.stack(rows), prompts=np.asarray(prompts), labels=[r["label"] for r in table],
        attributes=np.asarray([r["attribute"] for r in table]), levels=[r["level"] for r in table],
        adherence=[r["adherence"] for r in table], seen_adherence=[r["seen_adherence"] for r in table],
        digit_adherence=[r["digit_adherence"] for r in table], n=[r["n"] for r in table],
    )  # fmt: skip


def guidance_sweep(rows: list[dict], path: Path) -> Path:
    """Digit, attribute and held-out adherence at each guidance weight."""
    keys = ("guidance", "digit_adherence", "attribute_adherence", "held_out_adherence")
    return figure_data.save(path, "text_guidance", **{k: [r[k] for r in rows] for k in keys})


def samples(board: Board, path: Path, per_label: int = 10) -> Path:
    """The scoreboard's first seed's drawings (digit prompts), the first `per_label` of each digit, one row per digit."""
    images, labels = board.images[0], board.requested[0]
    rows = np.zeros((N_CLASSES, per_label, 28, 28), dtype=np.uint8)
    for c in range(N_CLASSES):
        picked = images[np.flatnonzero(labels == c)[:per_label]]
        rows[c, : len(picked)] = picked
    return figure_data.digit_grid(path, rows.reshape(-1, 28, 28), per_label, [str(c) for c in range(N_CLASSES)])


def save_all(
    painter: TextPainter, drawn, table: list[dict], sweep: list[dict], board: Board, done: Fit, out: Path, seed: int
) -> list[Path]:
    del done  # the training curve is the stage's DVC plot (text_painter_history)
    return [
        walkthrough(painter, out / "walkthrough.npz", seed),
        prompt_grid(painter, out / "prompt_grid.npz", seed),
        held_out(drawn, table, out / "held_out.npz"),
        guidance_sweep(sweep, out / "guidance.npz"),
        samples(board, out / "samples.npz"),
    ]
