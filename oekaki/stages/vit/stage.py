"""Stage `vit`: train the Vision Transformer (resumable) on the CNN's data, split and seed; evaluate it; what it attends to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import checkpoints, schedules, training
from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.config import Config, VitConfig
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.device import resolve_device
from oekaki.core.errors import TrainingError
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.data import dataset
from oekaki.models import cnn as cnn_model
from oekaki.models import vit as vit_model
from oekaki.models.vit import DigitViT, VitArgs
from oekaki.stages.vit import figures as vit_figures

log = get_logger("vit")
# a checkpoint resumes only under the same code: the stage, the loop and what feeds it, the model
CODE = [Path(__file__), *(Path(m.__file__) for m in (training, checkpoints, schedules, dataset, vit_model, cnn_model))]


def make_optimizer(model: DigitViT, c: VitConfig, total_steps: int):
    """AdamW with weight decay on the matrices only (not on biases, norms, [CLS] or position embeddings)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("cls", "pos")]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and n not in ("cls", "pos"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=c.lr)
    return opt, schedules.lr_schedule(opt, c.schedule, c.lr, total_steps)


@torch.no_grad()
def evaluate(model: DigitViT, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[dict, torch.Tensor]:
    """Test loss (plain cross-entropy, nats) and accuracy; also the (N, 10) probabilities (the CNN's own evaluation)."""
    return cnn_model.evaluate_classifier(model, x, y, batch_size)


def train_one_epoch(model, data: dataset.TensorData, opt, sched, c: VitConfig, gen: torch.Generator, epoch: int, epochs: int) -> dict:
    return cnn_model.train_classifier_epoch(model, data, opt, sched, c, gen, f"vit epoch {epoch}/{epochs}", log)


def train(
    cfg: Config, paths: Paths, data: dataset.TensorData, device: torch.device, monitor: Monitor = NULL_MONITOR
) -> tuple[DigitViT, list[dict], float, int]:
    """Train with a checkpoint after each epoch; resume from one that matches this run."""
    c = cfg.vit
    epochs, steps = schedules.plan_epochs("vit", c.epochs, c.min_steps, c.batch_size, len(data.train_y))
    train_f = data.train_x.float() / 255.0
    args = VitArgs.from_config(c, round(train_f.mean().item(), 6), round(train_f.std().item(), 6))
    torch.manual_seed(cfg.base.seed)
    model = DigitViT(args).to(device)
    opt, sched = make_optimizer(model, c, epochs * steps)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    sig = checkpoints.signature("vit", {**c.model_dump(), "seed": cfg.base.seed}, data.sha256, CODE)

    def run_epoch(epoch: int) -> dict[str, float]:
        with phase("optimiser_steps"):
            stats = train_one_epoch(model, data, opt, sched, c, gen, epoch, epochs)
        row = {**stats, "lr": sched.get_last_lr()[0]}
        if schedules.is_eval_epoch(epoch, epochs, c.eval_every):
            with phase("epoch_eval"):
                test, _ = evaluate(model, data.test_x, data.test_y, c.eval_batch_size)
            row |= test
            log.info("epoch %d/%d: train loss %.4f, test accuracy %.4f (%.0f img/s)",
                     epoch, epochs, stats["train_loss"], test["test_accuracy"], stats["images_per_second"])  # fmt: skip
        return row

    saved = checkpoints.Checkpointing(
        paths.checkpoint("vit"), sig, {"model": model, "optimizer": opt, "scheduler": sched}, gen,
        {"kind": "vit", "model_args": args.as_dict()},
    )  # fmt: skip
    done = training.fit("vit", epochs=epochs, run_epoch=run_epoch, checkpointing=saved, monitor=monitor, log=log)
    return model, done.history, done.seconds, epochs


def load_cnn(paths: Paths, data: dataset.TensorData, device: torch.device):
    """The CNN trained on this very data, for its feature maps beside the ViT's attention."""
    ckpt = load_checkpoint(paths.cnn_model)
    if ckpt.get("data_sha256") != data.sha256:
        raise TrainingError(f"{paths.cnn_model} was trained on other data than this stage's; re-run the cnn stage first (`dvc repro cnn`)")
    return cnn_model.from_checkpoint(ckpt).to(device)


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    device = resolve_device(cfg.base)
    data = dataset.load_training(paths, device, cfg.contributions.weight)
    model, history, seconds, epochs = train(cfg, paths, data, device, monitor)
    test, probs = evaluate(model, data.test_x, data.test_y, cfg.vit.eval_batch_size)
    checkpoints.save_checkpoint(
        paths.vit_model,
        {"kind": "vit", "model_args": model.args.as_dict(), "model": model.state_dict(), "metrics": test, "data_sha256": data.sha256},
    )
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    with phase("figures"):
        figures, measured = vit_figures.save_all(
            model.cpu().eval(), load_cnn(paths, data, torch.device("cpu")).eval(), test_x, test_y, probs.numpy(), paths.figure_data("vit")
        )
    metrics = {
        "test_accuracy": test["test_accuracy"],
        "test_loss": test["test_loss"],
        "epochs": epochs,
        "train_seconds": seconds,
        "images_per_second": float(np.mean([h["images_per_second"] for h in history])),
        "n_parameters": vit_model.n_parameters(model),
        "patch": model.args.patch,
        "grid": model.args.grid,
        "tokens": model.args.grid**2,
        "depth": model.args.depth,
        "stem": model.args.stem,
        "device": device.type,
        **measured,
    }
    return StageResult(metrics=metrics, figures=figures, history={"vit_history": history}, models={"vit-classifier": paths.vit_model})
