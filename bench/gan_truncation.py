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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oekaki.core import training  # noqa: E402
from oekaki.core.config import load_config  # noqa: E402
from oekaki.core.paths import project_paths  # noqa: E402
from oekaki.models import gan as gm  # noqa: E402
from oekaki.models import scoreboard  # noqa: E402
from oekaki.models.judge import load_judge  # noqa: E402
from oekaki.models.loading import load_network  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("truncations", type=float, nargs="+", help="redraw noise entries beyond ±t; 0 = off")
    args = parser.parse_args()
    paths = project_paths()
    cfg = load_config(paths.params)
    torch.set_num_threads(cfg.base.threads)
    data = training.TensorData.load(paths.prepared, torch.device("cpu"))
    judge, cnn = load_judge(paths, data, torch.device("cpu"))
    test_x, test_y = data.test_x.numpy(), data.test_y.numpy()
    proto = scoreboard.protocol_of(cfg, test_y)
    ref = scoreboard.reference(judge, test_x, test_y, proto)
    G = load_network(training.load_checkpoint(paths.final_model("gan")))
    print(f"# judge test accuracy {cnn['test_accuracy']:.2%}; {len(proto.seeds)} seeds x {proto.n:,} drawings")
    print(f"# the stage's truncation: {G.args.truncation:g}; torch {torch.__version__}")
    print()
    print("| truncation | FID | asked-for class | on-label diversity |")
    print("|---|---|---|---|")
    trained = G.args
    for t in args.truncations:
        G.args = dataclasses.replace(trained, truncation=t)
        board = scoreboard.draw_board(lambda labels, seed: gm.generate(G, proto.n, labels, seed), proto, G.args.conditional)
        s = scoreboard.score_board(judge, board, *ref)
        line = f"| {t:g} | {s['fid']:.2f} ± {s['fid_std']:.2f} | "
        if G.args.conditional:
            line += f"{s['conditional_accuracy']:.2%} ± {s['conditional_accuracy_std']:.2%} | "
            line += f"{s['within_class_diversity']:.3f} ± {s['within_class_diversity_std']:.3f} |"
        else:
            line += "n/a | n/a |"
        print(line, flush=True)


if __name__ == "__main__":
    main()
