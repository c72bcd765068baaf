"""params.yaml -> frozen, typed dataclasses, read once and validated before anything runs.

Every error names the file, the key, the offending value and what is allowed, so a
typo in params.yaml or in a `--set` override is caught before a single file is written.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from oekaki.core.errors import ConfigError


# --------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class BaseConfig:
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = 2

    def check(self, err) -> None:
        if self.threads < 1:
            err("threads", self.threads, "an integer >= 1")


@dataclass(frozen=True)
class DataConfig:
    dataset: Literal["mnist", "fashion-mnist", "kmnist"] = "mnist"
    source: Literal["auto", "download", "local", "bundled"] = "auto"
    local_dir: str | None = None
    limit: int | None = None
    bundled_test_fraction: float = 0.2
    download_retries: int = 3
    download_timeout_s: float = 10.0

    def check(self, err) -> None:
        if self.limit is not None and self.limit < 1:
            err("limit", self.limit, "null (all images) or an integer >= 1")
        if not 0.0 < self.bundled_test_fraction < 1.0:
            err("bundled_test_fraction", self.bundled_test_fraction, "a number strictly between 0 and 1")
        if self.download_retries < 1:
            err("download_retries", self.download_retries, "an integer >= 1")
        if self.download_timeout_s <= 0:
            err("download_timeout_s", self.download_timeout_s, "a number of seconds > 0")
        if self.source == "local" and not self.local_dir:
            err("local_dir", self.local_dir, "a folder holding the four IDX files when source is 'local'")
        if self.source == "bundled" and self.dataset != "mnist":
            err("source", self.source, "'bundled' only with dataset 'mnist' (the bundled sample is MNIST)")


@dataclass(frozen=True)
class GmmConfig:
    seed: int = 7
    n_artworks: int = 300
    true_weights: tuple[float, ...] = (0.35, 0.40, 0.25)
    true_means: tuple[tuple[float, ...], ...] = ((60.0, 190.0), (170.0, 70.0), (200.0, 200.0))
    true_covs: tuple[tuple[tuple[float, ...], ...], ...] = (
        ((250.0, 120.0), (120.0, 300.0)),
        ((350.0, -150.0), (-150.0, 200.0)),
        ((150.0, 0.0), (0.0, 150.0)),
    )
    max_components: int = 6
    n_init: int = 5
    n_generated: int = 300
    style_pixel1: float = 60.0
    digits_pca_components: int = 40
    digits_components_per_class: int = 5
    digits_n_samples: int = 1000

    def check(self, err) -> None:
        for key in ("n_artworks", "n_generated", "digits_n_samples"):
            if getattr(self, key) < 10:
                err(key, getattr(self, key), "an integer >= 10")
        for key in ("max_components", "n_init", "digits_pca_components", "digits_components_per_class"):
            if getattr(self, key) < 1:
                err(key, getattr(self, key), "an integer >= 1")
        k = len(self.true_weights)
        if k < 1 or any(w <= 0 or w > 1 for w in self.true_weights) or not math.isclose(sum(self.true_weights), 1.0, abs_tol=1e-6):
            err("true_weights", list(self.true_weights), "probabilities in (0, 1] that sum to 1")
        if len(self.true_means) != k or any(len(m) != 2 for m in self.true_means):
            err("true_means", self.true_means, f"{k} pairs [pixel1, pixel2], one per weight")
        if len(self.true_covs) != k or any(len(c) != 2 or any(len(r) != 2 for r in c) for c in self.true_covs):
            err("true_covs", self.true_covs, f"{k} symmetric 2x2 matrices, one per weight")
        for i, c in enumerate(self.true_covs):
            (a, b), (b2, d) = c
            if not math.isclose(b, b2) or a <= 0 or a * d - b * b <= 0:
                err(f"true_covs[{i}]", c, "a symmetric positive-definite 2x2 matrix")
        if not 0.0 <= self.style_pixel1 <= 255.0:
            err("style_pixel1", self.style_pixel1, "a pixel value in [0, 255]")
        if self.digits_pca_components > 784:
            err("digits_pca_components", self.digits_pca_components, "at most 784 (28x28 pixels)")


@dataclass(frozen=True)
class CnnConfig:
    """Small CNN classifier: conv3x3-BN-ReLU-maxpool blocks, then one hidden layer.

    Defaults follow the fast-MNIST recipe (in-memory batches, batch norm, one-cycle AdamW).
    """

    channels: tuple[int, ...] = (32, 64)
    hidden: int = 256
    dropout: float = 0.1
    epochs: int = 3
    min_steps: int = 400
    batch_size: int = 128
    lr: float = 0.005
    weight_decay: float = 0.0005
    schedule: Literal["onecycle", "constant"] = "onecycle"
    augment_shift: int = 1
    label_smoothing: float = 0.0
    eval_batch_size: int = 1000

    def check(self, err) -> None:
        if not 1 <= len(self.channels) <= 4 or any(c < 1 for c in self.channels):
            err("channels", list(self.channels), "1 to 4 positive channel counts (28 px halves per block)")
        for key in ("hidden", "epochs", "batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                err(key, getattr(self, key), "an integer >= 1")
        if self.min_steps < 0:
            err("min_steps", self.min_steps, "an integer >= 0 (0 = train exactly `epochs`)")
        if not 0.0 <= self.dropout < 1.0:
            err("dropout", self.dropout, "a probability in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            err("label_smoothing", self.label_smoothing, "a value in [0, 1)")
        if self.lr <= 0:
            err("lr", self.lr, "a learning rate > 0")
        if self.weight_decay < 0:
            err("weight_decay", self.weight_decay, "a value >= 0")
        if not 0 <= self.augment_shift <= 8:
            err("augment_shift", self.augment_shift, "0 to 8 pixels")


@dataclass(frozen=True)
class VaeConfig:
    """Convolutional VAE (oekaki/models/vae.py); `conditional` = encoder and decoder see the label."""

    conditional: bool = True
    latent_size: int = 16
    channels: tuple[int, ...] = (32, 64)
    hidden: int = 256
    epochs: int = 10
    min_steps: int = 1500
    batch_size: int = 128
    lr: float = 0.002
    beta: float = 1.0
    schedule: Literal["onecycle", "constant"] = "onecycle"
    n_eval_samples: int = 10000
    eval_batch_size: int = 1000

    def check(self, err) -> None:
        if len(self.channels) != 2 or any(c < 1 for c in self.channels):
            err("channels", list(self.channels), "two positive channel counts (28 -> 14 -> 7 pixels)")
        for key in ("latent_size", "hidden", "epochs", "batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                err(key, getattr(self, key), "an integer >= 1")
        if self.min_steps < 0:
            err("min_steps", self.min_steps, "an integer >= 0 (0 = train exactly `epochs`)")
        if self.n_eval_samples < 100:
            err("n_eval_samples", self.n_eval_samples, "an integer >= 100 (FID needs many samples)")
        if self.lr <= 0:
            err("lr", self.lr, "a learning rate > 0")
        if self.beta < 0:
            err("beta", self.beta, "a KL weight >= 0 (1 = the evidence lower bound)")


@dataclass(frozen=True)
class GanConfig:
    """DCGAN at 28x28 (oekaki/models/gan.py); `conditional` = both networks see the label.

    Stabilisers (each a switch): spectral normalisation in the discriminator, one-sided label
    smoothing (real target `real_label` < 1), two time-scale learning rates (lr_d vs lr_g).
    """

    conditional: bool = True
    noise_size: int = 64
    g_channels: tuple[int, ...] = (128, 64)
    d_channels: tuple[int, ...] = (64, 128)
    epochs: int = 3
    min_steps: int = 1500
    batch_size: int = 64
    lr_g: float = 0.0002
    lr_d: float = 0.0002
    beta1: float = 0.0
    beta2: float = 0.9
    d_steps: int = 1
    spectral_norm: bool = True
    real_label: float = 0.9
    aux_weight: float = 1.0
    epoch_eval_samples: int = 1000
    n_eval_samples: int = 10000
    eval_batch_size: int = 1000

    def check(self, err) -> None:
        for key in ("g_channels", "d_channels"):
            if len(getattr(self, key)) != 2 or any(c < 1 for c in getattr(self, key)):
                err(key, list(getattr(self, key)), "two positive channel counts (7 -> 14 -> 28 pixels)")
        for key in ("noise_size", "epochs", "batch_size", "d_steps", "eval_batch_size"):
            if getattr(self, key) < 1:
                err(key, getattr(self, key), "an integer >= 1")
        if self.min_steps < 0:
            err("min_steps", self.min_steps, "an integer >= 0 (0 = train exactly `epochs`)")
        for key in ("lr_g", "lr_d"):
            if getattr(self, key) <= 0:
                err(key, getattr(self, key), "a learning rate > 0")
        for key in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, key) < 1.0:
                err(key, getattr(self, key), "an Adam beta in [0, 1)")
        if self.aux_weight < 0:
            err("aux_weight", self.aux_weight, "a weight >= 0 (0 = no auxiliary classifier)")
        if not 0.5 < self.real_label <= 1.0:
            err("real_label", self.real_label, "a target in (0.5, 1] (1 = no label smoothing)")
        if self.epoch_eval_samples < 100 or self.n_eval_samples < 100:
            err(
                "n_eval_samples" if self.n_eval_samples < 100 else "epoch_eval_samples",
                min(self.n_eval_samples, self.epoch_eval_samples),
                "an integer >= 100 (FID needs many samples)",
            )


@dataclass(frozen=True)
class EvaluateConfig:
    """The scoreboard: every generator scored on n_samples (at most the test set's size), base.seed."""

    n_samples: int = 10000

    def check(self, err) -> None:
        if self.n_samples < 100:
            err("n_samples", self.n_samples, "an integer >= 100 (FID needs many samples)")


@dataclass(frozen=True)
class ReportConfig:
    title: str = "How does an AI learn to draw?"
    figure_dpi: int = 90
    languages: tuple[Literal["en", "ja"], ...] = ("en", "ja")
    allow_partial: bool = False
    mlflow_ui_url: str = "http://127.0.0.1:5000"

    def check(self, err) -> None:
        if "en" not in self.languages or len(set(self.languages)) != len(self.languages):
            err("languages", list(self.languages), "a list of distinct languages that includes en (reports/index.html), e.g. [en, ja]")
        if not 30 <= self.figure_dpi <= 300:
            err("figure_dpi", self.figure_dpi, "an integer between 30 and 300")


@dataclass(frozen=True)
class OrchestrationConfig:
    """How pipeline runs share a project folder (oekaki/lock.py, oekaki/isolation.py)."""

    lock_timeout_s: float = 3600.0
    on_busy: Literal["wait", "skip"] = "wait"
    isolate: bool = True
    task_runner: Literal["sequential", "dask", "ray"] = "sequential"
    workers: int = 2

    @property
    def lock_wait_s(self) -> float:
        """How long a run waits for the project lock: lock_timeout_s, or 0 with on_busy = skip."""
        return self.lock_timeout_s if self.on_busy == "wait" else 0.0

    def check(self, err) -> None:
        if self.workers < 1:
            err("workers", self.workers, "an integer >= 1 (worker processes of the dask or ray task runner)")
        if self.lock_timeout_s < 0:
            err("lock_timeout_s", self.lock_timeout_s, "a number of seconds >= 0 (0 = do not wait)")


@dataclass(frozen=True)
class Config:
    base: BaseConfig = field(default_factory=BaseConfig)
    data: DataConfig = field(default_factory=DataConfig)
    gmm: GmmConfig = field(default_factory=GmmConfig)
    cnn: CnnConfig = field(default_factory=CnnConfig)
    vae: VaeConfig = field(default_factory=VaeConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    orchestration: OrchestrationConfig = field(default_factory=OrchestrationConfig)

    def section(self, name: str) -> Any:
        return getattr(self, name)


SECTIONS: dict[str, type] = typing.get_type_hints(Config)


# --------------------------------------------------------------------------- loading
def load_config(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read `path`, apply `key.sub=value` overrides, and build the validated Config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; the pipeline needs its params file (copy it from git: `git checkout params.yaml`)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)}), got {type(raw).__name__}")
    for item in overrides:
        apply_override(raw, item, path)
    return build_config(raw, path)


