"""The diffusion painter: a class-conditional denoiser that draws by removing noise, step by step.

A small U-Net at MNIST's 28x28 (no attention): resolutions 28 -> 14 -> 7 and back, skip
connections, GroupNorm and SiLU; every residual block is modulated by FiLM (adaptive group norm:
scale and shift) from time embedding + label embedding. The label table has N_CLASSES + 1 rows,
the last one "no label", so one network is conditional and unconditional at once and sampling
can use classifier-free guidance (Ho & Salimans 2022). Two objectives:
- `flow_matching`: rectified flow (Liu et al. 2022; Lipman et al. 2022): x_t = (1 - t) noise +
  t data, the network predicts the velocity data - noise; sampling integrates from t = 0
  (noise) to t = 1 (data) with Euler or Heun steps;
- `ddpm` (Ho et al. 2020): epsilon prediction, linear beta schedule over T = 1000 steps,
  ancestral sampling, strided when fewer steps are asked for (DDIM's eta = 1, Song et al. 2021).
Guidance can be limited to an interval of the path (`guidance_from` to `guidance_until`): the
first steps, where the noise decides which of the digit's many shapes is drawn, and the last,
which only sharpen the strokes, then follow the plain conditional prediction, and only the
middle is pushed toward the label (Kynkäänniemi et al. 2024, "Applying guidance in a limited
interval improves sample and distribution quality in diffusion models").
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oekaki.core.config import DiffusionConfig
from oekaki.core.constants import N_CLASSES

NO_LABEL = N_CLASSES  # the label embedding's last row: "draw any digit" (classifier-free guidance)
T_DDPM = 1000  # DDPM's training steps (Ho et al. 2020)
PATH_POINTS = 8  # points along the sampling path for the noise-to-digit figure
EXPORT_MAX_STEPS = 16  # the served module unrolls at most this many steps
# Images per network pass when drawing (the params' diffusion.eval_batch_size in the stage): the same images at
# any batch; 1,000 drawings 5.3 s at 32 against 6.7 s at 64 on a 2-core AMD EPYC (2.95 s against 3.06 s on
# an AVX-512 machine), inference_batch bench of 3855d87, docs/speed.md
SAMPLING_BATCH = 32


@dataclass(frozen=True)
class DiffusionArgs:
    """Everything needed to rebuild and sample the denoiser (stored in every checkpoint); no defaults."""

    channels: tuple[int, int, int]
    embed_size: int
    objective: str  # flow_matching | ddpm
    sampler: str  # euler | heun | ddpm
    sample_steps: int
    guidance: float
    guidance_from: float  # share of the sampling steps done before guidance applies (0 = every step)
    guidance_until: float  # share of the sampling steps after which guidance stops (1 = to the last step)

    @classmethod
    def from_config(cls, c: DiffusionConfig) -> DiffusionArgs:
        return cls(
            tuple(c.channels), c.embed_size, c.objective, c.sampler, c.sample_steps, float(c.guidance), float(c.guidance_from),
            float(c.guidance_until),
        )  # fmt: skip

    def guidance_at(self, step: int, steps: int, guidance: float | None = None) -> float:
        return guidance_weight(self, step, steps, guidance)

    @property
    def conditional(self) -> bool:
        """Always takes labels (and NO_LABEL for "any digit")."""
        return True

    def as_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}


def guidance_weight(args, step: int, steps: int, guidance: float | None = None) -> float:
    """The guidance weight of sampling step `step` of `steps` (0-based): 1 (plain conditional) outside [from, until).

    `args`: any painter's sampling args with `guidance`, `guidance_from` and `guidance_until` (this denoiser's and
    the text painter's, oekaki/models/text_painter.py, which samples through this module's `sample_path`).
    """
    g = args.guidance if guidance is None else guidance
    return g if args.guidance_from * steps - 1e-9 <= step < args.guidance_until * steps - 1e-9 else 1.0


def _groups(ch: int) -> int:
    return next(g for g in (8, 4, 2, 1) if ch % g == 0)


class ResBlock(nn.Module):
    """GN-SiLU-conv, FiLM (adaptive group norm), SiLU-conv, plus a (1x1) skip: (B, cin, H, W) -> (B, cout, H, W)."""

    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.film = nn.Linear(emb, 2 * cout)  # emb (B, E) -> scale, shift (B, cout) each
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(e)[:, :, None, None].chunk(2, 1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return h + self.skip(x)


def time_embedding(t: torch.Tensor, size: int) -> torch.Tensor:
    """Sinusoidal embedding (Vaswani et al. 2017) of t (B,) in [0, 1], scaled by 1000: (B, size)."""
    half = size // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = 1000.0 * t[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


class Denoiser(nn.Module):
    """x_t (B, 1, 28, 28), t (B,) in [0, 1], labels (B,) in 0..10 -> velocity or noise (B, 1, 28, 28)."""

    sample_shape = (1, 28, 28)  # what `start` draws noise for; the text painter's is its latent grid

    def __init__(self, args: DiffusionArgs):
        super().__init__()
        self.args = args
        c0, c1, c2 = args.channels
        e = args.embed_size
        self.time_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.label = nn.Embedding(N_CLASSES + 1, e)
        self.stem = nn.Conv2d(1, c0, 3, padding=1)
        self.enc0, self.down0 = ResBlock(c0, c0, e), nn.Conv2d(c0, c0, 3, stride=2, padding=1)  # 28 -> 14
        self.enc1, self.down1 = ResBlock(c0, c1, e), nn.Conv2d(c1, c1, 3, stride=2, padding=1)  # 14 -> 7
        self.mid = ResBlock(c1, c2, e)  # 7
        self.dec1, self.up1 = ResBlock(c2, c1, e), nn.Conv2d(c1, c1, 3, padding=1)  # 7 -> 14
        self.dec0 = ResBlock(2 * c1, c0, e)  # 14, with the skip from enc1
        self.up0 = nn.Conv2d(c0, c0, 3, padding=1)  # 14 -> 28
        self.out_block = ResBlock(2 * c0, c0, e)  # 28, with the skip from enc0
        self.out = nn.Sequential(nn.GroupNorm(_groups(c0), c0), nn.SiLU(), nn.Conv2d(c0, 1, 3, padding=1))
        # Conv weights channels-last (NHWC): oneDNN then runs every conv and GroupNorm in that layout. Training
        # 704/675 -> 780/771 images/s and drawing 6.4-7.0 -> 4.9-5.0 s per 1,000 on an AVX-512 Xeon, no change on a
        # 2-core AMD EPYC (docs/speed.md). Loading a state dict copies into these tensors and keeps the layout.
        self.to(memory_format=torch.channels_last)

    def embed(self, t: torch.Tensor, label_vectors: torch.Tensor) -> torch.Tensor:
        return self.time_mlp(time_embedding(t, self.args.embed_size)) + label_vectors  # (B, E)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.embed(t, self.label(labels)))

    @staticmethod
    def finish(x: torch.Tensor) -> torch.Tensor:
        """The sampling path's last point: the drawing, clamped to the data range [-1, 1]."""
        return x.clamp(-1, 1)

    @staticmethod
    def unconditional(labels: torch.Tensor) -> torch.Tensor:
        """The "no label" condition for a batch of `labels` (classifier-free guidance's unconditional pass)."""
        return torch.full_like(labels, NO_LABEL)

    def run(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h0 = self.enc0(self.stem(x), e)  # (B, c0, 28, 28)
        h1 = self.enc1(self.down0(h0), e)  # (B, c1, 14, 14)
        h = self.dec1(self.mid(self.down1(h1), e), e)  # (B, c1, 7, 7)
        h = self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest"))  # (B, c1, 14, 14)
        h = self.dec0(torch.cat([h, h1], 1), e)  # (B, c0, 14, 14)
        h = self.up0(F.interpolate(h, scale_factor=2.0, mode="nearest"))  # (B, c0, 28, 28)
        return self.out(self.out_block(torch.cat([h, h0], 1), e))  # (B, 1, 28, 28)


# --------------------------------------------------------------------------- training losses
def alpha_bars(device: torch.device | str = "cpu") -> torch.Tensor:
    """DDPM's linear beta schedule 1e-4 .. 0.02 (Ho et al. 2020) as cumulative products (T,)."""
    betas = torch.linspace(1e-4, 0.02, T_DDPM, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float().to(device)


def loss(model: Denoiser, x0: torch.Tensor, labels: torch.Tensor, gen: torch.Generator, time_sampling: str) -> torch.Tensor:
    """One batch's training loss; x0 (B, 1, 28, 28) in [-1, 1]; all randomness from `gen` (resumable)."""
    b, device = len(x0), x0.device
    noise = torch.randn(x0.shape, generator=gen).to(device)
    if model.args.objective == "flow_matching":  # rectified flow (Liu et al. 2022; Lipman et al. 2022)
        t = torch.rand(b, generator=gen) if time_sampling == "uniform" else torch.sigmoid(torch.randn(b, generator=gen))
        t = t.to(device)  # logit-normal: more weight mid-path (Esser et al. 2024)
        xt = (1 - t[:, None, None, None]) * noise + t[:, None, None, None] * x0
        return F.mse_loss(model(xt, t, labels), x0 - noise)  # target velocity: data - noise
    step = torch.randint(0, T_DDPM, (b,), generator=gen).to(device)  # DDPM (Ho et al. 2020): predict the noise
    ab = alpha_bars(device)[step][:, None, None, None]
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    return F.mse_loss(model(xt, step.float() / T_DDPM, labels), noise)


# --------------------------------------------------------------------------- sampling
def _guided(model: nn.Module, x: torch.Tensor, t: float, labels: torch.Tensor, guidance: float) -> torch.Tensor:
    """Classifier-free guidance: uncond + g (cond - uncond); cond and uncond in one batched pass.

    `labels`: the batch's conditions, whatever the model takes (label ids here, token ids for the text painter);
    `model.unconditional(labels)` is the same batch with no condition.
    """
    tt = torch.full((len(x),), t, device=x.device)
    if guidance == 0:  # exactly the unconditional prediction
        return model(x, tt, model.unconditional(labels))
    if guidance == 1:  # exactly the conditional prediction
        return model(x, tt, labels)
    cond, uncond = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, model.unconditional(labels)])).chunk(2)
    return uncond + guidance * (cond - uncond)


