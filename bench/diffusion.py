"""Diffusion stage benchmark: the chosen recipe against a DDPM baseline, same network, same training seconds.

    .venv/bin/python bench/diffusion.py                      # 120 s each, 1,000 samples, 400 DDPM steps (about 15 min)
    .venv/bin/python bench/diffusion.py --seconds 240 --ddpm-steps 1000
    .venv/bin/python bench/diffusion.py --seconds 5 --n 100  # a smoke run

Both recipes train the stage's network (params.yaml `diffusion`: channels, embedding, batch, lr,
label dropout, EMA) for the same wall-clock seconds, on data/prepared.npz, with the stage's own
loss and EMA update; the one-cycle schedule is planned from a 10-step timing. Then both draw
`--n` images for the test set's label mix, judged by models/cnn/model.pt (run `make run` first):
1. the chosen recipe: params.yaml's objective, sampler, steps and guidance (flow matching, few Euler steps);
2. DDPM (Ho et al. 2020): epsilon prediction, T = 1000, ancestral sampling with `--ddpm-steps`
   steps (public MNIST examples use 400 to 1,000), drawn with the chosen recipe's guidance (its
   weight and interval) and, so that the baseline is not judged only at a setting tuned for the
   other objective, with each weight of `--ddpm-guidance` applied at every step (plain
   classifier-free guidance, as Ho & Salimans 2022 sample; default 2).
Writes its figures to bench/results/diffusion-<commit>.json (bench/common.py).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_results_arguments, write_results  # noqa: E402
from oekaki.core import schedules  # noqa: E402
from oekaki.core.config import DiffusionConfig, load_config  # noqa: E402
from oekaki.core.paths import project_paths  # noqa: E402
from oekaki.core.training import ema_update  # noqa: E402
from oekaki.data import dataset  # noqa: E402
from oekaki.models import diffusion as dm  # noqa: E402
from oekaki.models import judge as judge_mod  # noqa: E402
from oekaki.models.judge import load_judge  # noqa: E402
from oekaki.stages.diffusion.stage import as_input  # noqa: E402

PROBE_STEPS = 10


def train_for(seconds: float, c: DiffusionConfig, data: dataset.TensorData, seed: int) -> tuple[dm.Denoiser, int]:
    """The stage's training step, repeated for `seconds` of wall clock; (the EMA network or the network, steps done)."""
    torch.manual_seed(seed)
    model = dm.Denoiser(dm.DiffusionArgs.from_config(c))
    ema = copy.deepcopy(model).requires_grad_(False) if c.ema_decay > 0 else None
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(data.train_y)

    def step(i: int, sched=None) -> None:
        idx = torch.randint(0, n, (c.batch_size,), generator=gen)
        y = torch.where(torch.rand(c.batch_size, generator=gen) < c.label_drop, dm.NO_LABEL, data.train_y[idx])
        loss = dm.loss(model, as_input(data.train_x[idx]), y, gen, c.time_sampling)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if ema is not None:
            ema_update(ema, model, c.ema_decay, i)

    t0 = time.perf_counter()
    for i in range(PROBE_STEPS):  # the timing probe, at the start learning rate
        step(i)
    per_step = (time.perf_counter() - t0) / PROBE_STEPS
    planned = max(int(seconds / per_step), PROBE_STEPS + 1)
    sched = schedules.lr_schedule(opt, c.schedule, c.lr, planned - PROBE_STEPS)
    done = PROBE_STEPS
    while done < planned and time.perf_counter() - t0 < seconds:
        step(done, sched)
        done += 1
    return (ema or model).eval(), done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="training seconds per recipe (default 120)")
    parser.add_argument("--n", type=int, default=1000, help="samples judged per recipe (default 1000, at most the test set)")
    parser.add_argument("--ddpm-steps", type=int, default=400, help="DDPM sampling steps, 1-1000 (default 400)")
    parser.add_argument(
        "--ddpm-guidance", default="2", help="more baseline rows: guidance weights at every step, comma-separated (default 2; '' for none)"
    )
    parser.add_argument("--root", type=Path, default=project_paths().root, help="project folder with the pipeline's outputs")
    add_results_arguments(parser)
    args = parser.parse_args()
    paths = project_paths(args.root)
    if not (paths.prepared.is_file() and paths.cnn_model.is_file() and paths.metrics("cnn").is_file()):
        print(f"error: {paths.prepared} or the judge {paths.cnn_model} is missing: run `make run` first", file=sys.stderr)
        return 2
    if not 1 <= args.ddpm_steps <= dm.T_DDPM or args.n < 2 or args.seconds <= 0:
        parser.error("--ddpm-steps 1-1000, --n >= 2 and --seconds > 0")
    try:
        extra = [float(g) for g in args.ddpm_guidance.split(",") if g.strip()]
    except ValueError:
        parser.error(f"--ddpm-guidance: comma-separated numbers, got {args.ddpm_guidance!r}")
    if any(g < 0 for g in extra):
        parser.error(f"--ddpm-guidance: weights must be at least 0, got {args.ddpm_guidance!r}")
    cfg = load_config(paths.params)
    torch.set_num_threads(cfg.base.threads)
    data = dataset.TensorData.load(paths.prepared, torch.device("cpu"))
    judge, _ = load_judge(paths, data, torch.device("cpu"))
    test_x, test_y = data.test_x.numpy(), data.test_y.numpy()
    real = judge.judge(test_x)
    labels = judge_mod.requested_labels(test_y, judge_mod.n_eval(args.n, len(test_y)), cfg.base.seed)
    chosen = cfg.diffusion
    ddpm = chosen.model_copy(update={"objective": "ddpm", "sampler": "ddpm", "sample_steps": args.ddpm_steps})
    rows = []
    for name, c in ((f"chosen: {chosen.objective}, {chosen.sampler}", chosen), ("baseline: DDPM, ancestral", ddpm)):
        model, steps = train_for(args.seconds, c, data, cfg.base.seed)
        settings = [(model, guidance_text(model.args))]
        if c is ddpm:  # the same trained network, plain guidance at every step
            for g in extra:
                painter = copy.copy(model)  # shares the weights; only the sampling args differ
                painter.args = dataclasses.replace(model.args, guidance=g, guidance_from=0.0, guidance_until=1.0)
                settings.append((painter, guidance_text(painter.args)))
        for painter, guided in settings:
            t0 = time.perf_counter()
            images = dm.generate(painter, len(labels), labels, cfg.base.seed, batch_size=c.eval_batch_size)
            per_1000 = (time.perf_counter() - t0) / len(labels) * 1000
            scores = judge_mod.score(judge.judge(images), real, labels, test_y)
            rows.append((name, guided, steps, c.sample_steps, per_1000, scores["fid"], scores["conditional_accuracy"]))
            print(f"  {name}, {guided}: {steps:,} training steps in {args.seconds:.0f} s, FID {scores['fid']:.2f}", file=sys.stderr)
    n = len(data.train_y)
    print(f"# oekaki diffusion benchmark, {time.strftime('%Y-%m-%d')}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"# data {paths.prepared} ({n:,} train / {len(test_y):,} test), {args.seconds:.0f} s training each, "
          f"{len(labels):,} samples judged, {dm.n_parameters(model):,} parameters")  # fmt: skip
    header = ("recipe", "guidance", "training steps", "sampling steps", "s per 1,000 samples", "judge FID", "conditional accuracy")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name, guided, steps, sample_steps, per_1000, fid, acc in rows:
        print(f"| {name} | {guided} | {steps:,} | {sample_steps} | {per_1000:.1f} | {fid:.2f} | {acc:.1%} |")
    keys = ("recipe", "guidance", "training_steps", "sampling_steps", "seconds_per_1000", "fid", "conditional_accuracy")
    figures = {
        "train_images": n,
        "samples_judged": len(labels),
        "parameters": dm.n_parameters(model),
        "rows": [dict(zip(keys, r, strict=True)) for r in rows],
    }
    write_results("diffusion", args, figures)
    return 0


def guidance_text(a: dm.DiffusionArgs) -> str:
    """How a network draws: its guidance weight, and the share of the path it applies to when not all of it."""
    if a.guidance_from <= 0 and a.guidance_until >= 1:
        return f"{a.guidance:g} at every step"
    return f"{a.guidance:g} from {a.guidance_from:g} to {a.guidance_until:g} of the path"


if __name__ == "__main__":
    sys.exit(main())
