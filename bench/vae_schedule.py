"""How the VAE's drawings grow with its optimiser steps: the scoreboard's measures after every few epochs.

    .venv/bin/python bench/vae_schedule.py                        (run `make run` first)
    .venv/bin/python bench/vae_schedule.py --set vae.lr=0.003     (any params override)

Trains the vae stage's own network with its own `train_one_epoch` on the prepared data (the
stage's seed), and after every `--every`-th epoch from `--first` on fits the sampling prior on a
copy, as the stage does after its last epoch, and scores it: test loss (nats), FID, asked-for
share and on-label diversity on the scoreboard's protocol (bench/scene.py), and the style-transfer
accuracy. With the constant learning rate (`vae.schedule: constant`) the row at epoch k is what a
run of k epochs would give. Single runs on a shared machine: compare rows of one run.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from scene import cells, is_scored, load_scene, schedule_parser  # noqa: E402

from oekaki.core import training  # noqa: E402
from oekaki.core.config import load_config  # noqa: E402
from oekaki.models import vae as vm  # noqa: E402
from oekaki.stages.vae.stage import STYLE_SCORED, make_optimizer, make_reading, style_transfer_accuracy, train_one_epoch  # noqa: E402


def main() -> None:
    args = schedule_parser(__doc__, "vae.lr=0.003", first=10, every=5).parse_args()
    scene = load_scene("vae", args.seeds)
    cfg = load_config(scene.paths.params, args.set)
    c = cfg.vae
    data = scene.data
    epochs, steps = training.plan_epochs("vae", c.epochs, c.min_steps, c.batch_size, len(data.train_y))
    torch.manual_seed(cfg.base.seed)
    model = vm.ConvVAE(vm.VaeArgs.from_config(c))
    reading = make_reading(c, torch.device("cpu"))
    opt, sched = make_optimizer(model, c, epochs * steps)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    print(scene.header())
    print(f"# overrides: {' '.join(args.set) or 'none'}; {epochs} epochs of {steps} batches; schedule {c.schedule}")
    print()
    print("| epoch | optimiser steps | train s | test loss (nats) | FID | asked-for class | on-label diversity | style transfer |")
    print("|---|---|---|---|---|---|---|---|")
    seconds, n = 0.0, scene.proto.n
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_one_epoch(model, data, opt, sched, c, gen, epoch, epochs, reading)
        seconds += time.perf_counter() - t0
        if not is_scored(epoch, epochs, args.first, args.every):
            continue
        drawn = copy.deepcopy(model)
        vm.fit_class_prior(drawn, data.train_x, data.train_y)
        test = vm.test_elbo(drawn, data.test_x, data.test_y, c, cfg.base.seed)["test_loss_nats"]
        board = scene.draw(lambda labels, seed, m=drawn: vm.generate(m, n, labels if c.conditional else None, seed), c.conditional)
        k = min(STYLE_SCORED, len(data.test_y))
        style = style_transfer_accuracy(drawn, scene.judge, data.test_x[:k], data.test_y[:k])[0] if c.conditional else float("nan")
        row = f"| {epoch} | {epoch * steps} | {seconds:.0f} | {test:.2f} | {cells(scene.score(board), c.conditional)} | {style:.3f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
