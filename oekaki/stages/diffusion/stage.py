"""Stage `diffusion`: train the class-conditional denoiser (resumable, with an EMA of its weights), score it, draw it."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from oekaki.core import checkpoints, schedules, training
from oekaki.core.config import Config, DiffusionConfig
from oekaki.core.constants import N_CLASSES
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.device import resolve_device
from oekaki.core.paths import Paths
from oekaki.core.plots import tile
from oekaki.core.timing import phase
from oekaki.core.training import ema_update
from oekaki.data import dataset
from oekaki.models import diffusion as diffusion_model
from oekaki.models import judge as judge_mod
from oekaki.models import scoreboard
from oekaki.models.diffusion import NO_LABEL, Denoiser, DiffusionArgs, generate, generate_guided
from oekaki.models.judge import load_judge
from oekaki.stages.diffusion import figures as diffusion_figures

log = get_logger("diffusion")
# a checkpoint resumes only under the same code: the stage, the loop and what feeds it, the model
CODE = [Path(__file__), *(Path(m.__file__) for m in (training, checkpoints, schedules, dataset, diffusion_model))]
SNAPSHOT_ROWS = 2  # the per-epoch grid: one column per label, 2 drawings of each (20 drawings an epoch; docs/speed.md)


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [-1, 1], the data range the paths end in."""
    return images.float().div(127.5).sub(1.0).unsqueeze(1)


def train_one_epoch(model, ema, data, opt, sched, c: DiffusionConfig, gen: torch.Generator, epoch: int, epochs: int, first_step: int):
    """One pass over the training images; labels dropped to NO_LABEL with probability `label_drop` (classifier-free guidance)."""
    model.train()
    total, n = 0.0, 0
    bar = training.Progress(len(data.train_y), f"diffusion epoch {epoch}/{epochs}", log)
    for i, idx in enumerate(dataset.batch_indices(len(data.train_y), c.batch_size, gen)):
        x, y = as_input(data.train_x[idx]), data.train_y[idx]
        drop = (torch.rand(len(idx), generator=gen) < c.label_drop).to(y.device)
        loss = diffusion_model.loss(model, x, torch.where(drop, NO_LABEL, y), gen, c.time_sampling)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if ema is not None:
            ema_update(ema, model, c.ema_decay, first_step + i)
        total += loss.item() * len(idx)
        n += len(idx)
        bar.update(len(idx), loss=total / n)
    return {"loss": total / n, "steps": i + 1, "images_per_second": bar.close()}


