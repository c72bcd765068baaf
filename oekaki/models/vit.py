"""The second judge: a small Vision Transformer (Dosovitskiy et al. 2021) that reads a digit as a sequence of patches.

The image is cut into a grid of patches; each patch becomes a token (a vector), a learned position
embedding says where it came from, and a [CLS] token is prepended. Transformer blocks then let every
token look at every other one (self-attention): no layer is told that neighbouring pixels belong
together, as a CNN's 3x3 filters are; the network must learn which patches matter from data alone.
The [CLS] token's final state is the feature vector (`embed`); a linear layer turns it into class scores.

Recipe, and what it changes about the comparison with the CNN (docs/vit.md, the report):
- `stem` > 0 puts a small convolutional stem before the patches (Xiao et al. 2021, "Early convolutions
  help transformers see better"): conv3x3 (stride 1) -> BN -> GELU, then the patch projection reads
  `patch`x`patch` blocks of its maps. The stem gives the tokens a little locality, so a stem ViT is no
  longer a pure transformer; `stem = 0` is the pure ViT (a linear projection of raw pixel patches).
- Pre-norm blocks (LayerNorm before attention and MLP), GELU, no dropout; trained with AdamW, a
  one-cycle schedule, label smoothing and small random shifts (oekaki/stages/vit).

The attention weights of every block can be returned (`attention_maps`) for attention rollout
(`attention_rollout`, Abnar & Zuidema 2020): how much of the [CLS] token's final state flows from each
patch, following attention through the layers with the residual connection counted as identity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from oekaki.core.config import VitConfig

IMAGE_SIZE = 28


@dataclass(frozen=True)
class VitArgs:
    """Everything needed to rebuild the network (stored in every checkpoint); no defaults: see from_config."""

    patch: int  # patch side in pixels; IMAGE_SIZE must be a multiple
    width: int  # token size
    depth: int  # transformer blocks
    heads: int
    mlp_ratio: int
    stem: int  # channels of the convolutional stem; 0 = pure ViT
    mean: float  # input normalisation, measured on the training images
    std: float

    @classmethod
    def from_config(cls, c: VitConfig, mean: float, std: float) -> VitArgs:
        return cls(c.patch, c.width, c.depth, c.heads, c.mlp_ratio, c.stem, mean, std)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def grid(self) -> int:
        """Patches per side: tokens = grid * grid (+ 1 for [CLS])."""
        return IMAGE_SIZE // self.patch


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, keep: list[torch.Tensor] | None = None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, N, d_h) each
        if keep is None:
            y = F.scaled_dot_product_attention(q, k, v)
        else:  # the weights themselves, for rollout: softmax(q k^T / sqrt(d_h)), (B, H, N, N)
            weights = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
            keep.append(weights)
            y = weights @ v
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width))

    def forward(self, x: torch.Tensor, keep: list[torch.Tensor] | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


class DigitViT(nn.Module):
    def __init__(self, args: VitArgs):
        super().__init__()
        if IMAGE_SIZE % args.patch or args.width % args.heads:
            raise ValueError(f"patch {args.patch} must divide {IMAGE_SIZE} and heads {args.heads} the width {args.width}")
        self.args = args
        in_ch = 1
        if args.stem:
            self.stem = nn.Sequential(nn.Conv2d(1, args.stem, 3, padding=1, bias=False), nn.BatchNorm2d(args.stem), nn.GELU())
            in_ch = args.stem
        else:
            self.stem = nn.Identity()
        self.patchify = nn.Conv2d(in_ch, args.width, args.patch, stride=args.patch)  # one token per patch
        self.cls = nn.Parameter(torch.zeros(1, 1, args.width))
        self.pos = nn.Parameter(torch.randn(1, args.grid * args.grid + 1, args.width) * 0.02)
        self.blocks = nn.ModuleList(Block(args.width, args.heads, args.mlp_ratio) for _ in range(args.depth))
        self.norm = nn.LayerNorm(args.width)
        self.head = nn.Linear(args.width, 10)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 28, 28) -> float (B, 1, 28, 28), standardised as in training."""
        return ((images.float() / 255.0 - self.args.mean) / self.args.std).unsqueeze(1)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised input (B, 1, 28, 28) -> [CLS] + one token per patch, position embeddings added: (B, 1 + grid^2, width)."""
        t = self.patchify(self.stem(x)).flatten(2).transpose(1, 2)  # (B, grid^2, width), row-major patches
        return torch.cat([self.cls.expand(len(t), -1, -1), t], 1) + self.pos

    def _encode(self, x: torch.Tensor, keep: list[torch.Tensor] | None) -> torch.Tensor:
        t = self.tokens(x)
        for block in self.blocks:
            t = block(t, keep)
        return self.norm(t[:, 0])

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Feature vector (B, width) of normalised input x: the [CLS] token after the last block."""
        return self._encode(x, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))  # (B, 10) logits

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits (B, 10), every block's attention weights (B, heads, N, N)) for normalised input x."""
        keep: list[torch.Tensor] = []
        logits = self.head(self._encode(x, keep))
        return logits, keep


def attention_rollout(attentions: list[torch.Tensor], residual: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): where the [CLS] token's final state came from.

    attentions: one (B, heads, N, N) tensor per layer, token 0 = [CLS]. Each layer's heads are averaged,
    the residual connection is added as `residual` * identity (0.5 in the paper: A' = 0.5 A + 0.5 I), rows
    renormalised to sum to 1, and the layers multiplied in order (R = A'_L ... A'_1). Returns the [CLS]
    row over the patch tokens, (B, N - 1), renormalised to sum to 1.
    """
    rollout = None
    for a in attentions:
        a = a.mean(1)  # (B, N, N)
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = (1 - residual) * a + residual * eye
        a = a / a.sum(-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    cls_row = rollout[:, 0, 1:]
    return cls_row / cls_row.sum(-1, keepdim=True)


def build(model_args: dict) -> DigitViT:
    """Rebuild from a checkpoint's `model_args`."""
    return DigitViT(VitArgs(**model_args))


def from_checkpoint(ckpt: dict) -> DigitViT:
    """The trained classifier a loaded checkpoint holds (weights only), in eval mode."""
    model = build(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.eval()


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
