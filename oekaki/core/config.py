"""params.yaml -> frozen, typed pydantic models, read once and validated before anything runs.

params.yaml is the one place defaults live: every key is required here, so a missing key is an
error too. Every error names the file, the key, the offending value and what is allowed, so a
typo in params.yaml or in a `--set` override is caught before a single file is written.
"""

from __future__ import annotations

import math
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from oekaki.core.errors import ConfigError

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
    download_retries: Int = bounded("an integer", ge=1)
    download_timeout_s: Num = bounded("a number of seconds", gt=0)

    @model_validator(mode="after")
    def _source_fits(self) -> DataConfig:
        if self.source == "local" and not self.local_dir:
            self.fail("local_dir", self.local_dir, "a folder holding the four IDX files when source is 'local'")
        if self.source == "bundled" and self.dataset != "mnist":
            self.fail("source", self.source, "'bundled' only with dataset 'mnist' (the bundled sample is MNIST)")
        return self


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


class CnnConfig(Section):
    """Small CNN classifier: conv3x3-BN-ReLU-maxpool blocks, then one hidden layer (oekaki/models/cnn.py)."""

    channels: Channels = bounded("1 to 4 positive channel counts", "28 px halves per block", min_length=1, max_length=4)
    hidden: Int = bounded("an integer", ge=1)
    dropout: Num = bounded("a probability", ge=0, lt=1)
    epochs: Int = bounded("an integer", ge=1)
    min_steps: Int = bounded("an integer", "0 = train exactly `epochs`", ge=0)
    batch_size: Int = bounded("an integer", ge=1)
    lr: Num = bounded("a learning rate", gt=0)
    weight_decay: Num = bounded("a value", ge=0)
    schedule: Schedule
    augment_shift: Int = bounded("an integer", "pixels", ge=0, le=8)
    label_smoothing: Num = bounded("a value", ge=0, lt=1)
    eval_batch_size: Int = bounded("an integer", ge=1)


class VaeConfig(Section):
    """Convolutional VAE (oekaki/models/vae.py); `conditional` = encoder and decoder see the label."""

    conditional: Bool
    latent_size: Int = bounded("an integer", ge=1)
    channels: Channels = bounded("two positive channel counts", "28 -> 14 -> 7 pixels", min_length=2, max_length=2)
    hidden: Int = bounded("an integer", ge=1)
    epochs: Int = bounded("an integer", ge=1)
    min_steps: Int = bounded("an integer", "0 = train exactly `epochs`", ge=0)
    batch_size: Int = bounded("an integer", ge=1)
    lr: Num = bounded("a learning rate", gt=0)
    beta: Num = bounded("a KL weight", "1 = the evidence lower bound", ge=0)
    schedule: Schedule
    n_eval_samples: Int = bounded("an integer", "FID needs many samples", ge=100)
    eval_batch_size: Int = bounded("an integer", ge=1)


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
    epoch_eval_samples: Int = bounded("an integer", "FID needs many samples", ge=100)
    n_eval_samples: Int = bounded("an integer", "FID needs many samples", ge=100)
    eval_batch_size: Int = bounded("an integer", ge=1)


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
    epoch_eval_samples: Int = bounded("an integer", "FID needs many samples", ge=100)
    n_eval_samples: Int = bounded("an integer", "FID needs many samples", ge=100)
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
        return self


class EvaluateConfig(Section):
    """The scoreboard: every generator scored on n_samples (at most the test set's size), base.seed."""

    n_samples: Int = bounded("an integer", "FID needs many samples", ge=100)


class ReportConfig(Section):
    title: Str
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


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: BaseConfig
    data: DataConfig
    gmm: GmmConfig
    cnn: CnnConfig
    vae: VaeConfig
    gan: GanConfig
    diffusion: DiffusionConfig
    evaluate: EvaluateConfig
    report: ReportConfig
    orchestration: OrchestrationConfig

    def section(self, name: str) -> Any:
        return getattr(self, name)


SECTIONS: dict[str, type[Section]] = {name: f.annotation for name, f in Config.model_fields.items()}


