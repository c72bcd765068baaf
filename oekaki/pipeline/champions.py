"""Which trained model to load: a registry version or alias (`champion`), else the DVC-tracked checkpoint.

One place for `flows.sample` and the draw-it-yourself app (oekaki/app): the registry's entry
`models:/<name>@<alias>` (or a given version) gives the self-describing checkpoint logged with
that version; when the registry has no entry for the model at all (or, where the caller allows
it, no version under the alias yet), models/<kind>/model.pt is used and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oekaki.core.paths import Paths

# model kind (its stage and models/<kind>/) -> registered model name; a kind not named here is registered under its own name
REGISTERED = {
    "cnn": "cnn-classifier",
    "vit": "vit-classifier",
    "vae": "vae",
    "gan": "gan-generator",
    "diffusion": "diffusion",
    "text_painter": "text-painter",
}


def registered_name(kind: str) -> str:
    return REGISTERED.get(kind, kind)


class ModelUnavailable(ValueError):
    """No model to load: not registered and no DVC-tracked file, no such version, or no version under the alias."""


@dataclass(frozen=True)
class Resolved:
    """A checkpoint file and where it came from."""

    path: Path
    kind: str
    name: str  # the registered model name
    version: str | None = None  # None: the DVC-tracked file
    alias: str | None = None  # the alias it was found under (None: asked for by version, or the DVC-tracked file)
    run_id: str | None = None  # the MLflow run that logged the version
    experiment_id: str | None = None
    notice: str | None = None  # why the DVC-tracked file stands in, when it does
    relative: str = ""  # the DVC-tracked file relative to the project folder

    @property
    def from_registry(self) -> bool:
        return self.version is not None

    def describe(self) -> str:
        if self.from_registry:
            return f"models:/{self.name}/{self.version}" + (f" (@{self.alias})" if self.alias else "")
        return f"{self.relative} (DVC-tracked; {self.notice})"


def resolve(
    paths: Paths, kind: str, tmp: Path, version: str | None = None, alias: str = "champion", fallback_without_alias: bool = False
) -> Resolved:
    """The checkpoint of model `kind` (cnn, vae, gan, ...): registry version or alias, else the DVC-tracked file.

    `tmp`: where a registry checkpoint is downloaded. `fallback_without_alias`: also use the
    DVC-tracked file when the model is registered but has no version under `alias` yet (the
    app does; `flows.sample` asks for a retraining or --version instead).
    """
    from oekaki.pipeline.tracking import NoSuchModel, Registry, store_exists, tracking_uri, without_credentials

    name = registered_name(kind)
    local = paths.final_model(kind)
    registry = Registry(paths) if store_exists(paths) else None  # never create an empty store by looking
    versions = registry.versions(name) if registry else []

    def dvc_tracked(why: str) -> Resolved:
        if not local.is_file():
            raise ModelUnavailable(f"model {name!r}: {why}, and {local} is missing: run `make run` first")
        return Resolved(local, kind, name, notice=why, relative=str(local.relative_to(paths.root)))

    if not versions:
        if version is not None:
            store = without_credentials(tracking_uri(paths))
            raise ModelUnavailable(f"model {name!r} is not in the registry {store}, so there is no version {version}")
        return dvc_tracked(f"no registry entry for {name}")
    via = None
    if version is None:
        version, via = registry.alias_version(name, alias), alias
        if version is None:
            if fallback_without_alias:
                return dvc_tracked(f"{name} has no {alias!r} version in the registry yet")
            raise ModelUnavailable(
                f"model {name!r} has no {alias!r} yet (versions {', '.join(versions)}): run a retraining "
                f"(`make trigger`), or pass --version N"
            )
    try:
        path = registry.checkpoint(name, version, tmp)
        run_id, experiment_id = registry.run_of(name, version)
    except NoSuchModel as exc:
        raise ModelUnavailable(f"{exc} (versions {', '.join(versions)})") from exc
    return Resolved(path, kind, name, str(version), via, run_id, experiment_id)


def run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    """A run's page in the MLflow UI (the same form as the report's run links)."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