class Scorer:
    """The judge's measures of generated images against the (once-judged) real test set."""

    def __init__(self, judge: judge_mod.Judge, test_x: np.ndarray, test_y: np.ndarray, seed: int, batch_size: int):
        self.judge, self.test_y, self.seed, self.batch_size = judge, test_y, seed, batch_size
        self.real = judge.judge(test_x)

    def __call__(self, model: Denoiser, labels: np.ndarray, steps: int | None = None, guidance: float | None = None):
        """(scores, images, seconds spent drawing them)."""
        t0 = time.perf_counter()
        images = generate(model, len(labels), labels, self.seed, steps, guidance, self.batch_size)
        seconds = time.perf_counter() - t0
        return self.score(images, labels), images, seconds

    def guided(self, model: Denoiser, labels: np.ndarray, steps: int, weights: list[float]) -> list[tuple[dict, float]]:
        """(scores, seconds) at each guidance weight, drawn from one shared start (`generate_guided`)."""
        drawn = generate_guided(model, len(labels), labels, self.seed, steps, weights, self.batch_size)
        return [(self.score(images, labels), seconds) for images, seconds in drawn]

    def score(self, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return judge_mod.score(self.judge.judge(images), self.real, labels, self.test_y)

    def requested(self, n: int) -> np.ndarray:
        return judge_mod.requested_labels(self.test_y, judge_mod.n_eval(n, len(self.test_y)), self.seed)


def epoch_labels(n: int) -> np.ndarray:
    """Balanced labels, class by class (n // 10 or one more of each)."""
    return np.repeat(np.arange(N_CLASSES), -(-n // N_CLASSES))[:n]


class EpochDrawings:
    """What the model draws after each epoch, from fixed noise: the snapshot grid every epoch, and on the
    scored epochs (`eval_every`, and the last) as many more as make `epoch_eval_samples`, scored together.

    The grid (SNAPSHOT_ROWS rows of the labels 0-9) is the first part of the scored drawings; the rest
    come from another seed, balanced over the labels too.
    """

    def __init__(self, scorer: Scorer, c: DiffusionConfig, seed: int):
        self.scorer, self.c, self.seed = scorer, c, seed
        self.grid_labels = np.tile(np.arange(N_CLASSES), SNAPSHOT_ROWS)
        self.more_labels = epoch_labels(max(c.epoch_eval_samples - len(self.grid_labels), 0))
        self.grid: np.ndarray | None = None

    def snapshot(self, model: Denoiser) -> None:
        self.grid = generate(model, len(self.grid_labels), self.grid_labels, self.seed + 1, batch_size=self.c.eval_batch_size)

    def score(self, model: Denoiser) -> dict[str, float]:
        more = generate(model, len(self.more_labels), self.more_labels, self.seed + 2, batch_size=self.c.eval_batch_size)
        return self.scorer.score(np.concatenate([self.grid, more]), np.concatenate([self.grid_labels, self.more_labels]))

    def tiled(self) -> np.ndarray:
        return tile(self.grid, N_CLASSES, fill=128).astype(np.uint8)


def train(cfg: Config, paths: Paths, data: dataset.TensorData, device: torch.device, scorer: Scorer, monitor: Monitor = NULL_MONITOR):
    c = cfg.diffusion
    epochs, steps = schedules.plan_epochs("diffusion", c.epochs, c.min_steps, c.batch_size, len(data.train_y))
    args = DiffusionArgs.from_config(c)
    torch.manual_seed(cfg.base.seed)
    model = Denoiser(args).to(device)
    ema = copy.deepcopy(model).requires_grad_(False) if c.ema_decay > 0 else None
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    sched = schedules.lr_schedule(opt, c.schedule, c.lr, epochs * steps)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    sig = checkpoints.signature("diffusion", {**c.model_dump(), "seed": cfg.base.seed}, data.sha256, CODE)
    drawings = EpochDrawings(scorer, c, cfg.base.seed)

    def run_epoch(epoch: int) -> dict[str, float]:
        with phase("optimiser_steps"):
            stats = train_one_epoch(model, ema, data, opt, sched, c, gen, epoch, epochs, (epoch - 1) * steps)
        painter = ema or model
        with phase("epoch_snapshot"):
            drawings.snapshot(painter)
        if not schedules.is_eval_epoch(epoch, epochs, c.eval_every):
            log.info("epoch %d/%d: loss %.4f (%.0f img/s)", epoch, epochs, stats["loss"], stats["images_per_second"])
            return {**stats, "lr": sched.get_last_lr()[0]}
        with phase("epoch_eval"):
            scores = drawings.score(painter)
        log.info(
            "epoch %d/%d: loss %.4f, FID %.1f, conditional accuracy %.2f (%.0f img/s)",
            epoch, epochs, stats["loss"], scores["fid"], scores["conditional_accuracy"], stats["images_per_second"],
        )  # fmt: skip
        return {**stats, **scores, "lr": sched.get_last_lr()[0]}

    stateful = {"model": model, "optimizer": opt, "scheduler": sched} | ({"ema": ema} if ema is not None else {})
    saved = checkpoints.Checkpointing(
        paths.checkpoint("diffusion"), sig, stateful, gen, {"kind": "diffusion", "model_args": args.as_dict()}
    )
    done = training.fit(
        "diffusion", epochs=epochs, run_epoch=run_epoch, checkpointing=saved, monitor=monitor, log=log, snapshot=drawings.tiled
    )
    return model, ema, done, epochs


def sweeps(model: Denoiser, scorer: Scorer, c: DiffusionConfig) -> tuple[list[dict], list[dict], dict | None]:
    """Judge's scores vs sampling steps (at the default guidance) and vs guidance (at the default steps).

    With a guidance interval (`guidance_from` > 0 or `guidance_until` < 1), also the default point
    with guidance at every step instead: what the interval changes, measured on the same samples'
    noise and labels. The guidance sweep's weights share the steps before the interval, which are
    drawn once (`generate_guided`: the same images as drawing each weight alone, a test checks it).
    """
    labels = scorer.requested(c.sweep_samples)
    seen: dict[tuple[int, float, float, float], tuple[dict, float]] = {}
    a = model.args

    def point(steps: int, guidance: float, interval: tuple[float, float] = (a.guidance_from, a.guidance_until)) -> dict:
        if (steps, guidance, *interval) not in seen:
            painter = copy.copy(model)  # shares the weights; only the sampling args differ
            painter.args = dataclasses.replace(a, guidance_from=interval[0], guidance_until=interval[1])
            scores, _, seconds = scorer(painter, labels, steps, guidance)
            seen[steps, guidance, *interval] = scores, seconds
        scores, seconds = seen[steps, guidance, *interval]
        keys = ("fid", "conditional_accuracy", "within_class_diversity", "inception_score")
        row = {"steps": steps, "guidance": guidance, "guidance_from": interval[0], "guidance_until": interval[1]}
        return row | {k: scores[k] for k in keys} | {"seconds_per_1000": seconds / len(labels) * 1000}

    weights = list(dict.fromkeys([float(g) for g in c.sweep_guidance]))  # the guidance sweep: its shared first steps drawn once
    for g, drawn in zip(weights, scorer.guided(model, labels, a.sample_steps, weights), strict=True):
        seen[a.sample_steps, g, a.guidance_from, a.guidance_until] = drawn
    steps_sweep = [point(s, a.guidance) for s in c.sweep_steps]
    guidance_sweep = [point(a.sample_steps, float(g)) for g in c.sweep_guidance]
    interval = None
    if a.guidance_from > 0 or a.guidance_until < 1:  # the default point (cached when a sweep has it) against guidance at every step
        default, everywhere = point(a.sample_steps, a.guidance), point(a.sample_steps, a.guidance, (0.0, 1.0))
        interval = {"from": a.guidance_from, "until": a.guidance_until, "interval": default, "every_step": everywhere}
    for row in steps_sweep:
        log.info("steps %3d: FID %.1f, conditional accuracy %.2f, %.1f s per 1,000", row["steps"], row["fid"],
                 row["conditional_accuracy"], row["seconds_per_1000"])  # fmt: skip
    return steps_sweep, guidance_sweep, interval


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    c = cfg.diffusion
    device = resolve_device(cfg.base)
    data = dataset.load_training(paths, device, cfg.contributions.weight)
    dataset.check_class_labels("diffusion", True, data, N_CLASSES)
    judge, cnn_metrics = load_judge(paths, data, device)
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    scorer = Scorer(judge, test_x, test_y, cfg.base.seed, c.eval_batch_size)
    model, ema, done, epochs = train(cfg, paths, data, device, scorer, monitor)
    payload = {"kind": "diffusion", "model_args": model.args.as_dict(), "model": model.state_dict(), "data_sha256": data.sha256}
    checkpoints.save_checkpoint(paths.final_model("diffusion"), payload | ({"ema": ema.state_dict()} if ema is not None else {}))
    painter = (ema or model).eval()
    proto = scoreboard.protocol_of(cfg, test_y)
    t0 = time.perf_counter()
    with phase("final_sampling"):  # the scoreboard's samples, drawn once: evaluate scores this very file

        def paint(labels: np.ndarray, seed: int) -> np.ndarray:
            return generate(painter, proto.n, labels, seed, batch_size=c.eval_batch_size)

        board = scoreboard.draw_board(paint, proto, True)
    seconds = time.perf_counter() - t0  # the sampler's time, in the metrics
    scoreboard.save_board(paths.scoreboard_samples("diffusion"), board)
    with phase("scoring"):
        scores = scoreboard.score_board(judge, board, *scoreboard.reference(judge, test_x, test_y, proto))
    samples = board.images[0]
    with phase("sweeps"):
        steps_sweep, guidance_sweep, interval = sweeps(painter, scorer, c)
    out = paths.figure_data("diffusion")
    with phase("figures"):
        figures, memo = diffusion_figures.save_all(painter, judge, data, samples, board.requested[0], done, out, cfg.base.seed)
        figures += [
            diffusion_figures.steps_sweep(steps_sweep, out / "steps_sweep.npz"),
            diffusion_figures.guidance_sweep(guidance_sweep, out / "guidance_sweep.npz"),
        ]
    metrics = {
        **scores,
        "n_samples": proto.n,
        "n_seeds": len(proto.seeds),
        "memorisation_ratio": memo,
        **judge_mod.judge_reference(cnn_metrics),
        "epochs": epochs,
        "steps": int(sum(h["steps"] for h in done.history)),
        "train_seconds": done.seconds,
        "images_per_second": float(np.mean([h["images_per_second"] for h in done.history])),
        "sample_seconds_per_1000": seconds / board.images[:, :, 0, 0].size * 1000,
        "device": device.type,
    }
    settings = {  # how it drew (the report quotes them); the sweeps' tables: provenance, not `dvc metrics show`
        "objective": c.objective,
        "sampler": c.sampler,
        "time_sampling": c.time_sampling,
        "sample_steps": c.sample_steps,
        "guidance": c.guidance,
        "guidance_from": c.guidance_from,
        "guidance_until": c.guidance_until,
        "label_drop": c.label_drop,
        "ema": ema is not None,
        "n_parameters": diffusion_model.n_parameters(model),
        "sweep_samples": len(scorer.requested(c.sweep_samples)),
        "steps_sweep": steps_sweep,
        "guidance_sweep": guidance_sweep,
        "guidance_interval": interval,
    }
    log.info("diffusion: FID %.2f (noise %.0f), IS %.2f, %.1f s per 1,000 samples", scores["fid"], metrics["fid_noise_ceiling"],
             scores["inception_score"], metrics["sample_seconds_per_1000"])  # fmt: skip
    return StageResult(
        metrics=metrics,
        figures=figures,
        history={"diffusion_history": done.history},
        models={"diffusion": paths.final_model("diffusion")},
        settings=settings,
    )
