"""Stage `autoencoder`: train the text painter's autoencoder (resumable), measure how faithfully it reconstructs.

Measured on the test split: reconstruction loss terms, pixel MSE, and the reconstruction FID: the judge's FID
(the scoreboard's measure) between the reconstructions of the scoreboard's reference test images and those images.
It bounds the text painter from below: a painter that drew perfect latents would still be this far from real digits.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from oekaki.core import checkpoints, figure_data, schedules, training
from oekaki.core.config import AutoencoderConfig, Config
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.device import resolve_device
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.data import dataset
from oekaki.models import autoencoder as ae_model
from oekaki.models import judge as judge_mod
from oekaki.models import scoreboard
from oekaki.models.autoencoder import Autoencoder, AutoencoderArgs
from oekaki.models.judge import load_judge

log = get_logger("autoencoder")
# a checkpoint resumes only under the same code: the stage, the loop and what feeds it, the model
CODE = [Path(__file__), *(Path(m.__file__) for m in (training, checkpoints, schedules, dataset, ae_model))]
SHOWN = 10  # test digits in the reconstruction and latent figures (one of each class where there is one)


def train_one_epoch(model: Autoencoder, data: dataset.TensorData, opt, sched, c: AutoencoderConfig, gen, epoch: int, epochs: int) -> dict:
    """One pass over the training images: Bernoulli reconstruction + kl_weight x KL, nats per image."""
    model.train()
    total = rec_total = kl_total = 0.0
    n = 0
    bar = training.Progress(len(data.train_y), f"autoencoder epoch {epoch}/{epochs}", log)
    steps = -(-len(data.train_y) // c.batch_size)  # batch_indices' last batch may be short
    for idx in dataset.batch_indices(len(data.train_y), c.batch_size, gen):
        x = ae_model.as_input(data.train_x[idx])
        logits, mu, logvar = model(x, gen)
        rec, kl = ae_model.loss_terms(logits, x, mu, logvar)
        loss = rec + c.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total, rec_total, kl_total, n = (
            total + loss.item() * len(idx),
            rec_total + rec.item() * len(idx),
            kl_total + kl.item() * len(idx),
            n + len(idx),
        )
        bar.update(len(idx), loss=total / n)
    return {"loss": total / n, "rec_nats": rec_total / n, "kl_nats": kl_total / n, "steps": steps, "images_per_second": bar.close()}


def train(cfg: Config, paths: Paths, data: dataset.TensorData, device: torch.device, monitor: Monitor = NULL_MONITOR):
    """Train with a checkpoint after each epoch; resume from one that matches this run."""
    c = cfg.autoencoder
    epochs, steps = schedules.plan_epochs("autoencoder", c.epochs, c.min_steps, c.batch_size, len(data.train_y))
    args = AutoencoderArgs.from_config(c)
    torch.manual_seed(cfg.base.seed)
    model = Autoencoder(args).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    sched = schedules.lr_schedule(opt, c.schedule, c.lr, epochs * steps)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    sig = checkpoints.signature("autoencoder", {**c.model_dump(), "seed": cfg.base.seed}, data.sha256, CODE)

    def run_epoch(epoch: int) -> dict[str, float]:
        with phase("optimiser_steps"):
            stats = train_one_epoch(model, data, opt, sched, c, gen, epoch, epochs)
        log.info("epoch %d/%d: loss %.2f nats (reconstruction %.2f, KL %.1f), %.0f img/s",
                 epoch, epochs, stats["loss"], stats["rec_nats"], stats["kl_nats"], stats["images_per_second"])  # fmt: skip
        return {**stats, "lr": sched.get_last_lr()[0]}

    saved = checkpoints.Checkpointing(
        paths.checkpoint("autoencoder"), sig, {"model": model, "optimizer": opt, "scheduler": sched}, gen,
        {"kind": "autoencoder", "model_args": args.as_dict()},
    )  # fmt: skip
    done = training.fit("autoencoder", epochs=epochs, run_epoch=run_epoch, checkpointing=saved, monitor=monitor, log=log)
    return model, done, epochs


def shown_indices(test_y: np.ndarray) -> np.ndarray:
    """The first test digit of each class (fewer classes: the first SHOWN digits)."""
    firsts = [int(np.flatnonzero(test_y == c)[0]) for c in np.unique(test_y)][:SHOWN]
    return np.asarray(firsts if len(firsts) == SHOWN else np.arange(min(SHOWN, len(test_y))))


def save_figures(model: Autoencoder, test_x: torch.Tensor, test_y: np.ndarray, out: Path) -> list[Path]:
    """Originals above their reconstructions; each digit's latent grid, one small image per channel."""
    pick = torch.as_tensor(shown_indices(test_y))
    x = test_x[pick]
    recon = ae_model.reconstruct(model, x)
    z = ae_model.encode_means(model, x).cpu().numpy()  # (k, C, 7, 7)
    return [
        figure_data.digit_grid(out / "reconstructions.npz", np.concatenate([x.cpu().numpy(), recon]), len(pick)),
        figure_data.save(out / "latents.npz", "latent_channels", images=x.cpu().numpy(), latents=z.astype(np.float32),
                         labels=test_y[pick.numpy()]),
    ]  # fmt: skip


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    c = cfg.autoencoder
    device = resolve_device(cfg.base)
    data = dataset.load_training(paths, device, cfg.contributions.weight)
    judge, cnn_metrics = load_judge(paths, data, device)
    model, done, epochs = train(cfg, paths, data, device, monitor)
    model.eval()
    payload = {"kind": "autoencoder", "model_args": model.args.as_dict(), "model": model.state_dict(), "data_sha256": data.sha256}
    checkpoints.save_checkpoint(paths.final_model("autoencoder"), payload)
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    with phase("scoring"):
        test = ae_model.evaluate(model, data.test_x, c.kl_weight, c.eval_batch_size)
        proto = scoreboard.protocol_of(cfg, test_y)
        pick = judge_mod.requested_indices(len(test_y), proto.n, proto.seeds[0])  # the scoreboard's reference images
        real, _ = scoreboard.reference(judge, test_x, test_y, proto)
        t0 = time.perf_counter()
        recon = ae_model.reconstruct(model, data.test_x[torch.as_tensor(pick)], c.eval_batch_size)
        seconds = time.perf_counter() - t0
        rfid = judge_mod.frechet_distance(judge.judge(recon).features, real.features)
        read = float(np.mean(judge.judge(recon).probs.argmax(1) == test_y[pick]))
    with phase("figures"):
        figures = save_figures(model, data.test_x, test_y, paths.figure_data("autoencoder"))
    metrics = {
        **test,
        "reconstruction_fid": rfid,
        "reconstruction_accuracy": read,  # the judge reads the reconstruction as the original's label
        "n_reconstructed": int(len(pick)),
        "reconstruct_seconds_per_1000": seconds / len(pick) * 1000,
        **judge_mod.judge_reference(cnn_metrics),
        "latent_shape": [model.args.latent_channels, 7, 7],
        "compression": 28 * 28 / (model.args.latent_channels * 49),
        "epochs": epochs,
        "steps": int(sum(h["steps"] for h in done.history)),
        "train_seconds": done.seconds,
        "images_per_second": float(np.mean([h["images_per_second"] for h in done.history])),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "device": device.type,
    }
    log.info("autoencoder: reconstruction FID %.2f, MSE %.4f, judge reads %.1f %% of reconstructions right",
             rfid, test["test_mse"], 100 * read)  # fmt: skip
    return StageResult(metrics=metrics, figures=figures, history={"autoencoder_history": done.history})
