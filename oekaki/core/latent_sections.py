"""params.yaml's sections of the latent text painter: the autoencoder and the text-conditioned latent denoiser.

Same rules as oekaki/core/sections.py (every field required, bounded, described); kept apart so each module stays small.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from oekaki.core.sections import Channels, Int, Num, Schedule, Section, bounded


class Training(Section):
    """How a latent-side network trains: epochs stretched to at least min_steps optimiser steps, Adam, a schedule."""

    epochs: Int = bounded("an integer", ge=1)
    min_steps: Int = bounded("an integer", "0 = train exactly `epochs`", ge=0)
    batch_size: Int = bounded("an integer", ge=1)
    lr: Num = bounded("a learning rate", gt=0)
    schedule: Schedule
    eval_batch_size: Int = bounded("an integer", ge=1)


class AutoencoderConfig(Training):
    """The latent painter's autoencoder (oekaki/models/autoencoder.py): 28x28 -> latent_channels x 7 x 7 -> 28x28."""

    channels: Channels = bounded("two positive channel counts", "at 28 and at 14 / 7 pixels", min_length=2, max_length=2)
    latent_channels: Int = bounded("an integer", "the latent grid's channels (7x7 cells each)", ge=1, le=16)
    kl_weight: Num = bounded("a weight", "of the KL term per image (nats); 0 = a plain autoencoder", ge=0)


class TextPainterConfig(Training):
    """The text painter (oekaki/models/text_painter.py): a from-scratch text encoder and a latent denoiser trained
    together by flow matching on the autoencoder's latents, captions from measured attributes (oekaki/models/captions.py)."""

    max_tokens: Int = bounded("an integer", "tokens per prompt, BOS included", ge=4, le=64)
    text_width: Int = bounded("an integer", "the text encoder's width, a multiple of text_heads", ge=8)
    text_layers: Int = bounded("an integer", ge=1, le=8)
    text_heads: Int = bounded("an integer", ge=1)
    channels: Int = bounded("an integer", "the denoiser's width at 7x7, a multiple of text_heads", ge=8)
    blocks: Int = bounded("an integer", "residual + cross-attention blocks", ge=1, le=8)
    embed_size: Int = bounded("an even integer", "time and pooled-caption embedding", ge=2)
    sampler: Literal["euler", "heun"]
    time_sampling: Literal["uniform", "logit_normal"]
    ema_decay: Num = bounded("a decay", "0 = no moving average of the weights", ge=0, lt=1)
    caption_drop: Num = bounded("a probability", "captions replaced by the empty prompt in training (guidance)", ge=0, lt=1)
    mention: Num = bounded("a probability", "each attribute is named in a training caption with this probability", ge=0, le=1)
    captions_per_image: Int = bounded("an integer", "caption variants written per training image, one drawn per step", ge=1)
    sample_steps: Int = bounded("an integer", "network steps per drawing", ge=1, le=1000)
    guidance: Num = bounded("a guidance weight", "0 = unconditional, 1 = plain conditional", ge=0)
    guidance_from: Num = bounded("a share of the steps", "guidance starts after this share of the steps", ge=0, le=1)
    guidance_until: Num = bounded("a share of the steps", "guidance stops after this share of the steps", ge=0, le=1)
    eval_per_prompt: Int = bounded("an integer", "drawings per language x digit x attribute x level when measuring adherence", ge=1)
    sweep_guidance: tuple[Annotated[Num, Field(ge=0)], ...] = bounded("guidance weights >= 0", min_length=1)

    @model_validator(mode="after")
    def _shapes_fit(self) -> TextPainterConfig:
        if self.embed_size % 2:
            self.fail("embed_size", self.embed_size)
        if self.text_width % self.text_heads:
            self.fail("text_width", self.text_width, f"a multiple of text_painter.text_heads = {self.text_heads}")
        if self.channels % self.text_heads:
            self.fail("channels", self.channels, f"a multiple of text_painter.text_heads = {self.text_heads}")
        if self.guidance_until <= self.guidance_from:
            self.fail("guidance_until", self.guidance_until, f"a share of the steps above guidance_from ({self.guidance_from})")
        return self
