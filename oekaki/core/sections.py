"""The sections of params.yaml as frozen, typed pydantic models (one class per section).

Every field is required (params.yaml is the one place defaults live) and carries its bounds;
`oekaki/core/config.py` assembles them into `Config` and turns validation errors into messages
that name the file, the key, the value and the fix.
"""

from __future__ import annotations

import math
import typing
from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, model_validator

# Strict scalars, as YAML gives them: no "1" -> 1, no true -> 1, no 1.0 -> 1; an int is a valid float.
Int = Annotated[int, Strict()]
Num = Annotated[float, Strict(), AllowInfNan(False)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Channels = tuple[Annotated[int, Strict(), Field(ge=1)], ...]
Schedule = Literal["onecycle", "constant"]

_OPS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def bounded(what: str, note: str = "", **bounds: float) -> Any:
    """A required field with `bounds`, described as its error's fix: what + range (+ note)."""
    lo = next(((k, v) for k, v in bounds.items() if k in ("ge", "gt")), None)
    hi = next(((k, v) for k, v in bounds.items() if k in ("le", "lt")), None)
    if lo and hi:
        what += f" in {'[' if lo[0] == 'ge' else '('}{lo[1]}, {hi[1]}{']' if hi[0] == 'le' else ')'}"
    elif lo or hi:
        k, v = lo or hi
        what += f" {_OPS[k]} {v}"
    return Field(description=what + (f" ({note})" if note else ""), **bounds)


class Impossible(ValueError):
    """A check beyond one value's bounds failed (raised by the models' validators)."""

    def __init__(self, key: str, value: Any, expected: str):
        super().__init__(f"{key} = {value!r} is impossible; expected {expected}")
        self.key, self.value, self.expected = key, value, expected


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def fail(self, key: str, value: Any, expected: str | None = None) -> typing.NoReturn:
        raise Impossible(key, value, expected or type(self).model_fields[key].description)


# --------------------------------------------------------------------------- sections
class BaseConfig(Section):
    seed: Int
    device: Literal["auto", "cpu", "cuda"]
    threads: Int = bounded("an integer", ge=1)


class DataConfig(Section):
    dataset: Literal["mnist", "fashion-mnist", "kmnist"]
    source: Literal["auto", "download", "local", "bundled"]
    local_dir: Str | None = Field(description="null (none) or a folder holding the four IDX files")
    limit: Int | None = bounded("null (all images) or an integer", ge=1)
    bundled_test_fraction: Num = bounded("a number", gt=0, lt=1)
    validation_size: Int = bounded(
        "an integer", "images held out of the training split for the promotion gate; stratified, so >= 10 classes", ge=10
    )
    download_retries: Int = bounded("an integer", ge=1)
    download_timeout_s: Num = bounded("a number of seconds", gt=0)

    @model_validator(mode="after")
    def _source_fits(self) -> DataConfig:
        if self.source == "local" and not self.local_dir:
            self.fail("local_dir", self.local_dir, "a folder holding the four IDX files when source is 'local'")
        if self.source == "bundled" and self.dataset != "mnist":
            self.fail("source", self.source, "'bundled' only with dataset 'mnist' (the bundled sample is MNIST)")
        return self


class ContributionsConfig(Section):
    """Drawings people teach the judge (oekaki/data/contributions.py): the store, the door's limits, the snapshot's
    quarantine and held-out split (oekaki/data/snapshot.py), and how much a contributed digit weighs in training."""

    store_url: Str | None = Field(
        description="null = SQLite (WAL) at data/contributions/store.sqlite of the project; or postgresql+psycopg2://user@host/db"
    )
    weight: Int = bounded("an integer", "each contributed training digit is repeated this many times in an epoch", ge=1, le=100)
    validation_share: Num = bounded("a fraction", "accepted contributions held out for the gate, never trained on", gt=0, lt=1)
    quarantine_confidence: Num = bounded("a probability", "the judge's certainty in a reading that contradicts the label", gt=0, le=1)
    quarantine_agreement: Num = bounded("a fraction", "... quarantined when the contributor's agreement rate is below this", ge=0, le=1)
    max_batch: Int = bounded("an integer", "digits per request or file", ge=1)
    rate_per_token_hour: Int = bounded("an integer", "accepted digits per contributor token per hour", ge=1)
    rate_total_hour: Int = bounded("an integer", "accepted digits per hour, all contributors", ge=1)


class GmmConfig(Section):
    seed: Int
    n_artworks: Int = bounded("an integer", ge=10)
    true_weights: tuple[Annotated[Num, Field(gt=0, le=1)], ...] = bounded("probabilities in (0, 1] that sum to 1", min_length=1)
    true_means: tuple[tuple[Num, ...], ...] = Field(description="pairs [pixel1, pixel2], one per weight")
    true_covs: tuple[tuple[tuple[Num, ...], ...], ...] = Field(description="symmetric positive-definite 2x2 matrices, one per weight")
    max_components: Int = bounded("an integer", ge=1)
    n_init: Int = bounded("an integer", ge=1)
    n_generated: Int = bounded("an integer", ge=10)
    style_pixel1: Num = bounded("a pixel value", ge=0, le=255)
    digits_pca_components: Int = bounded("an integer", "28x28 pixels", ge=1, le=784)
    digits_components_per_class: Int = bounded("an integer", ge=1)
    digits_n_samples: Int = bounded("an integer", ge=10)

    @model_validator(mode="after")
    def _mixture_fits(self) -> GmmConfig:
        k = len(self.true_weights)
        if not math.isclose(sum(self.true_weights), 1.0, abs_tol=1e-6):
            self.fail("true_weights", list(self.true_weights))
        if len(self.true_means) != k or any(len(m) != 2 for m in self.true_means):
            self.fail("true_means", self.true_means, f"{k} pairs [pixel1, pixel2], one per weight")
        if len(self.true_covs) != k or any(len(c) != 2 or any(len(r) != 2 for r in c) for c in self.true_covs):
            self.fail("true_covs", self.true_covs, f"{k} symmetric 2x2 matrices, one per weight")
        for i, c in enumerate(self.true_covs):
            (a, b), (b2, d) = c
            if not math.isclose(b, b2) or a <= 0 or a * d - b * b <= 0:
                self.fail(f"true_covs[{i}]", c, "a symmetric positive-definite 2x2 matrix")
        return self


class ClassifierTraining(Section):
    """How a digit classifier trains (the CNN, the ViT: oekaki.models.cnn.train_classifier_epoch); each adds its network's keys."""

    epochs: Int = bounded("an integer", ge=1)
    min_steps: Int = bounded("an integer", "0 = train exactly `epochs`", ge=0)
    batch_size: Int = bounded("an integer", ge=1)
    lr: Num = bounded("a learning rate", gt=0)
    weight_decay: Num = bounded("a value", ge=0)
    schedule: Schedule
    augment_shift: Int = bounded("an integer", "pixels", ge=0, le=8)
    label_smoothing: Num = bounded("a value", ge=0, lt=1)
    eval_batch_size: Int = bounded("an integer", ge=1)


class CnnConfig(ClassifierTraining):
    """Small CNN classifier: conv3x3-BN-ReLU-maxpool blocks, then one hidden layer (oekaki/models/cnn.py)."""

    channels: Channels = bounded("1 to 4 positive channel counts", "28 px halves per block", min_length=1, max_length=4)
    hidden: Int = bounded("an integer", ge=1)
    dropout: Num = bounded("a probability", ge=0, lt=1)


class VitConfig(ClassifierTraining):
    """Small Vision Transformer, the second judge (oekaki/models/vit.py): patches -> tokens -> attention blocks."""

    patch: Int = bounded("a patch side in pixels", "1, 2, 4, 7, 14 or 28: it must divide 28", ge=1, le=28)
    width: Int = bounded("an integer", "token size, a multiple of heads", ge=1)
    depth: Int = bounded("an integer", "transformer blocks", ge=1, le=16)
    heads: Int = bounded("an integer", ge=1)
    mlp_ratio: Int = bounded("an integer", "MLP hidden size = mlp_ratio * width", ge=1)
    stem: Int = bounded("an integer", "channels of a conv3x3 stem before the patches; 0 = the pure ViT", ge=0)
    eval_every: Int = bounded("an integer", "test accuracy every N epochs, and after the last", ge=1)

    @model_validator(mode="after")
    def _shapes_fit(self) -> VitConfig:
        if 28 % self.patch:
            self.fail("patch", self.patch, "a divisor of 28: 1, 2, 4, 7, 14 or 28")
        if self.width % self.heads:
            self.fail("width", self.width, f"a multiple of vit.heads = {self.heads}")
        return self


class VaeConfig(Section):
    """Convolutional VAE (oekaki/models/vae.py); `conditional` = encoder and decoder see the label."""

    conditional: Bool
    label_film: Bool
    latent_size: Int = bounded("an integer", ge=1)
    channels: Channels = bounded("two positive channel counts", "28 -> 14 -> 7 pixels", min_length=2, max_length=2)
    hidden: Int = bounded("an integer", ge=1)
    epochs: Int = bounded("an integer", ge=1)
    min_steps: Int = bounded("an integer", "0 = train exactly `epochs`", ge=0)
    batch_size: Int = bounded("an integer", ge=1)
    lr: Num = bounded("a learning rate", gt=0)
    beta: Num = bounded("a KL weight", "1 = the evidence lower bound", ge=0)
    schedule: Schedule
    prior: Literal["standard", "class_fit"]
    truncation: Num = bounded("a truncation", "0 = sample the latent vector from plain N(0, I)", ge=0)
    reader_weight: Num = bounded("a weight", "0 = no label reader; conditional only (oekaki/models/label_reader.py)", ge=0)
    reader_batch: Int = bounded("an integer", "images per optimiser step the reader learns from and reads, <= batch_size", ge=1)
    reader_width: Int = bounded("an integer", "the reader's channels: width -> 2 * width", ge=1)
    eval_every: Int = bounded("an integer", "test loss every N epochs, and after the last", ge=1)
    eval_batch_size: Int = bounded("an integer", ge=1)

    @model_validator(mode="after")
    def _prior_fits(self) -> VaeConfig:
        if self.prior == "class_fit" and not self.conditional:
            self.fail("prior", self.prior, "'standard' for the unconditional VAE ('class_fit' fits one Gaussian per label)")
        if self.reader_batch > self.batch_size:
            self.fail("reader_batch", self.reader_batch, f"at most vae.batch_size = {self.batch_size}")
        return self


class GanConfig(Section):
    """DCGAN at 28x28 (oekaki/models/gan.py); `conditional` = both networks see the label.

    Stabilisers (each a switch): spectral normalisation in the discriminator, one-sided label
    smoothing (real target `real_label` < 1), two time-scale learning rates (lr_d vs lr_g).
    """

    conditional: Bool
    noise_size: Int = bounded("an integer", ge=1)
    g_channels: Channels = bounded("two positive channel counts", "7 -> 14 -> 28 pixels", min_length=2, max_length=2)
    d_channels: Channels = bounded("two positive channel counts", "28 -> 14 -> 7 pixels", min_length=2, max_length=2)
    epochs: Int = bounded("an integer", ge=1)
    min_steps: Int = bounded("an integer", "0 = train exactly `epochs`", ge=0)
    batch_size: Int = bounded("an integer", ge=1)
    lr_g: Num = bounded("a learning rate", gt=0)
    lr_d: Num = bounded("a learning rate", gt=0)
    beta1: Num = bounded("an Adam beta", ge=0, lt=1)
    beta2: Num = bounded("an Adam beta", ge=0, lt=1)
    d_steps: Int = bounded("an integer", ge=1)
    spectral_norm: Bool
    real_label: Num = bounded("a target", "1 = no label smoothing", gt=0.5, le=1)
    aux_weight: Num = bounded("a weight", "0 = no auxiliary classifier", ge=0)
    mode_seeking: Num = bounded("a weight", "0 = off; > 0 adds the mode-seeking term of MSGAN", ge=0)
    truncation: Num = bounded("a truncation", "0 = sample the noise from plain N(0, I)", ge=0)
    truncation_relax: tuple[Annotated[Num, Field(ge=0)], ...] = bounded(
        "truncations >= 0, least truncated first", "each 0 (off) or above `truncation`; [] = always `truncation`"
    )
    truncation_margin: Num = bounded("a share of the validation images", "0.01 = one point", ge=0, lt=1)
    eval_every: Int = bounded("an integer", "score the samples every N epochs, and after the last", ge=1)
    epoch_eval_samples: Int = bounded("an integer", "FID needs many samples", ge=100)

    @model_validator(mode="after")
    def _relax_is_weaker(self) -> GanConfig:
        if self.truncation > 0 and any(0 < t <= self.truncation for t in self.truncation_relax):
            self.fail("truncation_relax", list(self.truncation_relax), f"each 0 (off) or above truncation = {self.truncation}")
        return self


class DiffusionConfig(Section):
    """Class-conditional denoiser (oekaki/models/diffusion.py); flow_matching samples with euler or heun, ddpm with ddpm."""

    channels: Channels = bounded("three positive channel counts", "at 28, 14 and 7 pixels", min_length=3, max_length=3)
    embed_size: Int = bounded("an even integer", "time and label embedding", ge=2)
    objective: Literal["flow_matching", "ddpm"]
    sampler: Literal["euler", "heun", "ddpm"]
    time_sampling: Literal["uniform", "logit_normal"]
    epochs: Int = bounded("an integer", ge=1)
    min_steps: Int = bounded("an integer", "0 = train exactly `epochs`", ge=0)
    batch_size: Int = bounded("an integer", ge=1)
    lr: Num = bounded("a learning rate", gt=0)
    schedule: Schedule
    label_drop: Num = bounded("a probability", "share of labels replaced by 'no label' in training", ge=0, lt=1)
    ema_decay: Num = bounded("a decay", "0 = no moving average of the weights", ge=0, lt=1)
    sample_steps: Int = bounded("an integer", "network steps per drawing", ge=1, le=1000)
    guidance: Num = bounded("a guidance weight", "0 = unconditional, 1 = plain conditional", ge=0)
    guidance_from: Num = bounded("a share of the steps", "guidance starts after this share of the steps; 0 = every step", ge=0, le=1)
    guidance_until: Num = bounded("a share of the steps", "guidance stops after this share of the steps; 1 = to the last step", ge=0, le=1)
    eval_every: Int = bounded("an integer", "score the epoch's drawings every N epochs, and after the last", ge=1)
    epoch_eval_samples: Int = bounded("an integer", "FID needs many samples", ge=100)
    sweep_samples: Int = bounded("an integer", "samples per point of the steps and guidance sweeps", ge=100)
    sweep_steps: tuple[Annotated[int, Strict(), Field(ge=1, le=1000)], ...] = bounded("step counts in [1, 1000]", min_length=1)
    sweep_guidance: tuple[Annotated[Num, Field(ge=0)], ...] = bounded("guidance weights >= 0", min_length=1)
    eval_batch_size: Int = bounded("an integer", ge=1)

    @model_validator(mode="after")
    def _sampler_fits(self) -> DiffusionConfig:
        if self.embed_size % 2:
            self.fail("embed_size", self.embed_size)
        fits = ("ddpm",) if self.objective == "ddpm" else ("euler", "heun")
        if self.sampler not in fits:
            self.fail("sampler", self.sampler, f"{' or '.join(fits)} with objective {self.objective!r}")
        if self.guidance_until <= self.guidance_from:
            self.fail("guidance_until", self.guidance_until, f"a share of the steps above guidance_from ({self.guidance_from})")
        return self


class EvaluateConfig(Section):
    """The scoreboard (oekaki/models/scoreboard.py): every row drawn n_samples times (at most the test set's
    size) with each of the n_seeds seeds base.seed + k; the vae, gan and diffusion stages draw theirs too."""

    n_samples: Int = bounded("an integer", "FID needs many samples", ge=100)
    n_seeds: Int = bounded("an integer", "sampling seeds base.seed + k, for a mean and a spread", ge=1, le=20)


class PromoteConfig(Section):
    """The promotion gate (oekaki/stages/promote): seeds per score, the CNN's margin, the first candidate's floor."""

    seeds: Int = bounded("an integer", "scores per model, seeds base.seed + k; their spread is the margin", ge=2, le=10)
    cnn_min_margin: Num = bounded("an accuracy", "the CNN's accuracy is deterministic: this is its margin", ge=0, lt=1)
    cnn_min_accuracy: Num = bounded("an accuracy", "a first CNN candidate needs at least this (chance: 0.1)", gt=0, le=1)
    # fractions >= 1 switch the floor off (tiny test profiles, whose networks barely leave their initialisation)
    vae_max_loss_fraction: Num = bounded("a fraction", "a first VAE: loss at most this share of an untrained one's", gt=0)
    painter_max_fid_fraction: Num = bounded("a fraction", "a first GAN or diffusion: FID at most this share of untrained", gt=0)
    adherence_per_prompt: Int = bounded("an integer", "text painter: drawings per language x digit x attribute x level", ge=1, le=50)


class ReportConfig(Section):
    # the page's title is the catalogs' `title` (oekaki/locales/<lang>.yaml), like every word of the report
    figure_dpi: Int = bounded("an integer", ge=30, le=300)
    languages: tuple[Literal["en", "ja"], ...] = Field(
        description="a list of distinct languages that includes en (reports/index.html), e.g. [en, ja]"
    )
    allow_partial: Bool
    mlflow_ui_url: Str

    @model_validator(mode="after")
    def _english_once(self) -> ReportConfig:
        if "en" not in self.languages or len(set(self.languages)) != len(self.languages):
            self.fail("languages", list(self.languages))
        return self


class OrchestrationConfig(Section):
    """How pipeline runs share a project folder (oekaki/pipeline/lock.py, oekaki/pipeline/isolation.py)."""

    lock_timeout_s: Num = bounded("a number of seconds", "0 = do not wait", ge=0)
    on_busy: Literal["wait", "skip"]
    isolate: Bool
    task_runner: Literal["sequential", "dask", "ray"]
    workers: Int = bounded("an integer", "worker processes of the dask or ray task runner", ge=1)

    @property
    def lock_wait_s(self) -> float:
        """How long a run waits for the project lock: lock_timeout_s, or 0 with on_busy = skip."""
        return self.lock_timeout_s if self.on_busy == "wait" else 0.0