# --------------------------------------------------------------------------- loading
def load_config(path: Path, overrides: list[str] | tuple[str, ...] | None = None) -> Config:
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
    for item in overrides or ():
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
    if "." in name:
        raise ConfigError(f"{path}: override {item!r}: keys are one level deep (section.key)")
    target = raw[section] = {} if raw.get(section) is None else raw[section]
    if not isinstance(target, dict):
        raise ConfigError(f"{path}: section {section!r} must be a mapping, got {target!r}")
    target[name] = value


def build_config(raw: dict, path: Path) -> Config:
    """Validate the raw mapping; pydantic's errors become one ConfigError, a line per bad key."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        lines, seen = [], set()
        for error in exc.errors():
            line = _describe(error)
            if line[0] not in seen:
                seen.add(line[0])
                lines.append(f"{path}: {line[1]}")
        raise ConfigError("\n".join(lines)) from None


def _describe(error: dict) -> tuple[tuple, str]:
    """(the key it is about, one line: key, value, what is wrong and what is allowed)."""
    loc, kind, value = error["loc"], error["type"], error.get("input")
    section = SECTIONS.get(str(loc[0]))
    if section is None:
        return loc, f"unknown section {loc[0]!r}; allowed sections: {', '.join(SECTIONS)}"
    if len(loc) == 1 and kind == "missing":
        return loc, f"section {loc[0]!r} is missing; add it with its keys: {', '.join(section.model_fields)}"
    if len(loc) == 1 and kind in ("model_type", "dict_type"):
        return loc, f"section {loc[0]!r} must be a mapping, got {value!r}"
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Impossible):
        return (*loc, cause.key), f"{loc[0]}.{cause}"
    if len(loc) == 1:
        return loc, f"section {loc[0]!r}: {error['msg']}"
    key = ".".join(map(str, loc[:2])) + "".join(f"[{i}]" for i in loc[2:])
    field = section.model_fields.get(str(loc[1]))
    if field is None:
        return loc[:2], f"{key}: unknown key; allowed keys: {', '.join(section.model_fields)}"
    if kind == "missing":
        return loc[:2], f"{key} is missing; add it (every key is required; expected {_expected(field)})"
    if kind == "literal_error":
        return loc[:2], f"{key} = {value!r} is not allowed; choose one of: {', '.join(map(str, _choices(field.annotation)))}"
    wrong = next((noun for prefix, noun in _TYPES.items() if kind.startswith(prefix)), None)
    if wrong:
        return loc[:2], f"{key} = {value!r} has the wrong type; expected {wrong}"
    return loc[:2], f"{key} = {value!r} is impossible; expected {_expected(field)}"


# pydantic error type (prefix) -> what the value should have been
_TYPES = {
    "int_": "an integer",
    "float_": "a finite number",
    "finite_number": "a finite number",
    "bool_": "true or false",
    "string_": "a string",
    "tuple_": "a list",
    "list_": "a list",
}


def _expected(field: Any) -> str:
    if field.description:
        return field.description
    if choices := _choices(field.annotation):
        return "one of: " + ", ".join(map(str, choices))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(field.annotation, "a value")


def _choices(tp: Any) -> tuple:
    """The allowed values of the Literal inside `tp` (also inside tuple[...] or Optional)."""
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)
    return next((c for arg in typing.get_args(tp) if (c := _choices(arg))), ())


def section_params(cfg: Config, keys: list[str]) -> dict[str, Any]:
    """Values of dotted keys (`gmm.n_artworks`) as plain JSON-able data, e.g. for cache keys."""
    out = {}
    for key in keys:
        section, _, name = key.partition(".")
        obj = cfg.section(section)
        out[key] = _plain(obj.model_dump() if not name else getattr(obj, name))
    return out


def flatten(cfg_section: BaseModel, prefix: str) -> dict[str, Any]:
    """A section as {"prefix.key": value}, lists kept as JSON-able lists (for MLflow params)."""
    return {f"{prefix}.{k}": _plain(v) for k, v in cfg_section.model_dump().items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
