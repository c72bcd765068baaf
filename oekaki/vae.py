"""Stage `vae`: train the (conditional) VAE (resumable), score its samples with the judge, draw it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from oekaki import judge as judge_mod
from oekaki import training
from oekaki.config import Config, VaeConfig
from oekaki.io import read_json
from oekaki.models.vae import N_CLASSES, ConvVAE, VaeArgs, loss_terms
from oekaki.paths import Paths
from oekaki.plots import tile
from oekaki.stage import NULL_MONITOR, Monitor, StageResult, get_logger

log = get_logger("vae")
CODE = [Path(__file__), Path(training.__file__), Path(__file__).parent / "models" / "vae.py"]
SNAPSHOT_PER_ROW = 10


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) grey levels in [0, 1] (the Bernoulli targets)."""
    return images.float().div(255.0).unsqueeze(1)


def check_labels(c: VaeConfig, data: training.TensorData) -> None:
    training.check_class_labels("vae", c.conditional, data, N_CLASSES)


def make_optimizer(model: ConvVAE, c: VaeConfig, total_steps: int):
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    return opt, training.lr_schedule(opt, c.schedule, c.lr, total_steps)


def train_one_epoch(model, data, opt, sched, c: VaeConfig, gen: torch.Generator, epoch: int, epochs: int) -> dict:
    model.train()
    sums, seen = np.zeros(2), 0
    bar = training.Progress(len(data.train_y), f"vae epoch {epoch}/{epochs}", log)
    for idx in training.batch_indices(len(data.train_y), c.batch_size, gen):
        x = as_input(data.train_x[idx])
        y = data.train_y[idx] if c.conditional else None
        logits, mu, logvar = model(x, y, gen)
        recon, kl = loss_terms(logits, x, mu, logvar)
        loss = (recon + c.beta * kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        sums += [recon.sum().item(), kl.sum().item()]
        seen += len(idx)
        bar.update(len(idx), recon=sums[0] / seen, kl=sums[1] / seen)
    rate = bar.close()
    recon, kl = (sums / seen).tolist()
    return {"train_loss_nats": recon + kl, "train_recon_nats": recon, "train_kl_nats": kl, "images_per_second": rate}


@torch.no_grad()
def evaluate(model: ConvVAE, x: torch.Tensor, y: torch.Tensor, c: VaeConfig, seed: int) -> dict[str, float]:
    """Negative ELBO per test image (one latent draw per image, fixed seed): recon + KL, in nats."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    recon_sum = kl_sum = 0.0
    for idx in training.batch_indices(len(y), c.eval_batch_size, None):
        xb = as_input(x[idx])
        logits, mu, logvar = model(xb, y[idx] if c.conditional else None, gen)
        recon, kl = loss_terms(logits, xb, mu, logvar)
        recon_sum += recon.sum().item()
        kl_sum += kl.sum().item()
    n = len(y)
    return {"test_loss_nats": (recon_sum + kl_sum) / n, "test_recon_nats": recon_sum / n, "test_kl_nats": kl_sum / n}


def generate(model: ConvVAE, n: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """n new images from z ~ N(0, I) (with the requested labels when conditional): uint8 (n, 28, 28)."""
    return training.sample_images(model, model.args.latent_size, n, labels, seed)


@torch.no_grad()
def encode_means(model: ConvVAE, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Latent means (N, latent_size) of uint8 images (N, 28, 28)."""
    model.eval()
    return torch.cat(
        [
            model.encode(as_input(x[i]), y[i] if model.args.conditional else None)[0]
            for i in training.batch_indices(len(x), batch_size, None)
        ]
    )


@torch.no_grad()
def style_transfer(model: ConvVAE, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Each source digit's latent "style" decoded with every label: uint8 (N, 10, 28, 28).

    The seed's "same style, another landscape": the encoder sees the image and its label, so
    the latent mean holds what the label does not; the decoder redraws it as each digit.
    """
    if not model.args.conditional:
        raise ValueError("style transfer needs the conditional VAE (vae.conditional = true)")
    mu = encode_means(model, x, y)  # (N, latent)
    device = mu.device
    labels = torch.arange(N_CLASSES, device=device)
    rows = [model.images(m.expand(N_CLASSES, -1), labels).cpu() for m in mu]
    return torch.stack(rows).numpy()


def snapshot_fn(model: ConvVAE, seed: int):
    """Fixed latent vectors (and labels 0-9 row by row) decoded after every epoch, as one mosaic."""
    device = next(model.parameters()).device
    n = SNAPSHOT_PER_ROW * N_CLASSES
    z = torch.randn(n, model.args.latent_size, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    labels = torch.arange(N_CLASSES).repeat_interleave(SNAPSHOT_PER_ROW).to(device) if model.args.conditional else None

    def draw() -> np.ndarray:
        was_training = model.training
        model.eval()
        images = model.images(z, labels).cpu().numpy()
        model.train(was_training)
        return tile(images, SNAPSHOT_PER_ROW, fill=128).astype(np.uint8)

    return draw


def judge_for(paths: Paths, data: training.TensorData, device: torch.device) -> tuple[judge_mod.Judge, dict]:
    """The cnn stage's judge and its calibration; refused when it was trained on other data."""
    ckpt = training.load_checkpoint(paths.cnn_model)
    if ckpt.get("data_sha256") != data.sha256:
        raise training.TrainingError(
            f"{paths.cnn_model} was trained on other data than {paths.prepared}; re-run the cnn stage first (`dvc repro cnn`)"
        )
    return judge_mod.Judge.from_checkpoint(ckpt, device), read_json(paths.metrics("cnn"))


def train(cfg: Config, paths: Paths, data: training.TensorData, device: torch.device, monitor: Monitor = NULL_MONITOR):
    c = cfg.vae
    epochs, steps = training.plan_epochs("vae", c.epochs, c.min_steps, c.batch_size, len(data.train_y))
    args = VaeArgs(c.latent_size, tuple(c.channels), c.hidden, c.conditional)
    torch.manual_seed(cfg.base.seed)
    model = ConvVAE(args).to(device)
    opt, sched = make_optimizer(model, c, epochs * steps)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    sig = training.signature("vae", {**dataclasses.asdict(c), "seed": cfg.base.seed}, data.sha256, CODE)

    def run_epoch(epoch: int) -> dict[str, float]:
        stats = train_one_epoch(model, data, opt, sched, c, gen, epoch, epochs)
        test = evaluate(model, data.test_x, data.test_y, c, cfg.base.seed)
        log.info(
            "epoch %d/%d: train %.2f nats, test %.2f nats (recon %.2f + KL %.2f), %.0f img/s",
            epoch, epochs, stats["train_loss_nats"], test["test_loss_nats"], test["test_recon_nats"], test["test_kl_nats"],
            stats["images_per_second"],
        )  # fmt: skip
        return {**stats, **test, "lr": sched.get_last_lr()[0]}

    done = training.fit(
        "vae", paths.checkpoint("vae"), sig, {"model": model, "optimizer": opt, "scheduler": sched}, gen, epochs, run_epoch,
        monitor, log, {"kind": "vae", "model_args": args.as_dict()}, snapshot=snapshot_fn(model, cfg.base.seed),
    )  # fmt: skip
    return model, done, epochs


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    c = cfg.vae
    device = training.resolve_device(cfg.base)
    data = training.TensorData.load(paths.prepared, device)
    check_labels(c, data)
    judge, cnn_metrics = judge_for(paths, data, device)
    model, done, epochs = train(cfg, paths, data, device, monitor)
    test = {k: done.history[-1][k] for k in ("test_loss_nats", "test_recon_nats", "test_kl_nats")}  # the final weights' evaluation
    training.save_checkpoint(
        paths.final_model("vae"),
        {"kind": "vae", "model_args": model.args.as_dict(), "model": model.state_dict(), "metrics": test, "data_sha256": data.sha256},
    )
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    n = judge_mod.n_eval(c.n_eval_samples, len(test_y))
    labels = judge_mod.requested_labels(test_y, n, cfg.base.seed) if c.conditional else None
    samples = generate(model, n, labels, cfg.base.seed)
    scores = judge_mod.score_generated(judge, samples, labels, test_x, test_y)
    from oekaki import vae_figures

    figures = vae_figures.draw_all(model, data, done.snapshots, paths.figures("vae"), cfg.report.figure_dpi, cfg.base.seed)
    metrics = {
        **test,
        **scores,
        "n_samples": n,
        "fid_noise_ceiling": cnn_metrics["fid_noise_ceiling"],
        "judge_test_accuracy": cnn_metrics["test_accuracy"],
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
