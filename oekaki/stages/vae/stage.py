"""Stage `vae`: train the (conditional) VAE (resumable), draw and score its scoreboard samples, save its figures' data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import checkpoints, schedules, training
from oekaki.core.config import Config, VaeConfig
from oekaki.core.constants import N_CLASSES
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.device import resolve_device
from oekaki.core.paths import Paths
from oekaki.core.plots import tile
from oekaki.core.timing import phase
from oekaki.data import dataset
from oekaki.models import judge as judge_mod
from oekaki.models import label_reader, scoreboard
from oekaki.models import vae as vae_model
from oekaki.models.judge import load_judge
from oekaki.models.vae import ConvVAE, VaeArgs, as_input, fit_class_prior, generate, loss_terms, style_transfer, test_elbo
from oekaki.stages.vae import figures as vae_figures

log = get_logger("vae")
# a checkpoint resumes only under the same code: the stage, the loop and what feeds it, the model and its label reader
CODE = [Path(__file__), *(Path(m.__file__) for m in (training, checkpoints, schedules, dataset, vae_model, label_reader))]
SNAPSHOT_PER_ROW = 10
STYLE_SCORED = 500  # test digits whose style is decoded with every label for style_transfer_accuracy


def check_labels(c: VaeConfig, data: dataset.TensorData) -> None:
    dataset.check_class_labels("vae", c.conditional, data, N_CLASSES)


def make_optimizer(model: ConvVAE, c: VaeConfig, total_steps: int):
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    return opt, schedules.lr_schedule(opt, c.schedule, c.lr, total_steps)


class Reading:
    """The label reader (oekaki/models/label_reader.py) and its own optimiser, when `vae.reader_weight` > 0."""

    def __init__(self, c: VaeConfig, device: torch.device):
        self.reader = label_reader.LabelReader(c.reader_width).to(device)
        self.optimizer = torch.optim.Adam(self.reader.parameters(), lr=c.lr)

    def stateful(self) -> dict:
        return {"reader": self.reader, "reader_optimizer": self.optimizer}


def make_reading(c: VaeConfig, device: torch.device) -> Reading | None:
    """The reader of the conditional VAE with reader_weight > 0 (built after the VAE: the VAE's weights keep their seed)."""
    return Reading(c, device) if c.conditional and c.reader_weight > 0 else None


def reading_terms(model: ConvVAE, reading: Reading, x, y, mu, logvar, c: VaeConfig, gen: torch.Generator):
    """(the reader's loss on real images, the decoder's reading loss, the reader's hits on the real images).

    The first `reader_batch` images of the batch: the reader learns their labels; their latent
    vectors (a fresh draw from the encoder's Gaussian, held fixed) are decoded with random labels,
    and the fixed reader must read each drawing as the label it was decoded with.
    """
    n = c.reader_batch
    logits = reading.reader(x[:n])
    own = torch.nn.functional.cross_entropy(logits, y[:n])
    z = model.reparameterise(mu[:n], logvar[:n], gen).detach()
    asked = torch.randint(0, N_CLASSES, (n,), generator=gen).to(y.device)
    drawn = torch.sigmoid(model.decode(z, asked))
    return own, label_reader.read_as(reading.reader, drawn, asked), int((logits.argmax(1) == y[:n]).sum())


def train_one_epoch(
    model, data, opt, sched, c: VaeConfig, gen: torch.Generator, epoch: int, epochs: int, reading: Reading | None = None
) -> dict:
    model.train()
    sums, seen, read_seen = np.zeros(4), 0, 0
    bar = training.Progress(len(data.train_y), f"vae epoch {epoch}/{epochs}", log)
    for idx in dataset.batch_indices(len(data.train_y), c.batch_size, gen):
        x = as_input(data.train_x[idx])
        y = data.train_y[idx] if c.conditional else None
        logits, mu, logvar = model(x, y, gen)
        recon, kl = loss_terms(logits, x, mu, logvar)
        loss = (recon + c.beta * kl).mean()
        reads = reading is not None and len(idx) >= c.reader_batch
        if reads:
            own, read, hits = reading_terms(model, reading, x, y, mu, logvar, c, gen)
            loss = loss + c.reader_weight * read
            sums[2:] += [read.item() * c.reader_batch, hits]
            read_seen += c.reader_batch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if reads:  # after the decoder's backward: it needs the reader's weights as they were
            reading.optimizer.zero_grad(set_to_none=True)
            own.backward()
            reading.optimizer.step()
        opt.step()
        sched.step()
        sums[:2] += [recon.sum().item(), kl.sum().item()]
        seen += len(idx)
        bar.update(len(idx), recon=sums[0] / seen, kl=sums[1] / seen)
    rate = bar.close()
    recon, kl = (sums[:2] / seen).tolist()
    stats = {"train_loss_nats": recon + kl, "train_recon_nats": recon, "train_kl_nats": kl, "images_per_second": rate}
    if read_seen:  # per image the reader saw: its loss reading the drawings, its accuracy on real ones
        stats |= {"reading_loss": sums[2] / read_seen, "reader_train_accuracy": sums[3] / read_seen}
    return stats


def snapshot_fn(model: ConvVAE, seed: int):
    """Fixed standard-normal draws (and labels 0-9 row by row) decoded after every epoch, as one mosaic.

    They go through `latent`, whose class_fit Gaussians are N(0, I) until fit after the last epoch.
    """
    device = next(model.parameters()).device
    n = SNAPSHOT_PER_ROW * N_CLASSES
    z = torch.randn(n, model.args.latent_size, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    labels = torch.arange(N_CLASSES).repeat_interleave(SNAPSHOT_PER_ROW).to(device) if model.args.conditional else None

    def draw() -> np.ndarray:
        was_training = model.training
        model.eval()
        images = model.images(model.latent(z, labels), labels).cpu().numpy()
        model.train(was_training)
        return tile(images, SNAPSHOT_PER_ROW, fill=128).astype(np.uint8)

    return draw


def style_transfer_accuracy(model: ConvVAE, judge: judge_mod.Judge, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
    """(share, count) of style-transfer cells the judge reads as the label they were decoded with."""
    cells = style_transfer(model, x, y)  # (N, 10, 28, 28): row i = source i's style drawn as 0-9
    read = judge.judge(cells.reshape(-1, 28, 28)).probs.argmax(1).reshape(len(cells), N_CLASSES)
    hits = int((read == np.arange(N_CLASSES)).sum())
    return hits / read.size, hits


def latent_diagnosis(model: ConvVAE, judge: judge_mod.Judge, data: dataset.TensorData, seed: int) -> dict[str, float]:
    """Does the decoder draw the label it is given, and does the latent vector hold only style?

    - style_transfer_accuracy: over the first STYLE_SCORED test digits, each decoded with all ten
      labels; `style_grid_correct` of the report grid's `style_grid_cells` cells (same sources);
    - label_probe_accuracy: a linear probe's test accuracy predicting the label from the latent
      means (0.1 = chance: the label lives in the conditioning only);
    - prior_gap_nats: KL of the aggregate posterior's Gaussian from N(0, I), the loss's prior.
    """
    n = min(STYLE_SCORED, len(data.test_y))
    share, _ = style_transfer_accuracy(model, judge, data.test_x[:n], data.test_y[:n])
    ix = torch.as_tensor(vae_figures.style_sources(data.test_y.cpu().numpy()))
    _, grid_hits = style_transfer_accuracy(model, judge, data.test_x[ix], data.test_y[ix])
    return {
        "style_transfer_accuracy": share,
        "style_transfer_cells": n * N_CLASSES,
        "style_grid_correct": grid_hits,
        "style_grid_cells": len(ix) * N_CLASSES,
        "label_probe_accuracy": vae_model.label_probe_accuracy(model, data, seed),
        "prior_gap_nats": vae_model.prior_gap_nats(model, data.test_x, data.test_y),
    }


def train(cfg: Config, paths: Paths, data: dataset.TensorData, device: torch.device, monitor: Monitor = NULL_MONITOR):
    c = cfg.vae
    epochs, steps = schedules.plan_epochs("vae", c.epochs, c.min_steps, c.batch_size, len(data.train_y))
    args = VaeArgs.from_config(c)
    torch.manual_seed(cfg.base.seed)
    model = ConvVAE(args).to(device)
    reading = make_reading(c, device)
    opt, sched = make_optimizer(model, c, epochs * steps)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    sig = checkpoints.signature("vae", {**c.model_dump(), "seed": cfg.base.seed}, data.sha256, CODE)

    def run_epoch(epoch: int) -> dict[str, float]:
        with phase("optimiser_steps"):
            stats = train_one_epoch(model, data, opt, sched, c, gen, epoch, epochs, reading)
        if not schedules.is_eval_epoch(epoch, epochs, c.eval_every):
            return {**stats, "lr": sched.get_last_lr()[0]}
        with phase("epoch_eval"):
            test = test_elbo(model, data.test_x, data.test_y, c, cfg.base.seed)
        log.info(
            "epoch %d/%d: train %.2f nats, test %.2f nats (recon %.2f + KL %.2f), %.0f img/s",
            epoch, epochs, stats["train_loss_nats"], test["test_loss_nats"], test["test_recon_nats"], test["test_kl_nats"],
            stats["images_per_second"],
        )  # fmt: skip
        return {**stats, **test, "lr": sched.get_last_lr()[0]}

    stateful = {"model": model, "optimizer": opt, "scheduler": sched, **(reading.stateful() if reading else {})}
    saved = checkpoints.Checkpointing(paths.checkpoint("vae"), sig, stateful, gen, {"kind": "vae", "model_args": args.as_dict()})
    done = training.fit(
        "vae", epochs=epochs, run_epoch=run_epoch, checkpointing=saved, monitor=monitor, log=log, snapshot=snapshot_fn(model, cfg.base.seed)
    )
    return model, done, epochs, reading


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    c = cfg.vae
    device = resolve_device(cfg.base)
    data = dataset.load_training(paths, device, cfg.contributions.weight)
    check_labels(c, data)
    judge, cnn_metrics = load_judge(paths, data, device)
    model, done, epochs, reading = train(cfg, paths, data, device, monitor)
    with phase("prior_fit"):  # class_fit: each label's sampling Gaussian, from the final weights' training codes
        fit_class_prior(model, data.train_x, data.train_y)
    test = {k: done.history[-1][k] for k in ("test_loss_nats", "test_recon_nats", "test_kl_nats")}  # the final weights' evaluation
    checkpoints.save_checkpoint(
        paths.final_model("vae"),
        {"kind": "vae", "model_args": model.args.as_dict(), "model": model.state_dict(), "metrics": test, "data_sha256": data.sha256},
    )
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    proto = scoreboard.protocol_of(cfg, test_y)
    with phase("final_sampling"):  # the scoreboard's samples, drawn once: evaluate scores this very file

        def paint(labels: np.ndarray, seed: int) -> np.ndarray:
            return generate(model, proto.n, labels if c.conditional else None, seed)

        board = scoreboard.draw_board(paint, proto, c.conditional)
        scoreboard.save_board(paths.scoreboard_samples("vae"), board)
    with phase("scoring"):
        scores = scoreboard.score_board(judge, board, *scoreboard.reference(judge, test_x, test_y, proto))
        diagnosis = latent_diagnosis(model, judge, data, cfg.base.seed) if c.conditional else {}
        if reading is not None:  # how well the VAE's own reader names real test images (the judge's figure is beside it)
            diagnosis["reader_test_accuracy"] = label_reader.accuracy(reading.reader, as_input(data.test_x), data.test_y, c.eval_batch_size)
    with phase("figures"):
        figures = vae_figures.save_all(model, data, done.snapshots, paths.figure_data("vae"), cfg.base.seed)
    metrics = {
        **test,
        **scores,
        **diagnosis,
        "n_samples": proto.n,
        "n_seeds": len(proto.seeds),
        **judge_mod.judge_reference(cnn_metrics),
        "epochs": epochs,
        "train_seconds": done.seconds,
        "images_per_second": float(np.mean([h["images_per_second"] for h in done.history])),
        "device": device.type,
    }
    log.info(
        "vae: test loss %.2f nats, FID %.2f (noise %.0f), IS %.2f",
        test["test_loss_nats"],
        scores["fid"],
        metrics["fid_noise_ceiling"],
        scores["inception_score"],
    )
    return StageResult(metrics=metrics, figures=figures, history={"vae_history": done.history}, models={"vae": paths.final_model("vae")})
