"""How the GAN's quality grows with its generator steps, with and without a moving average of its weights.

    .venv/bin/python bench/gan_schedule.py                         (run `make run` first)
    .venv/bin/python bench/gan_schedule.py --set gan.lr_g=0.0004   (any params override)

Trains the gan stage's own networks with its own `train_one_epoch` on the prepared data (the
stage's seed, so the raw rows at the stage's last epoch are the stage's run), keeps exponential
moving averages (EMA) of the generator's weights beside it (Yazici et al. 2019), and after every
`--every`-th epoch from `--first` on scores the trained generator and each average on the
scoreboard's protocol (bench/scene.py: the evaluate stage's request, reference and judge).
Prints one Markdown row per (epoch, weights): generator steps, training seconds so far, FID,
asked-for share and on-label diversity, mean ± std over the sampling seeds. The learning rates
are constant, so the row at epoch k is what a run of k epochs would give. Single runs on a
shared machine: compare rows of one run.
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
from oekaki.models import gan as gm  # noqa: E402
from oekaki.stages.diffusion.stage import ema_update as average_weights  # noqa: E402
from oekaki.stages.gan.stage import make_optimizers, train_one_epoch  # noqa: E402


def ema_update(ema: gm.Generator, model: gm.Generator, decay: float, step: int) -> None:
    """The diffusion stage's weight average (the same warm-up), plus the generator's batch-norm buffers copied."""
    average_weights(ema, model, decay, step)
    with torch.no_grad():
        for e, b in zip(ema.buffers(), model.buffers(), strict=True):
            e.copy_(b)


def main() -> None:
    parser = schedule_parser(__doc__, "gan.lr_g=0.0004", first=12, every=4)
    # the averages warm up as (1 + n) / (10 + n), below 0.99 until step 890: decays above that coincide before it
    parser.add_argument("--ema", type=float, nargs="*", default=[0.999], help="EMA decays to keep beside the weights")
    args = parser.parse_args()
    scene = load_scene("gan", args.seeds)
    cfg = load_config(scene.paths.params, args.set)
    c = cfg.gan
    data = scene.data
    epochs, steps = training.plan_epochs("gan", c.epochs, c.min_steps, c.batch_size * c.d_steps, len(data.train_y))
    gargs = gm.GanArgs.from_config(c)
    torch.manual_seed(cfg.base.seed)
    G = gm.Generator(gargs).to(memory_format=torch.channels_last)
    D = gm.Discriminator(gargs).to(memory_format=torch.channels_last)
    opt_g, opt_d = make_optimizers(G, D, c)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    emas = {d: copy.deepcopy(G).requires_grad_(False) for d in args.ema}
    print(scene.header())
    print(f"# overrides: {' '.join(args.set) or 'none'}; {epochs} epochs of {steps} batches; EMA decays {args.ema}")
    print()
    print("| epoch | generator steps | train s | weights | FID | asked-for class | on-label diversity |")
    print("|---|---|---|---|---|---|---|")
    g_steps, seconds = 0, 0.0
    # the EMAs follow each generator step: wrap the generator optimiser's step
    step_g = opt_g.step

    def step_and_average(*a, **k):
        nonlocal g_steps
        out = step_g(*a, **k)
        for d, ema in emas.items():
            ema_update(ema, G, d, g_steps)
        g_steps += 1
        return out

    opt_g.step = step_and_average
    n = scene.proto.n
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_one_epoch(G, D, data, opt_g, opt_d, c, gen, epoch, epochs)
        seconds += time.perf_counter() - t0
        if not is_scored(epoch, epochs, args.first, args.every):
            continue
        for name, net in [("trained", G), *((f"EMA {d:g}", e) for d, e in emas.items())]:
            board = scene.draw(lambda labels, seed, net=net: gm.generate(net, n, labels, seed), gargs.conditional)
            print(f"| {epoch} | {g_steps} | {seconds:.0f} | {name} | {cells(scene.score(board), gargs.conditional)} |", flush=True)


if __name__ == "__main__":
    main()