def _ddpm_times(steps: int) -> list[int]:
    """Strided DDPM timesteps T-1 .. 0, `steps` of them (all T when steps = T)."""
    return sorted({round(v) for v in np.linspace(0, T_DDPM - 1, steps)}, reverse=True)


@torch.no_grad()
def sample_path(
    model: Denoiser, labels: torch.Tensor, noise: torch.Tensor, steps: int, guidance: float, points: int = PATH_POINTS,
    gen: torch.Generator | None = None, batch_size: int = SAMPLING_BATCH, first_step: int = 0, last_step: int | None = None,
) -> list[torch.Tensor]:  # fmt: skip
    """The images along the sampling path from `noise` (B, 1, 28, 28): ~`points` of them, noise first.

    Every point is in model units (data in [-1, 1]); the last is the drawing, `model.finish`ed (clamped to [-1, 1]).
    The DDPM sampler adds fresh noise per step, drawn from `gen` for all B at once (batch-independent).
    `first_step` and `last_step` take only the steps [first_step, last_step) of the path: `noise`
    is then the state after `first_step` steps, and the last point the state after `last_step`
    (a start that several guidance weights share: `generate_guided`).
    """
    a = model.args
    x = noise.clone()
    times = _ddpm_times(steps) if a.sampler == "ddpm" else None
    steps = len(times) if times else steps
    last_step = steps if last_step is None else last_step
    ab = alpha_bars(x.device) if times else None
    keep = set(np.linspace(0, steps, min(points, steps + 1)).round().astype(int).tolist()) | {last_step}
    path = [x.clone()]
    for i in range(first_step, last_step):
        g = a.guidance_at(i, steps, guidance)
        step_noise = torch.randn(x.shape, generator=gen).to(x.device) if times and i < len(times) - 1 else None
        for s in range(0, len(x), batch_size):
            xs, ys = x[s : s + batch_size], labels[s : s + batch_size]
            if times is None:  # rectified flow: dx/dt = v, t from 0 (noise) to 1 (data)
                t, dt = i / steps, 1 / steps
                v = _guided(model, xs, t, ys, g)
                if a.sampler == "heun":  # trapezoid on v (Karras et al. 2022)
                    v = (v + _guided(model, xs + dt * v, t + dt, ys, g)) / 2
                x[s : s + batch_size] = xs + dt * v
            else:
                t, prev = times[i], times[i + 1] if i + 1 < len(times) else -1
                eps = _guided(model, xs, t / T_DDPM, ys, g)
                noise_s = step_noise[s : s + batch_size] if step_noise is not None else None
                x[s : s + batch_size] = ddim_step(xs, eps, ab[t], ab[prev] if prev >= 0 else torch.ones((), device=x.device), noise_s)
        if i + 1 in keep:
            path.append(model.finish(x) if i + 1 == steps else x.clone())
    return path


