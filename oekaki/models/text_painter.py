"""The text painter: a sentence in, a digit out, painted in the autoencoder's latent space (latent diffusion in miniature).

Three networks work together, as in the systems that made text-to-image famous (Rombach et al. 2022):
- a **text encoder** trained from scratch with the denoiser: token and position embeddings, `text_layers`
  pre-norm transformer blocks (Vaswani et al. 2017) over the caption's tokens (oekaki/models/captions.py);
- a **latent denoiser** over the autoencoder's 4 x 7 x 7 grid: a conv stem, `blocks` residual blocks FiLM-modulated
  by time + the caption's pooled embedding (the diffusion painter's ResBlock), each followed by cross-attention
  from the 49 latent cells to the caption's tokens, and a conv back to the latent channels;
- the **autoencoder's decoder** (oekaki/models/autoencoder.py), frozen, latents -> pixels.

Trained by rectified flow (the diffusion painter's `loss`, flow_matching) on the autoencoder's posterior means,
standardised per channel; captions are dropped to the empty prompt ([BOS] alone) with probability `caption_drop`, so
sampling can use classifier-free guidance. Sampling is the diffusion painter's own `sample_path` (Euler or Heun),
given token ids as its conditions: `unconditional` gives the empty prompt, `finish` leaves latents unclamped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from oekaki.models import autoencoder as ae_model
from oekaki.models import captions
from oekaki.models import diffusion as diffusion_model
from oekaki.models.diffusion import ResBlock, time_embedding

LATENT_SIDE = 7
SAMPLING_BATCH = 250  # prompts per network pass when drawing: a 7x7 latent is small, larger batches pay here


@dataclass(frozen=True)
class TextPainterArgs:
    """Everything needed to rebuild and sample the text painter (stored in every checkpoint); no defaults."""

    vocab: tuple[str, ...]  # the tokenizer's vocabulary, id order (self-describing: the catalog may change later)
    max_tokens: int
    text_width: int
    text_layers: int
    text_heads: int
    channels: int
    blocks: int
    embed_size: int
    latent_channels: int
    latent_mean: tuple[float, ...]  # per latent channel: the denoiser works on (z - mean) / std
    latent_std: tuple[float, ...]
    sampler: str  # euler | heun
    sample_steps: int
    guidance: float
    guidance_from: float
    guidance_until: float
    objective: str = "flow_matching"  # the only one: the diffusion painter's loss and sampler read it

    @classmethod
    def from_config(cls, c, vocab: tuple[str, ...], latent_mean, latent_std) -> TextPainterArgs:
        return cls(
            vocab=tuple(vocab), max_tokens=c.max_tokens, text_width=c.text_width, text_layers=c.text_layers, text_heads=c.text_heads,
            channels=c.channels, blocks=c.blocks, embed_size=c.embed_size, latent_channels=len(latent_mean),
            latent_mean=tuple(float(v) for v in latent_mean), latent_std=tuple(float(v) for v in latent_std), sampler=c.sampler,
            sample_steps=c.sample_steps, guidance=float(c.guidance), guidance_from=float(c.guidance_from),
            guidance_until=float(c.guidance_until),
        )  # fmt: skip

    def guidance_at(self, step: int, steps: int, guidance: float | None = None) -> float:
        return diffusion_model.guidance_weight(self, step, steps, guidance)

    @property
    def conditional(self) -> bool:
        """Takes prompts (the scoreboard asks for labels: `generate` names them in a prompt)."""
        return True

    def as_dict(self) -> dict:
        return {**asdict(self), "vocab": list(self.vocab), "latent_mean": list(self.latent_mean), "latent_std": list(self.latent_std)}


class TextEncoder(nn.Module):
    """Token ids (B, L), PAD = 0, BOS first -> token states (B, L, D) and the pooled caption (B, D)."""

    def __init__(self, args: TextPainterArgs):
        super().__init__()
        d = args.text_width
        self.tokens = nn.Embedding(len(args.vocab), d, padding_idx=captions.PAD)
        self.positions = nn.Parameter(torch.randn(args.max_tokens, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, args.text_heads, 2 * d, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, args.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pad = ids == captions.PAD  # (B, L), True where there is no token
        h = self.norm(self.layers(self.tokens(ids) + self.positions[: ids.shape[1]], src_key_padding_mask=pad))  # (B, L, D)
        keep = (~pad).unsqueeze(-1).float()
        return h, pad, (h * keep).sum(1) / keep.sum(1)  # pooled: the mean over the real tokens (BOS always is one)


class CrossAttention(nn.Module):
    """The latent cells (queries) read the caption's tokens (keys, values); residual: (B, C, 7, 7) -> (B, C, 7, 7).

    Written with scaled_dot_product_attention rather than nn.MultiheadAttention: with keys narrower than the
    queries the latter takes its slow path (100 against 116 ms per training step of the default denoiser, 2 cores).
    """

    def __init__(self, channels: int, text_width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)
        self.q = nn.Linear(channels, channels, bias=False)
        self.kv = nn.Linear(text_width, 2 * channels, bias=False)
        self.out = nn.Linear(channels, channels)

    def forward(self, h: torch.Tensor, text: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = h.shape
        q = self.q(self.norm(h).flatten(2).transpose(1, 2)).view(b, hh * ww, self.heads, c // self.heads).transpose(1, 2)
        k, v = self.kv(text).view(b, text.shape[1], 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, None, :])  # (B, heads, 49, C / heads)
        return h + self.out(out.transpose(1, 2).reshape(b, hh * ww, c)).transpose(1, 2).reshape(b, c, hh, ww)


class TextDenoiser(nn.Module):
    """x_t (B, latent_channels, 7, 7), t (B,) in [0, 1], token ids (B, L) -> velocity (B, latent_channels, 7, 7)."""

    def __init__(self, args: TextPainterArgs):
        super().__init__()
        self.args = args
        c, e = args.channels, args.embed_size
        self.text = TextEncoder(args)
        self.time_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.pooled = nn.Linear(args.text_width, e)
        self.stem = nn.Conv2d(args.latent_channels, c, 3, padding=1)
        self.res = nn.ModuleList(ResBlock(c, c, e) for _ in range(args.blocks))
        self.cross = nn.ModuleList(CrossAttention(c, args.text_width, args.text_heads) for _ in range(args.blocks))
        self.out = nn.Sequential(nn.GroupNorm(8 if c % 8 == 0 else 1, c), nn.SiLU(), nn.Conv2d(c, args.latent_channels, 3, padding=1))

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.args.latent_channels, LATENT_SIDE, LATENT_SIDE)

    def forward(self, x: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.time_mlp(time_embedding(t, self.args.embed_size)), ids)

    def run(self, x: torch.Tensor, te: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """`forward` with the time embedding `te` (B, E) given (the served sampler computes its steps' once)."""
        text, pad, pooled = self.text(ids)
        e = te + self.pooled(pooled)  # (B, E)
        h = self.stem(x)
        for res, cross in zip(self.res, self.cross, strict=True):
            h = cross(res(h, e), text, pad)
        return self.out(h)

    @staticmethod
    def unconditional(ids: torch.Tensor) -> torch.Tensor:
        """The empty prompt ([BOS], then padding) for every row: classifier-free guidance's unconditional pass."""
        empty = torch.zeros_like(ids)
        empty[:, 0] = captions.BOS
        return empty

    @staticmethod
    def finish(x: torch.Tensor) -> torch.Tensor:
        """The sampling path's last point: latents are not clamped (their range is not [-1, 1])."""
        return x.clone()


class TextPainter(nn.Module):
    """The served painter: tokenizer + trained denoiser (its EMA weights) + the autoencoder's decoder: prompts -> images."""

    def __init__(self, denoiser: TextDenoiser, autoencoder: ae_model.Autoencoder):
        super().__init__()
        self.denoiser, self.autoencoder = denoiser, autoencoder
        self.args = denoiser.args
        self.tokenizer = captions.Tokenizer(self.args.vocab)

    def tokens(self, prompts: list[str]) -> tuple[torch.Tensor, list[list[str]]]:
        """Token ids (N, max_tokens) and each prompt's unknown words (dropped from the ids)."""
        device = next(self.parameters()).device
        encoded = [self.tokenizer.encode(p, self.args.max_tokens) for p in prompts]
        ids = np.zeros((len(prompts), self.args.max_tokens), dtype=np.int64)
        for row, (got, _) in zip(ids, encoded, strict=True):
            row[: len(got)] = got
        return torch.from_numpy(ids).to(device), [unknown for _, unknown in encoded]

    def to_latents(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised latents (the denoiser's units) -> the autoencoder's."""
        mean = torch.tensor(self.args.latent_mean, device=x.device)[None, :, None, None]
        std = torch.tensor(self.args.latent_std, device=x.device)[None, :, None, None]
        return x * std + mean

    @torch.no_grad()
    def paint_path(
        self, ids: torch.Tensor, seed: int, steps: int | None = None, guidance: float | None = None, points: int = 2,
        batch_size: int = SAMPLING_BATCH,
    ) -> list[torch.Tensor]:  # fmt: skip
        """The standardised latents along the sampling path (noise first, ~`points` of them) for token ids (N, L)."""
        steps, guidance = steps or self.args.sample_steps, self.args.guidance if guidance is None else guidance
        noise, ids, gen = diffusion_model.start(self.denoiser, len(ids), ids.cpu().numpy(), seed)
        return diffusion_model.sample_path(self.denoiser, ids, noise, steps, guidance, points, gen, batch_size)

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> np.ndarray:
        """Standardised latents (N, C, 7, 7) -> uint8 images (N, 28, 28)."""
        return ae_model.decode_images(self.autoencoder, self.to_latents(x))

    def paint(self, ids: torch.Tensor, seed: int, steps: int | None = None, guidance: float | None = None) -> np.ndarray:
        """uint8 images (N, 28, 28) for token ids (N, L) from fixed-seed latent noise: reproducible per seed."""
        return self.decode(self.paint_path(ids, seed, steps, guidance)[-1])


class TextPainterSampler(nn.Module):
    """The painter as a one-input module for serving: code (B, C*49 noise + max_tokens token ids) -> images (B, 28, 28) in [0, 1].

    Deterministic Euler steps (at most EXPORT_MAX_STEPS) with the stored guidance, then the decoder. The steps' time
    embeddings and the latent statistics are buffers, so the forward creates no tensor from nothing (torch.export; the
    diffusion painter's DiffusionSampler does the same). Token ids travel as floats (the code is one float tensor).
    """

    def __init__(self, painter: TextPainter):
        super().__init__()
        self.denoiser, self.decoder = painter.denoiser, painter.autoencoder.decoder
        a = painter.args
        self.steps = min(a.sample_steps, diffusion_model.EXPORT_MAX_STEPS)
        self.weights = [a.guidance_at(i, self.steps) for i in range(self.steps)]  # plain floats: unrolled by export
        self.cells = a.latent_channels * LATENT_SIDE * LATENT_SIDE
        t = torch.tensor([i / self.steps for i in range(self.steps)])
        with torch.no_grad():
            self.register_buffer("step_embeddings", self.denoiser.time_mlp(time_embedding(t, a.embed_size)))  # (steps, E)
        self.register_buffer("mean", torch.tensor(a.latent_mean)[None, :, None, None])
        self.register_buffer("std", torch.tensor(a.latent_std)[None, :, None, None])
        self.register_buffer("empty", TextDenoiser.unconditional(torch.zeros(1, a.max_tokens, dtype=torch.long)))  # (1, L)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        a = self.denoiser.args
        x = code[:, : self.cells].reshape(-1, a.latent_channels, LATENT_SIDE, LATENT_SIDE)
        ids = code[:, self.cells :].round().long()
        both = torch.cat([ids, self.empty.expand_as(ids)])  # (2B, L): the prompt, then the empty prompt
        for i, g in enumerate(self.weights):
            te = self.step_embeddings[i].expand(len(x), -1)
            if g == 1:
                v = self.denoiser.run(x, te, ids)
            else:
                c, u = self.denoiser.run(torch.cat([x, x]), torch.cat([te, te]), both).chunk(2)
                v = u + g * (c - u)
            x = x + v / self.steps
        return torch.sigmoid(self.decoder(x * self.std + self.mean))[:, 0]


def digit_prompts(labels: np.ndarray) -> list[str]:
    """Prompts that name only the digit, English and Japanese alternating: how the scoreboard and the gate ask for a label."""
    return [captions.prompt(int(y), {}, captions.LANGUAGES[i % 2]) for i, y in enumerate(labels)]


def generate(model: TextPainter, n: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """n images of `labels` (each named in a prompt: `digit_prompts`; None = the empty prompt), reproducible per seed."""
    prompts = [""] * n if labels is None else digit_prompts(np.asarray(labels)[:n])
    ids, _ = model.tokens(prompts)
    return model.paint(ids, seed)


def build(model_args: dict) -> TextDenoiser:
    args = {**model_args}
    for key in ("vocab", "latent_mean", "latent_std"):
        args[key] = tuple(args[key])
    return TextDenoiser(TextPainterArgs(**args))


def from_checkpoint(ckpt: dict) -> TextPainter:
    """The served painter a loaded checkpoint holds (the denoiser's EMA weights when present, the decoder), in eval mode."""
    denoiser = build(ckpt["model_args"])
    denoiser.load_state_dict(ckpt["ema"] if "ema" in ckpt else ckpt["model"])
    return TextPainter(denoiser, ae_model.from_checkpoint(ckpt["autoencoder"])).eval()


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
