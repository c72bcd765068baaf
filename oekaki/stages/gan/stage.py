"""Stage `gan`: train the (conditional) DCGAN (resumable), measure collapse as it trains, draw it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from oekaki.core import checkpoints, schedules, training
from oekaki.core.config import Config, GanConfig
from oekaki.core.constants import N_CLASSES
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.device import resolve_device
from oekaki.core.paths import Paths
from oekaki.core.plots import tile
from oekaki.core.timing import phase
from oekaki.data import dataset
from oekaki.models import gan as gan_model
from oekaki.models import judge as judge_mod
from oekaki.models import sampling, scoreboard
from oekaki.models.gan import Discriminator, GanArgs, Generator, generate
from oekaki.models.judge import load_judge
from oekaki.stages.gan import figures as gan_figures

log = get_logger("gan")
# a checkpoint resumes only under the same code: the stage, the loop and what feeds it, the model
CODE = [Path(__file__), *(Path(m.__file__) for m in (training, checkpoints, schedules, dataset, gan_model))]
SNAPSHOT_PER_ROW = 10


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [-1, 1], the generator's tanh range."""
    return images.float().div(127.5).sub(1.0).unsqueeze(1)


def check_labels(c: GanConfig, data: dataset.TensorData) -> None:
    dataset.check_class_labels("gan", c.conditional, data, N_CLASSES)


