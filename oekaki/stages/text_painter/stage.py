"""Stage `text_painter`: train the text encoder and the latent denoiser together (resumable), then measure obedience.

Training data: every training digit's autoencoder latent (the posterior mean, standardised per channel) and
`captions_per_image` captions written from its measured attributes (oekaki/data/attributes.py, per-class tertiles;
oekaki/models/captions.py, English or Japanese, the held-out combinations never named). Each step draws one caption
per image and drops it to the empty prompt with probability `caption_drop` (classifier-free guidance).

Measured after training (oekaki/models/adherence.py, which the promotion gate shares): digit and attribute adherence per language, the
held-out combinations against the seen ones, adherence vs guidance; the scoreboard's FID on digit prompts (the
same judge, reference and request as every painter's, drawn once and saved for the promotion gate).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch

from oekaki.core import checkpoints, schedules, training
from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.config import Config, TextPainterConfig
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.device import resolve_device
from oekaki.core.errors import TrainingError
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.core.training import ema_update
from oekaki.data import attributes, dataset
from oekaki.models import adherence as adh
from oekaki.models import autoencoder as ae_model
from oekaki.models import captions, scoreboard
from oekaki.models import diffusion as diffusion_model
from oekaki.models import judge as judge_mod
from oekaki.models import text_painter as tp_model
from oekaki.models.judge import load_judge
from oekaki.models.text_painter import TextDenoiser, TextPainter, TextPainterArgs
from oekaki.stages.text_painter import figures as tp_figures

log = get_logger("text_painter")
# a checkpoint resumes only under the same code: the stage, the loop and what feeds it, the models, the captions
CODE = [Path(__file__), *(Path(m.__file__) for m in (training, checkpoints, schedules, dataset, attributes, captions, tp_model,
                                                      diffusion_model, ae_model))]  # fmt: skip
SWEEP_EVERY = 3  # the guidance sweep draws every 3rd adherence request


def load_autoencoder(paths: Paths, data: dataset.TensorData, device: torch.device) -> tuple[ae_model.Autoencoder, dict]:
    """The autoencoder trained on this very data (its checkpoint, to be stored inside the text painter's)."""
    ckpt = load_checkpoint(paths.final_model("autoencoder"))
    if ckpt.get("data_sha256") != data.sha256:
        raise TrainingError(f"{paths.final_model('autoencoder')} was trained on other data than this stage's; "
                            "re-run the autoencoder stage first (`dvc repro autoencoder`)")  # fmt: skip
    return ae_model.from_checkpoint(ckpt).to(device), {k: ckpt[k] for k in ("kind", "model_args", "model")}


def caption_bank(levels: dict[str, np.ndarray], labels: np.ndarray, c: TextPainterConfig, tok: captions.Tokenizer, seed: int):
    """Token ids (N, captions_per_image, max_tokens): each training digit's caption variants, written once."""
    rng = np.random.default_rng(seed)
    texts = [
        captions.training_caption(int(y), {a: int(levels[a][i]) for a in attributes.ATTRIBUTES}, rng, c.mention)
        for i, y in enumerate(labels) for _ in range(c.captions_per_image)
    ]  # fmt: skip
    return torch.from_numpy(tok.batch(texts, c.max_tokens)).reshape(len(labels), c.captions_per_image, c.max_tokens), texts


def train_one_epoch(
    model: TextDenoiser, ema, latents, bank, opt, sched, c: TextPainterConfig, gen, epoch: int, epochs: int, first_step: int
):
    """One pass over the training latents, one of each image's captions per step, some dropped to the empty prompt."""
    model.train()
    total, n = 0.0, 0
    bar = training.Progress(len(latents), f"text_painter epoch {epoch}/{epochs}", log)
    for i, idx in enumerate(dataset.batch_indices(len(latents), c.batch_size, gen)):
        pick = torch.randint(bank.shape[1], (len(idx),), generator=gen)
        ids = bank[idx.cpu(), pick].to(latents.device)
        drop = (torch.rand(len(idx), generator=gen) < c.caption_drop).to(latents.device)
        ids = torch.where(drop[:, None], model.unconditional(ids), ids)
        loss = diffusion_model.loss(model, latents[idx], ids, gen, c.time_sampling)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if ema is not None:
            ema_update(ema, model, c.ema_decay, first_step + i)
        total, n = total + loss.item() * len(idx), n + len(idx)
        bar.update(len(idx), loss=total / n)
    return {"loss": total / n, "steps": i + 1, "images_per_second": bar.close()}


def train(cfg: Config, paths: Paths, latents: torch.Tensor, bank: torch.Tensor, args: TextPainterArgs, data_sha: str, monitor: Monitor):
    c = cfg.text_painter
    epochs, steps = schedules.plan_epochs("text_painter", c.epochs, c.min_steps, c.batch_size, len(latents))
    torch.manual_seed(cfg.base.seed)
    model = TextDenoiser(args).to(latents.device)
    ema = copy.deepcopy(model).requires_grad_(False) if c.ema_decay > 0 else None
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    sched = schedules.lr_schedule(opt, c.schedule, c.lr, epochs * steps)
    gen = torch.Generator().manual_seed(cfg.base.seed)
    sig = checkpoints.signature("text_painter", {**c.model_dump(), "seed": cfg.base.seed, "autoencoder": cfg.autoencoder.model_dump()},
                                data_sha, CODE)  # fmt: skip

    def run_epoch(epoch: int) -> dict[str, float]:
        with phase("optimiser_steps"):
            stats = train_one_epoch(model, ema, latents, bank, opt, sched, c, gen, epoch, epochs, (epoch - 1) * steps)
        log.info("epoch %d/%d: loss %.4f (%.0f img/s)", epoch, epochs, stats["loss"], stats["images_per_second"])
        return {**stats, "lr": sched.get_last_lr()[0]}

    stateful = {"model": model, "optimizer": opt, "scheduler": sched} | ({"ema": ema} if ema is not None else {})
    saved = checkpoints.Checkpointing(
        paths.checkpoint("text_painter"), sig, stateful, gen, {"kind": "text_painter", "model_args": args.as_dict()}
    )
    done = training.fit("text_painter", epochs=epochs, run_epoch=run_epoch, checkpointing=saved, monitor=monitor, log=log)
    return model, ema, done, epochs


def measure_adherence(painter: TextPainter, judge: judge_mod.Judge, bins: attributes.Bins, c: TextPainterConfig, seed: int):
    """The adherence metrics at the default guidance, the held-out table, the guidance sweep, and the drawings."""
    req = adh.requests(c.eval_per_prompt)
    ids, _ = painter.tokens(req.prompts)
    images = painter.paint(ids, seed + 5)
    digit, attribute = adh.obeyed(images, req, judge, bins)
    metrics = adh.adherence(digit, attribute, req)
    small = adh.thinned(req, SWEEP_EVERY)
    small_ids, _ = painter.tokens(small.prompts)
    sweep = []
    for g in dict.fromkeys(float(w) for w in c.sweep_guidance):
        drawn = painter.paint(small_ids, seed + 6, guidance=g)
        d, a = adh.obeyed(drawn, small, judge, bins)
        m = adh.adherence(d, a, small)
        sweep.append({"guidance": g, **{k: m[k] for k in ("digit_adherence", "attribute_adherence", "held_out_adherence")}})
    return metrics, adh.per_combination(digit, attribute, req), sweep, (images, req)


def kept_levels(model: ae_model.Autoencoder, test_x: torch.Tensor, test_y: np.ndarray, bins: attributes.Bins) -> dict[str, float]:
    """The share of test digits whose reconstruction keeps each attribute's level: the ceiling the latent space allows."""
    before = bins.levels(attributes.measure(test_x.cpu().numpy()), test_y)
    after = bins.levels(attributes.measure(ae_model.reconstruct(model, test_x)), test_y)
    return {f"reconstruction_keeps_{a}": float(np.mean(before[a] == after[a])) for a in attributes.ATTRIBUTES}


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    c = cfg.text_painter
    device = resolve_device(cfg.base)
    data = dataset.load_training(paths, device, cfg.contributions.weight)
    dataset.check_class_labels("text_painter", True, data, 10)
    judge, cnn_metrics = load_judge(paths, data, device)
    autoencoder, ae_ckpt = load_autoencoder(paths, data, device)
    train_x, train_y = data.train_x.cpu().numpy(), data.train_y.cpu().numpy()
    with phase("captions"):
        values = attributes.measure(train_x)
        bins = attributes.Bins.fit(values, train_y)
        tok = captions.Tokenizer()
        bank, texts = caption_bank(bins.levels(values, train_y), train_y, c, tok, cfg.base.seed)
        z = ae_model.encode_means(autoencoder, data.train_x)  # (N, C, 7, 7)
        mean, std = z.mean((0, 2, 3)), z.std((0, 2, 3))
        latents = (z - mean[None, :, None, None]) / std[None, :, None, None]
    args = TextPainterArgs.from_config(c, tok.tokens, mean.tolist(), std.tolist())
    model, ema, done, epochs = train(cfg, paths, latents, bank, args, data.sha256, monitor)
    payload = {"kind": "text_painter", "model_args": args.as_dict(), "model": model.state_dict(), "autoencoder": ae_ckpt,
               "bins": bins.as_dict(), "data_sha256": data.sha256}  # fmt: skip
    checkpoints.save_checkpoint(paths.final_model("text_painter"), payload | ({"ema": ema.state_dict()} if ema is not None else {}))
    painter = TextPainter((ema or model).eval(), autoencoder.eval())
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    proto = scoreboard.protocol_of(cfg, test_y)
    t0 = time.perf_counter()
    with phase("final_sampling"):  # the scoreboard's request, each label named in a prompt: the gate scores this very file
        board = scoreboard.draw_board(lambda labels, seed: tp_model.generate(painter, proto.n, labels, seed), proto, True)
    seconds = time.perf_counter() - t0
    scoreboard.save_board(paths.scoreboard_samples("text_painter"), board)
    with phase("scoring"):
        scores = scoreboard.score_board(judge, board, *scoreboard.reference(judge, test_x, test_y, proto))
        measured, held_out, sweep, drawn = measure_adherence(painter, judge, bins, c, cfg.base.seed)
        kept = kept_levels(autoencoder, data.test_x, test_y, bins)
    with phase("figures"):
        figures = tp_figures.save_all(painter, drawn, held_out, sweep, board, done, paths.figure_data("text_painter"), cfg.base.seed)
    metrics = {
        **measured,
        **scores,
        **kept,
        "n_samples": proto.n,
        "n_seeds": len(proto.seeds),
        "n_adherence_prompts": len(drawn[1].prompts),
        **judge_mod.judge_reference(cnn_metrics),
        "epochs": epochs,
        "steps": int(sum(h["steps"] for h in done.history)),
        "train_seconds": done.seconds,
        "images_per_second": float(np.mean([h["images_per_second"] for h in done.history])),
        "sample_seconds_per_1000": seconds / board.images[:, :, 0, 0].size * 1000,
        "n_parameters": tp_model.n_parameters(model),
        "vocab_size": tok.vocab_size,
        "device": device.type,
    }
    settings = {
        "guidance": c.guidance, "sample_steps": c.sample_steps, "sampler": c.sampler, "held_out": [list(h) for h in captions.HELD_OUT],
        "held_out_table": held_out, "guidance_sweep": sweep, "bins": bins.as_dict(), "caption_examples": texts[: 4 * c.captions_per_image],
    }  # fmt: skip
    log.info("text painter: digit adherence %.1f %% (en %.1f, ja %.1f), attributes %.1f %%, held out %.1f vs seen %.1f %%, FID %.2f",
             *(100 * measured[k] for k in ("digit_adherence", "digit_adherence_en", "digit_adherence_ja", "attribute_adherence",
                                           "held_out_adherence", "seen_adherence")), scores["fid"])  # fmt: skip
    return StageResult(
        metrics=metrics, figures=figures, history={"text_painter_history": done.history},
        models={"text-painter": paths.final_model("text_painter")}, settings=settings,
    )  # fmt: skip
