"""What the sampling-only benches share: the trained project, its judge and the scoreboard's protocol.

`bench/gan_truncation.py`, `bench/vae_prior.py` and `bench/diffusion_guidance.py` re-draw a
trained painter with other sampling settings and score the drawings exactly as the evaluate
stage does: the scoreboard's request (evaluate.n_samples labels of the test set's label mix, one
batch per sampling seed), the same n-image test reference, the same judge. This module loads
that once and formats a scored row, so the three cannot drift apart from each other or from
metrics/*.json. Run from the repository (`make run` first); each script puts the repository
root on sys.path, which is how this module and the package are found.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from oekaki.core import training
from oekaki.core.config import Config, load_config
from oekaki.core.paths import Paths, project_paths
from oekaki.models import scoreboard
from oekaki.models.judge import Judge, load_judge

Paint = Callable[[np.ndarray, int], np.ndarray]  # (requested labels, seed) -> uint8 images (n, 28, 28)


@dataclass(frozen=True)
class Scene:
    paths: Paths
    cfg: Config
    data: training.TensorData
    judge: Judge
    judge_accuracy: float
    proto: scoreboard.Protocol
    reference: tuple

    def draw(self, paint: Paint, conditional: bool = True) -> scoreboard.Board:
        """The scoreboard's request painted: one batch of proto.n drawings per sampling seed."""
        return scoreboard.draw_board(paint, self.proto, conditional)

    def score(self, board: scoreboard.Board) -> dict[str, float]:
        """The scoreboard's measures of a board: mean and `<measure>_std` over its seeds."""
        return scoreboard.score_board(self.judge, board, *self.reference)

    def header(self) -> str:
        seeds, n = len(self.proto.seeds), self.proto.n
        draws = f"{seeds} sampling seed{'s' if seeds != 1 else ''} x {n:,} drawings"
        return f"# judge test accuracy {self.judge_accuracy:.2%}; {draws}; torch {torch.__version__}"


def load_scene(model: str, seeds: int | None = None) -> Scene:
    """The project of the working directory's checkout, with `model`'s final checkpoint required.

    seeds: use only the protocol's first `seeds` sampling seeds (None = all of evaluate.n_seeds).
    Exits with a message naming the missing file when the pipeline has not been run.
    """
    paths = project_paths()
    cfg = load_config(paths.params)
    for need in (paths.prepared, paths.cnn_model, paths.final_model(model)):
        if not need.exists():
            sys.exit(f"error: {need} is missing: run `make run` first")
    torch.set_num_threads(cfg.base.threads)
    data = training.TensorData.load(paths.prepared, torch.device("cpu"))
    judge, cnn = load_judge(paths, data, torch.device("cpu"))
    test_x, test_y = data.test_x.numpy(), data.test_y.numpy()
    proto = scoreboard.protocol_of(cfg, test_y)
    if seeds is not None:
        proto = scoreboard.Protocol(proto.n, proto.seeds[:seeds], proto.requested[:seeds])
    return Scene(paths, cfg, data, judge, cnn["test_accuracy"], proto, scoreboard.reference(judge, test_x, test_y, proto))


def cells(s: dict[str, float], conditional: bool = True) -> str:
    """`FID | asked-for | on-label diversity` as Markdown cells, mean ± std over the seeds."""
    line = f"{s['fid']:.2f} ± {s['fid_std']:.2f} | "
    if not conditional:
        return line + "n/a | n/a"
    return line + (
        f"{s['conditional_accuracy']:.2%} ± {s['conditional_accuracy_std']:.2%} | "
        f"{s['within_class_diversity']:.3f} ± {s['within_class_diversity_std']:.3f}"
    )


def schedule_parser(doc: str, example: str, first: int, every: int) -> argparse.ArgumentParser:
    """The options of the training-schedule benches (bench/vae_schedule.py, bench/gan_schedule.py)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=f"a params override, e.g. {example}")
    parser.add_argument("--first", type=int, default=first, help="first epoch scored")
    parser.add_argument("--every", type=int, default=every, help="score every N epochs (and the last)")
    parser.add_argument("--seeds", type=int, default=None, help="sampling seeds per row (default: evaluate.n_seeds)")
    return parser


def is_scored(epoch: int, epochs: int, first: int, every: int) -> bool:
    """Whether a schedule bench scores after `epoch`: every `every`-th from `first` on, and the last."""
    return epoch == epochs or (epoch >= first and epoch % every == 0)