def parse_override(item: str) -> tuple[str, Any]:
    """`gmm.n_artworks=500` -> ("gmm.n_artworks", 500); the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    if not sep or "." not in key or not key.strip():
        raise ConfigError(f"override {item!r}: expected section.key=value, e.g. gmm.n_artworks=500")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from exc
    return key.strip(), value


def apply_override(raw: dict, item: str, path: Path) -> None:
    key, value = parse_override(item)
    section, _, name = key.partition(".")
    if section not in SECTIONS:
        raise ConfigError(f"{path}: override {item!r}: unknown section {section!r}; allowed: {', '.join(SECTIONS)}")
    target = raw.setdefault(section, {}) or {}
    raw[section] = target
    if "." in name:
        raise ConfigError(f"{path}: override {item!r}: keys are one level deep (section.key)")
    target[name] = value


def build_config(raw: dict, path: Path) -> Config:
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]!r}; allowed sections: {', '.join(SECTIONS)}")
    sections = {}
    for name, cls in SECTIONS.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: section {name!r} must be a mapping, got {values!r}")
        sections[name] = _build_section(cls, values, f"{path}: {name}")
    return Config(**sections)


def _build_section(cls: type, values: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        allowed = ", ".join(hints) or "(none yet: this section is filled in by a later stage)"
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; allowed keys: {allowed}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    obj = cls(**kwargs)

    def err(key: str, value: Any, allowed: str) -> None:
        raise ConfigError(f"{where}.{key} = {value!r} is impossible; expected {allowed}")

    if hasattr(obj, "check"):
        obj.check(err)
    return obj


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`; convert lists to tuples (frozen)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} = {value!r} is not allowed; choose one of: {', '.join(map(str, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} = {value!r} has the wrong type; expected a list")
        return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} = {value!r} has the wrong type; expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} = {value!r} has the wrong type; expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where} = {value!r} has the wrong type; expected a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} = {value!r} has the wrong type; expected a string")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {where}")


def section_params(cfg: Config, keys: list[str]) -> dict[str, Any]:
    """Values of dotted keys (`gmm.n_artworks`) as plain JSON-able data, e.g. for cache keys."""
    out = {}
    for key in keys:
        section, _, name = key.partition(".")
        obj = cfg.section(section)
        value = dataclasses.asdict(obj) if not name else getattr(obj, name)
        out[key] = _plain(value)
    return out


def flatten(cfg_section: Any, prefix: str) -> dict[str, Any]:
    """A section as {"prefix.key": value}, lists kept as JSON-able lists (for MLflow params)."""
    return {f"{prefix}.{k}": _plain(v) for k, v in dataclasses.asdict(cfg_section).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
