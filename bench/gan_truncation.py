"""Sampling-only sweep of the GAN painter's truncation, on the scoreboard's own protocol.

    .venv/bin/python bench/gan_truncation.py 1.5 0 2.5     (truncations; run `make run` first)

Loads the gan stage's model (models/gan/model.pt) and the judge, draws the scoreboard's request
(evaluate.n_samples labels of the test set's label mix, for each of evaluate.n_seeds seeds) with
the noise redrawn beyond ±t (0 = plain N(0, I)), and prints FID, asked-for share and on-label
within-class diversity as mean ± standard deviation over the seeds: for the stage's own
truncation, the numbers of metrics/gan.json. Single runs on a shared machine: compare settings
measured in one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scene import cells, load_scene  # noqa: E402

from oekaki.core import training  # noqa: E402
from oekaki.models import gan as gm  # noqa: E402
from oekaki.models.loading import load_network  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("truncations", type=float, nargs="+", help="redraw noise entries beyond ±t; 0 = off")
    args = parser.parse_args()
    scene = load_scene("gan")
    G = load_network(training.load_checkpoint(scene.paths.final_model("gan")))
    print(scene.header())
    print(f"# the stage's truncation: {G.args.truncation:g}")
    print()
    print("| truncation | FID | asked-for class | on-label diversity |")
    print("|---|---|---|---|")
    trained = G.args
    n = scene.proto.n
    for t in args.truncations:
        G.args = dataclasses.replace(trained, truncation=t)
        board = scene.draw(lambda labels, seed: gm.generate(G, n, labels, seed), G.args.conditional)
        print(f"| {t:g} | {cells(scene.score(board), G.args.conditional)} |", flush=True)


if __name__ == "__main__":
    main()