def ddim_step(x: torch.Tensor, eps: torch.Tensor, ab: torch.Tensor, ab_prev: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """x_t -> x_prev from predicted noise (Song et al. 2021): with `noise`, eta = 1 = DDPM's ancestral step; without, DDIM's."""
    x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)  # the denoised guess, clipped as in Ho et al.
    eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
    sigma = ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt() if noise is not None else ab.new_zeros(())
    out = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
    return out + sigma * noise if noise is not None else out


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """Model units (B, 1, 28, 28), data in [-1, 1] -> uint8 (B, 28, 28)."""
    return ((x[:, 0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def start(model: Denoiser, n: int, labels: np.ndarray | None, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
    """Fixed-seed starting noise (n, *model.sample_shape), labels (n,) (NO_LABEL when None) and the per-step generator."""
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, *model.sample_shape, generator=gen).to(device)
    y = torch.full((n,), NO_LABEL) if labels is None else torch.as_tensor(np.asarray(labels)).long()
    return noise, y.to(device), gen


def generate(
    model: Denoiser, n: int, labels: np.ndarray | None, seed: int, steps: int | None = None, guidance: float | None = None,
    batch_size: int = SAMPLING_BATCH,
) -> np.ndarray:  # fmt: skip
    """n images for `labels` (None = any digit) from fixed-seed noise: uint8 (n, 28, 28), reproducible per seed.

    Steps and guidance default to the ones stored in the model's args.
    """
    steps, guidance = steps or model.args.sample_steps, model.args.guidance if guidance is None else guidance
    was_training = model.training
    model.eval()
    noise, y, gen = start(model, n, labels, seed)
    final = sample_path(model, y, noise, steps, guidance, points=2, gen=gen, batch_size=batch_size)[-1]
    model.train(was_training)
    return to_pixels(final)


def generate_guided(
    model: Denoiser, n: int, labels: np.ndarray | None, seed: int, steps: int, weights: list[float],
    batch_size: int = SAMPLING_BATCH,
) -> list[tuple[np.ndarray, float]]:  # fmt: skip
    """`generate` at each guidance weight of `weights`: [(images, seconds)], the images exactly generate's.

    The steps before the guidance interval follow the plain conditional prediction whatever the
    weight, so they are taken once, and each weight goes on from there (with the DDPM sampler's
    per-step noise generator where it was). A weight's seconds are the shared steps' plus its own:
    what drawing it alone costs.
    """
    a, was_training = model.args, model.training
    model.eval()
    noise, y, gen = start(model, n, labels, seed)
    n_steps = len(_ddpm_times(steps)) if a.sampler == "ddpm" else steps
    unguided = next((i for i in range(n_steps) if a.guidance_at(i, n_steps, 2.0) != 1.0), n_steps)
    shared = min(unguided, n_steps - 1)  # the last step (it clamps the drawing) is always each weight's own
    t0 = time.perf_counter()
    x = sample_path(model, y, noise, steps, 1.0, points=2, gen=gen, batch_size=batch_size, last_step=shared)[-1]
    shared_seconds, state = time.perf_counter() - t0, gen.get_state()
    drawn = []
    for g in weights:
        gen.set_state(state)
        t0 = time.perf_counter()
        final = sample_path(model, y, x, steps, g, points=2, gen=gen, batch_size=batch_size, first_step=shared)[-1]
        drawn.append((to_pixels(final), shared_seconds + time.perf_counter() - t0))
    model.train(was_training)
    return drawn


class DiffusionSampler(nn.Module):
    """The denoiser as a one-input module for serving: code (B, 784 noise + 10 one-hot) -> images (B, 28, 28) in [0, 1].

    Deterministic: Euler steps (flow matching) or DDIM steps (ddpm), at most EXPORT_MAX_STEPS, with
    the stored guidance (from `guidance_from` to `guidance_until`); an all-zero one-hot asks for
    any digit. The steps' time embeddings and noise levels depend only on the weights, so they
    are computed once here as buffers: the forward creates no tensor from nothing (no factory
    call for torch.export to lift as a constant; a CI run once failed exporting with a fake
    "lifted_tensor_0" constant).
    """

    def __init__(self, model: Denoiser):
        super().__init__()
        self.model = model
        self.steps = min(model.args.sample_steps, EXPORT_MAX_STEPS)
        self.weights = [model.args.guidance_at(i, self.steps) for i in range(self.steps)]  # plain floats: unrolled by export
        ddpm = model.args.objective == "ddpm"
        times = _ddpm_times(self.steps) if ddpm else None
        t = torch.tensor([ti / T_DDPM for ti in times] if ddpm else [i / self.steps for i in range(self.steps)])
        with torch.no_grad():
            self.register_buffer("step_embeddings", model.time_mlp(time_embedding(t, model.args.embed_size)))  # (steps, E)
        if ddpm:
            ab = torch.cat([alpha_bars(), torch.ones(1)])  # index -1: the clean image's level, 1
            self.register_buffer("levels", ab[torch.tensor(times + [-1])])  # (steps + 1,): now, then each next step's
        else:
            self.levels = None

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = code[:, :784].reshape(-1, 1, 28, 28)
        onehot = code[:, 784:]
        cond = onehot @ m.label.weight[:N_CLASSES] + (1 - onehot.sum(1, keepdim=True)) * m.label.weight[NO_LABEL]  # (B, E)
        labels = torch.cat([cond, m.label.weight[NO_LABEL].expand_as(cond)])  # (2B, E): conditional, then unconditional
        for i, g in enumerate(self.weights):
            if g == 1:  # before guidance starts: the conditional prediction alone, as sample_path takes it
                pred = m.run(x, self.step_embeddings[i] + cond)
            else:
                c, u = m.run(torch.cat([x, x]), self.step_embeddings[i] + labels).chunk(2)
                pred = u + g * (c - u)
            if self.levels is None:
                x = x + pred / self.steps
            else:
                x = ddim_step(x, pred, self.levels[i], self.levels[i + 1], None)
        return (x[:, 0].clamp(-1, 1) + 1) / 2


def build(model_args: dict) -> Denoiser:
    """Rebuild the network from a checkpoint's `model_args`.

    Checkpoints written before `guidance_from` and `guidance_until` existed were drawn with
    guidance at every step, which is what 0 and 1 mean: reading them that way is their record,
    not a default.
    """
    args = {"guidance_from": 0.0, "guidance_until": 1.0, **model_args, "channels": tuple(model_args["channels"])}
    return Denoiser(DiffusionArgs(**args))


def from_checkpoint(ckpt: dict) -> Denoiser:
    """The trained denoiser a loaded checkpoint holds (the EMA weights when present), in eval mode."""
    model = build(ckpt["model_args"])
    model.load_state_dict(ckpt["ema"] if "ema" in ckpt else ckpt["model"])
    return model.eval()


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
