"""Sampling-only sweep of the diffusion painter's guidance interval, on the scoreboard's own protocol.

    .venv/bin/python bench/diffusion_guidance.py 8,0.5,1 11,0.5,0.875 8,0.5,1,12
                                          (guidance,from,until[,steps]; run `make run` first)
    .venv/bin/python bench/diffusion_guidance.py --raw 11,0.5,0.875   (the trained weights, not their EMA)

Loads the diffusion stage's checkpoint (models/diffusion/model.pt) and the judge, draws the
scoreboard's request (evaluate.n_samples labels of the test set's label mix, for each of
evaluate.n_seeds seeds) with each setting, and prints FID, asked-for share and on-label
within-class diversity as mean ± standard deviation over the seeds: the numbers of
metrics/diffusion.json for the stage's own setting. Guidance g applies on the steps from the
share `from` to the share `until` of the path, plain conditional prediction elsewhere.
Single runs on a shared machine: compare settings measured in one run.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scene import cells, load_scene  # noqa: E402

from oekaki.core import training  # noqa: E402
from oekaki.models import diffusion as dm  # noqa: E402


def setting(text: str) -> tuple[float, float, float, int | None]:
    parts = text.split(",")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"{text!r}: expected guidance,from,until[,steps], e.g. 11,0.5,0.875")
    g, start, until = (float(v) for v in parts[:3])
    return g, start, until, int(parts[3]) if len(parts) == 4 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", type=setting, nargs="+", help="guidance,from,until[,steps]")
    parser.add_argument("--raw", action="store_true", help="draw with the trained weights, not their moving average (EMA)")
    args = parser.parse_args()
    scene = load_scene("diffusion")
    ckpt = training.load_checkpoint(scene.paths.final_model("diffusion"))
    if args.raw:
        ckpt.pop("ema", None)  # from_checkpoint then loads the trained weights themselves
    model = dm.from_checkpoint(ckpt)
    weights = "trained weights (--raw)" if args.raw else "EMA weights" if "ema" in ckpt else "trained weights (no EMA in the checkpoint)"
    print(f"{scene.header()}; {weights}")
    print()
    print("| guidance @ [from, until) | steps | FID | asked-for digit | on-label diversity | s per 1,000 |")
    print("|---|---|---|---|---|---|")
    for g, start, until, steps in args.settings:
        painter = copy.copy(model)  # shares the weights; only the sampling args differ (as the stage's sweeps do)
        painter.args = dataclasses.replace(model.args, guidance=g, guidance_from=start, guidance_until=until)
        steps = steps or painter.args.sample_steps
        t0 = time.perf_counter()
        board = scene.draw(lambda labels, seed, p=painter, k=steps: dm.generate(p, scene.proto.n, labels, seed, steps=k))
        per_1000 = (time.perf_counter() - t0) / board.images[:, :, 0, 0].size * 1000
        print(f"| {g:g} @ [{start:g}, {until:g}) | {steps} | {cells(scene.score(board))} | {per_1000:.1f} |", flush=True)


if __name__ == "__main__":
    main()