def _noise(n: int, c: GanConfig, gen: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noise and requested labels for n fakes; with the mode-seeking term the second half asks for the
    same labels as the first, so that each pair differs only in its noise."""
    z = torch.randn(n, c.noise_size, generator=gen).to(device)
    if not c.conditional:
        return z, None
    if c.mode_seeking > 0:
        half = torch.randint(0, N_CLASSES, (n // 2,), generator=gen)
        odd = torch.randint(0, N_CLASSES, (n % 2,), generator=gen)  # an odd batch's last fake has no pair
        return z, torch.cat([half, half, odd]).to(device)
    return z, torch.randint(0, N_CLASSES, (n,), generator=gen).to(device)


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSGAN's term (Mao et al. 2019): 1 / (image distance / noise distance) between the two halves of
    the batch, which ask for the same labels. Small when different noise gives different drawings,
    so the generator is pushed away from drawing one picture per label (mode collapse)."""
    h = len(z) // 2
    ratio = (fake[:h] - fake[h : 2 * h]).abs().mean() / (z[:h] - z[h : 2 * h]).abs().mean()
    return 1.0 / (ratio + 1e-5)


def train_one_epoch(G: Generator, D: Discriminator, data, opt_g, opt_d, c: GanConfig, gen, epoch: int, epochs: int) -> dict:
    """One pass over the real images: a discriminator step per batch, a generator step every `d_steps`.

    Non-saturating GAN loss; the real target is `real_label` (one-sided label smoothing).
    """
    G.train()
    D.train()
    device = data.train_x.device
    sums = {"loss_d": 0.0, "loss_g": 0.0, "d_real": 0.0, "d_fake": 0.0}
    n_d = n_g = 0
    bar = training.Progress(len(data.train_y), f"gan epoch {epoch}/{epochs}", log)
    for i, idx in enumerate(dataset.batch_indices(len(data.train_y), c.batch_size, gen)):
        x = as_input(data.train_x[idx]).contiguous(memory_format=torch.channels_last)
        y = data.train_y[idx] if c.conditional else None
        z, y_fake = _noise(len(idx), c, gen, device)
        fake = G(z, y_fake)
        (real_logit, real_cls), (fake_logit, _) = D.scores(x, y), D.scores(fake.detach(), y_fake)
        loss_d = F.binary_cross_entropy_with_logits(
            real_logit, torch.full_like(real_logit, c.real_label)
        ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
        if real_cls is not None:  # AC-GAN term: the discriminator also learns to name real digits
            loss_d = loss_d + c.aux_weight * F.cross_entropy(real_cls, y)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        sums["loss_d"] += loss_d.item()
        sums["d_real"] += torch.sigmoid(real_logit).mean().item()
        sums["d_fake"] += torch.sigmoid(fake_logit).mean().item()
        n_d += 1
        if (i + 1) % c.d_steps == 0:
            g_logit, g_cls = D.scores(fake, y_fake)  # the same fakes, now through the updated discriminator
            loss_g = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
            if g_cls is not None:  # ... and the generator must draw what it was asked for
                loss_g = loss_g + c.aux_weight * F.cross_entropy(g_cls, y_fake)
            if c.mode_seeking > 0:  # ... in more than one way
                loss_g = loss_g + c.mode_seeking * mode_seeking_loss(fake, z)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            sums["loss_g"] += loss_g.item()
            n_g += 1
        bar.update(len(idx), loss_d=sums["loss_d"] / n_d, loss_g=sums["loss_g"] / max(n_g, 1))
    rate = bar.close()
    return {
        "loss_d": sums["loss_d"] / n_d,
        "loss_g": sums["loss_g"] / max(n_g, 1),
        "d_real": sums["d_real"] / n_d,
        "d_fake": sums["d_fake"] / n_d,
        "g_steps": n_g,
        "images_per_second": rate,
    }


class EpochScorer:
    """The judge's measures of n generated images against the (once-judged) real test set, after every epoch
    (a progress signal; the final scores are the scoreboard's, `score_final`)."""

    def __init__(self, judge: judge_mod.Judge, test_x: np.ndarray, test_y: np.ndarray, conditional: bool, seed: int):
        self.judge, self.test_y, self.conditional, self.seed = judge, test_y, conditional, seed
        self.real = judge.judge(test_x)

    def __call__(self, G: Generator, n: int) -> tuple[dict[str, float], np.ndarray]:
        n = judge_mod.n_eval(n, len(self.test_y))
        labels = judge_mod.requested_labels(self.test_y, n, self.seed) if self.conditional else None
        images = generate(G, n, labels, self.seed)
        scores = judge_mod.score(self.judge.judge(images), self.real, labels, self.test_y if self.conditional else None)
        return scores, images


def choose_truncation(G: Generator, judge: judge_mod.Judge, data: dataset.TensorData, c: GanConfig, seeds: list[int]):
    """The least truncation whose drawings the judge reads as their labels about as well as real images; (it, the trials).

    Tried after training, in order: `truncation_relax` (least truncated first), then `truncation`,
    which is kept when none passes. Each draws the validation split's labels (its size, each seed
    of `seeds`) and passes when the judge's asked-for share is at most `truncation_margin` below
    its accuracy on the real validation images. The validation split is never trained on and is
    not the test set the scoreboard reports. An unconditional GAN keeps `truncation`.
    """
    if not c.conditional or not c.truncation_relax:
        return c.truncation, []
    val_x, val_y = data.val_x.cpu().numpy(), data.val_y.cpu().numpy()
    real = judge_mod.conditional_accuracy(judge.judge(val_x).probs, val_y)
    trials = []
    for t in [*c.truncation_relax, c.truncation]:
        drawn = [sampling.sample_images(G, G.args.noise_size, len(val_y), val_y, seed, truncation=t) for seed in seeds]
        asked = float(np.mean([judge_mod.conditional_accuracy(judge.judge(images).probs, val_y) for images in drawn]))
        trials.append({"truncation": float(t), "conditional_accuracy": asked, "judge_accuracy": real})
        if asked >= real - c.truncation_margin:
            return float(t), trials
    return c.truncation, trials


def score_final(cfg: Config, paths: Paths, G: Generator, judge, test_x: np.ndarray, test_y: np.ndarray):
    """The scoreboard's samples, drawn once and saved (evaluate scores this very file); (scores, first seed's images)."""
    proto = scoreboard.protocol_of(cfg, test_y)
    conditional = G.args.conditional
    with phase("final_sampling"):
        board = scoreboard.draw_board(lambda labels, seed: generate(G, proto.n, labels if conditional else None, seed), proto, conditional)
        scoreboard.save_board(paths.scoreboard_samples("gan"), board)
    with phase("scoring"):
        scores = scoreboard.score_board(judge, board, *scoreboard.reference(judge, test_x, test_y, proto))
    return scores, board.images[0]


def snapshot_fn(G: Generator, seed: int):
    """The same noise vectors (and labels 0-9 row by row) decoded after every epoch, as one mosaic."""
    n = SNAPSHOT_PER_ROW * N_CLASSES
    labels = np.repeat(np.arange(N_CLASSES), SNAPSHOT_PER_ROW) if G.args.conditional else None

    def draw() -> np.ndarray:
        return tile(generate(G, n, labels, seed + 1), SNAPSHOT_PER_ROW, fill=128).astype(np.uint8)

    return draw


def make_optimizers(G: Generator, D: Discriminator, c: GanConfig):
    opt_g = torch.optim.Adam(G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
    return opt_g, opt_d


def train(cfg: Config, paths: Paths, data: dataset.TensorData, device: torch.device, scorer: EpochScorer, monitor: Monitor = NULL_MONITOR):
    c = cfg.gan
    # one generator step per `d_steps` batches: plan by generator steps
    epochs, steps = schedules.plan_epochs("gan", c.epochs, c.min_steps, c.batch_size * c.d_steps, len(data.train_y))
    args = GanArgs.from_config(c)
    torch.manual_seed(cfg.base.seed)
    # channels_last: +5-8 % generator steps per second on this CPU (gan_levers bench of db33f3d, docs/speed.md)
    G = Generator(args).to(device, memory_format=torch.channels_last)
    D = Discriminator(args).to(device, memory_format=torch.channels_last)
    opt_g, opt_d = make_optimizers(G, D, c)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    sig = checkpoints.signature("gan", {**c.model_dump(), "seed": cfg.base.seed}, data.sha256, CODE)

    def run_epoch(epoch: int) -> dict[str, float]:
        with phase("optimiser_steps"):
            stats = train_one_epoch(G, D, data, opt_g, opt_d, c, gen, epoch, epochs)
        if not schedules.is_eval_epoch(epoch, epochs, c.eval_every):
            log.info("epoch %d/%d: loss D %.3f G %.3f (%.0f img/s)", epoch, epochs, stats["loss_d"], stats["loss_g"],
                     stats["images_per_second"])  # fmt: skip
            return stats
        with phase("epoch_eval"):
            scores, _ = scorer(G, c.epoch_eval_samples)
        spread = "within_class_diversity" if c.conditional else "class_entropy"
        log.info(
            "epoch %d/%d: loss D %.3f G %.3f, D(real) %.2f D(fake) %.2f, FID %.1f, %s %.2f (%.0f img/s)",
            epoch, epochs, stats["loss_d"], stats["loss_g"], stats["d_real"], stats["d_fake"], scores["fid"], spread,
            scores[spread], stats["images_per_second"],
        )  # fmt: skip
        return {**stats, **scores}

    stateful = {"generator": G, "discriminator": D, "optimizer_g": opt_g, "optimizer_d": opt_d}
    saved = checkpoints.Checkpointing(paths.checkpoint("gan"), sig, stateful, gen, {"kind": "gan", "model_args": args.as_dict()})
    done = training.fit(
        "gan", epochs=epochs, run_epoch=run_epoch, checkpointing=saved, monitor=monitor, log=log, snapshot=snapshot_fn(G, cfg.base.seed)
    )
    return G, D, done, epochs


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    c = cfg.gan
    device = resolve_device(cfg.base)
    data = dataset.load_training(paths, device, cfg.contributions.weight)
    check_labels(c, data)
    judge, cnn_metrics = load_judge(paths, data, device)
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    scorer = EpochScorer(judge, test_x, test_y, c.conditional, cfg.base.seed)
    G, D, done, epochs = train(cfg, paths, data, device, scorer, monitor)
    with phase("truncation_choice"):
        seeds = [cfg.base.seed + k for k in range(cfg.evaluate.n_seeds)]
        chosen, trials = choose_truncation(G, judge, data, c, seeds)
    G.args = dataclasses.replace(G.args, truncation=chosen)  # what the checkpoint records and every later drawing uses
    for row in trials:
        log.info("truncation %.2g: asked-for share %.2f%% on the validation split (judge %.2f%%)", row["truncation"],
                 100 * row["conditional_accuracy"], 100 * row["judge_accuracy"])  # fmt: skip
    checkpoints.save_checkpoint(
        paths.final_model("gan"),
        {
            "kind": "gan", "model_args": G.args.as_dict(), "generator": G.state_dict(), "discriminator": D.state_dict(),
            "data_sha256": data.sha256,
        },
    )  # fmt: skip
    scores, samples = score_final(cfg, paths, G, judge, test_x, test_y)
    with phase("figures"):
        figures, memo = gan_figures.save_all(G, judge, data, samples, done, paths.figure_data("gan"), cfg.base.seed)
    metrics = {
        **scores,
        "n_samples": len(samples),
        "n_seeds": cfg.evaluate.n_seeds,
        "memorisation_ratio": memo,
        **judge_mod.judge_reference(cnn_metrics),
        "epochs": epochs,
        "g_steps": int(sum(h["g_steps"] for h in done.history)),
        "train_seconds": done.seconds,
        "images_per_second": float(np.mean([h["images_per_second"] for h in done.history])),
        "device": device.type,
    }
    log.info("gan: FID %.2f (noise %.0f), IS %.2f", scores["fid"], metrics["fid_noise_ceiling"], scores["inception_score"])
    return StageResult(
        metrics=metrics,
        figures=figures,
        history={"gan_history": done.history},
        models={"gan-generator": paths.final_model("gan")},
        settings={"truncation": chosen, "truncation_trials": trials},  # how it draws (the report quotes it): provenance
    )
