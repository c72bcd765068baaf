"""The digit classifier: image -> features -> label.

Each block is conv3x3 -> batch norm -> ReLU -> 2x2 max-pool: early filters respond to
strokes (vertical, horizontal, diagonal edges), later ones to combinations such as curves
and loops. The pooled maps are flattened into a feature vector (`embed`), the judge's
feature space for generated images, and a linear layer turns it into class scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from oekaki.core import training
from oekaki.core.config import CnnConfig
from oekaki.data import dataset


@dataclass(frozen=True)
class CnnArgs:
    """Everything needed to rebuild the network (stored in every checkpoint); no defaults: see from_config."""

    channels: tuple[int, ...]
    hidden: int
    dropout: float
    mean: float  # input normalisation, measured on the training images
    std: float

    @classmethod
    def from_config(cls, c: CnnConfig, mean: float, std: float) -> CnnArgs:
        return cls(tuple(c.channels), c.hidden, c.dropout, mean, std)

    def as_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}


class DigitCNN(nn.Module):
    def __init__(self, args: CnnArgs):
        super().__init__()
        self.args = args
        blocks, in_ch, size = [], 1, 28
        for out_ch in args.channels:
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out_ch),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2),
                )
            )
            in_ch, size = out_ch, size // 2
        self.blocks = nn.ModuleList(blocks)
        self.embedding = nn.Sequential(
            nn.Flatten(), nn.Linear(in_ch * size * size, args.hidden, bias=False), nn.BatchNorm1d(args.hidden), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(args.dropout)
        self.head = nn.Linear(args.hidden, 10)
        # Conv weights channels-last (NHWC): oneDNN runs the convs, batch norm and pooling in that layout. Training
        # 2,482/2,534 -> 2,934/3,020 images/s on an AVX-512 Xeon (docs/speed.md); the logical shapes do not change.
        self.to(memory_format=torch.channels_last)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 28, 28) -> float (B, 1, 28, 28), standardised as in training."""
        return ((images.float() / 255.0 - self.args.mean) / self.args.std).unsqueeze(1)

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of every block for normalised input x (B, 1, 28, 28): (B, C_i, 28/2^i, 28/2^i)."""
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Feature vector (B, hidden) of normalised input x: the penultimate layer."""
        for block in self.blocks:
            x = block(x)
        return self.embedding(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))  # (B, 10) logits


def build(model_args: dict) -> DigitCNN:
    """Rebuild from a checkpoint's `model_args`."""
    return DigitCNN(CnnArgs(**{**model_args, "channels": tuple(model_args["channels"])}))


def train_classifier_epoch(model, data: dataset.TensorData, opt, sched, c, gen: torch.Generator, desc: str, log) -> dict:
    """One epoch of a digit classifier (the CNN, the ViT): shifted batches, cross-entropy with c.label_smoothing.

    `c` is the stage's params section (batch_size, augment_shift, label_smoothing); `model` reads
    `model.normalize(uint8 images)`. Returns the epoch's mean loss, accuracy and images per second.
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = training.Progress(len(data.train_y), desc, log)
    for idx in dataset.batch_indices(len(data.train_y), c.batch_size, gen):
        x = dataset.random_shift(data.train_x[idx], c.augment_shift, gen)  # (B, 28, 28) uint8
        y = data.train_y[idx]
        logits = model(model.normalize(x))  # (B, 10)
        loss = F.cross_entropy(logits, y, label_smoothing=c.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total_loss += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        bar.update(len(y), loss=total_loss / seen, acc=correct / seen)
    rate = bar.close()
    return {"train_loss": total_loss / seen, "train_accuracy": correct / seen, "images_per_second": rate}


@torch.no_grad()
def evaluate_classifier(model: DigitCNN, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[dict, torch.Tensor]:
    """Test loss (plain cross-entropy, nats) and accuracy; also the (N, 10) probabilities."""
    model.eval()
    probs, loss = [], 0.0
    for idx in dataset.batch_indices(len(y), batch_size, None):
        logits = model(model.normalize(x[idx]))
        loss += F.cross_entropy(logits, y[idx], reduction="sum").item()
        probs.append(torch.softmax(logits, 1).cpu())
    p = torch.cat(probs)
    return {"test_loss": loss / len(y), "test_accuracy": (p.argmax(1) == y.cpu()).double().mean().item()}, p


def from_checkpoint(ckpt: dict) -> DigitCNN:
    """The trained classifier a loaded checkpoint holds (weights only), in eval mode."""
    model = build(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.eval()
