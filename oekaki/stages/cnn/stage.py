"""Stage `cnn`: train the digit classifier (resumable), evaluate it, calibrate it as the judge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import checkpoints, schedules, training
from oekaki.core.config import CnnConfig, Config
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.device import resolve_device
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.data import dataset
from oekaki.models import cnn as cnn_model
from oekaki.models import judge as judge_mod
from oekaki.models import scoreboard
from oekaki.models.cnn import CnnArgs, DigitCNN, evaluate_classifier
from oekaki.stages.cnn import figures as cnn_figures

log = get_logger("cnn")
# a checkpoint resumes only under the same code: the stage, the loop and what feeds it, the model
CODE = [Path(__file__), *(Path(m.__file__) for m in (training, checkpoints, schedules, dataset, cnn_model))]


def make_optimizer(model: DigitCNN, c: CnnConfig, total_steps: int):
    opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    return opt, schedules.lr_schedule(opt, c.schedule, c.lr, total_steps)


def train_one_epoch(model, data: dataset.TensorData, opt, sched, c: CnnConfig, gen: torch.Generator, epoch: int, epochs: int) -> dict:
    return cnn_model.train_classifier_epoch(model, data, opt, sched, c, gen, f"cnn epoch {epoch}/{epochs}", log)


def train(
    cfg: Config, paths: Paths, data: dataset.TensorData, device: torch.device, monitor: Monitor = NULL_MONITOR
) -> tuple[DigitCNN, list[dict], float, int]:
    """Train with a checkpoint after each epoch; resume from one that matches this run."""
    c = cfg.cnn
    epochs, steps = schedules.plan_epochs("cnn", c.epochs, c.min_steps, c.batch_size, len(data.train_y))
    train_f = data.train_x.float() / 255.0
    args = CnnArgs.from_config(c, round(train_f.mean().item(), 6), round(train_f.std().item(), 6))
    torch.manual_seed(cfg.base.seed)
    model = DigitCNN(args).to(device)
    opt, sched = make_optimizer(model, c, epochs * steps)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    sig = checkpoints.signature("cnn", {**c.model_dump(), "seed": cfg.base.seed}, data.sha256, CODE)

    def run_epoch(epoch: int) -> dict[str, float]:
        with phase("optimiser_steps"):
            stats = train_one_epoch(model, data, opt, sched, c, gen, epoch, epochs)
        with phase("epoch_eval"):
            test, _ = evaluate_classifier(model, data.test_x, data.test_y, c.eval_batch_size)
        log.info(
            "epoch %d/%d: train loss %.4f, test accuracy %.4f (%.0f img/s)",
            epoch, epochs, stats["train_loss"], test["test_accuracy"], stats["images_per_second"],
        )  # fmt: skip
        return {**stats, **test, "lr": sched.get_last_lr()[0]}

    saved = checkpoints.Checkpointing(
        paths.checkpoint("cnn"), sig, {"model": model, "optimizer": opt, "scheduler": sched}, gen,
        {"kind": "cnn", "model_args": args.as_dict()},
    )  # fmt: skip
    done = training.fit("cnn", epochs=epochs, run_epoch=run_epoch, checkpointing=saved, monitor=monitor, log=log)
    return model, done.history, done.seconds, epochs


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    device = resolve_device(cfg.base)
    data = dataset.load_training(paths, device, cfg.contributions.weight)
    model, history, seconds, epochs = train(cfg, paths, data, device, monitor)
    test, probs = evaluate_classifier(model, data.test_x, data.test_y, cfg.cnn.eval_batch_size)
    checkpoints.save_checkpoint(
        paths.cnn_model,
        {"kind": "cnn", "model_args": model.args.as_dict(), "model": model.state_dict(), "metrics": test, "data_sha256": data.sha256},
    )
    judge = judge_mod.Judge(model, device)
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    with phase("scoring"):  # the judge's scale at the scoreboard's n, as its real and untrained rows score it
        proto = scoreboard.protocol_of(cfg, test_y)
        base = slice(0, data.n_base_train)  # the source's training split: contributed digits are no reference
        pool = (data.train_x[base].cpu().numpy(), data.train_y[base].cpu().numpy())
        real, noise = scoreboard.real_board(pool, proto), scoreboard.noise_board(proto)
        calibration = scoreboard.calibrate(judge, real, noise, *scoreboard.reference(judge, test_x, test_y, proto))
    with phase("figures"):
        figures = cnn_figures.save_all(model, judge, test_x, test_y, probs.numpy(), paths.figure_data("cnn"))
    metrics = {
        "test_accuracy": test["test_accuracy"],
        "test_loss": test["test_loss"],
        "epochs": epochs,
        "train_seconds": seconds,
        "images_per_second": float(np.mean([h["images_per_second"] for h in history])),
        "device": device.type,
        "calibration_n_samples": proto.n,
        **calibration,
    }
    return StageResult(metrics=metrics, figures=figures, history={"cnn_history": history}, models={"cnn-classifier": paths.cnn_model})
