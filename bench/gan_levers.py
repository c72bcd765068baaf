"""GAN optimiser steps per second under one lever: `default`, `nchw`, `channels_last` or `compile` (torch.compile), and a thread count.

`default` is the networks as the stage builds them (conv weights channels-last since 2026-12-05);
`nchw` converts them back to contiguous NCHW, the layout before that; `channels_last` also makes
the inputs channels-last.

    .venv/bin/python bench/gan_levers.py channels_last 2     (needs `make run` first: data/prepared.npz)

Two epochs of the gan stage's own train_one_epoch on the workspace's data; the second epoch is the
steady rate (the first holds torch.compile's compile time). Compare modes back to back.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

from oekaki.core import training  # noqa: E402
from oekaki.core.config import load_config  # noqa: E402
from oekaki.core.paths import project_paths  # noqa: E402
from oekaki.models.gan import Discriminator, GanArgs, Generator  # noqa: E402
from oekaki.stages.gan import stage as gs  # noqa: E402

paths = project_paths()
cfg = load_config(paths.params)
c = cfg.gan
data = training.TensorData.load(paths.prepared, torch.device("cpu"))
mode = sys.argv[1]
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(0)
args = GanArgs.from_config(c)
G, D = Generator(args), Discriminator(args)
if mode == "channels_last":
    G = G.to(memory_format=torch.channels_last)
    D = D.to(memory_format=torch.channels_last)
    orig = gs.as_input
    gs.as_input = lambda x: orig(x).contiguous(memory_format=torch.channels_last)
if mode == "nchw":
    G = G.to(memory_format=torch.contiguous_format)
    D = D.to(memory_format=torch.contiguous_format)
if mode == "compile":
    G = torch.compile(G)
    D = torch.compile(D)
opt_g, opt_d = gs.make_optimizers(G, D, c)
gen = torch.Generator().manual_seed(0)
t0 = time.perf_counter()
gs.train_one_epoch(G, D, data, opt_g, opt_d, c, gen, 1, 1)
t1 = time.perf_counter()
gs.train_one_epoch(G, D, data, opt_g, opt_d, c, gen, 2, 2)
t2 = time.perf_counter()
print(f"{mode:14s} threads={torch.get_num_threads()} epoch1 {t1 - t0:.2f}s epoch2 {t2 - t1:.2f}s ({4000 / (t2 - t1):.0f} img/s)")
