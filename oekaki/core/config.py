"""params.yaml -> frozen, typed pydantic models, read once and validated before anything runs.

params.yaml is the one place defaults live: every key is required here, so a missing key is an
error too. Every error names the file, the key, the offending value and what is allowed, so a
typo in params.yaml or in a `--set` override is caught before a single file is written.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from oekaki.core.errors import ConfigError
from oekaki.core.latent_sections import AutoencoderConfig, TextPainterConfig  # noqa: F401  (re-exported)
from oekaki.core.sections import (  # noqa: F401  (re-exported: the section models)
    BaseConfig,
    Bool,
    Channels,
    CnnConfig,
    ContributionsConfig,
    DataConfig,
    DiffusionConfig,
    EvaluateConfig,
    GanConfig,
    GmmConfig,
    Impossible,
    Int,
    Num,
    OrchestrationConfig,
    PromoteConfig,
    ReportConfig,
    Section,
    Str,
    VaeConfig,
    VitConfig,
    bounded,
)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: BaseConfig
    data: DataConfig
    contributions: ContributionsConfig
    gmm: GmmConfig
    cnn: CnnConfig
    vit: VitConfig
    vae: VaeConfig
    gan: GanConfig
    diffusion: DiffusionConfig
    autoencoder: AutoencoderConfig
    text_painter: TextPainterConfig
    evaluate: EvaluateConfig
    promote: PromoteConfig
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
