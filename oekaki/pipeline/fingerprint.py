"""A stage's DVC fingerprint, computed from dvc.yaml: the key of its Prefect cache.

key  = hash(stage command, content of every dep in dvc.yaml (code and data), values of its params)
outs = hash(content of every out, metric and plot file of the stage)

The key changes exactly when DVC would consider the stage changed; the outs digest lets
the flow refuse a cached result whose output files were deleted or altered since.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import yaml

from oekaki.core.config import Config, section_params
from oekaki.core.paths import Paths


@lru_cache(maxsize=8)
def _dvc_stages(dvc_yaml: Path, mtime_ns: int) -> dict:
    return yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]


def stage_names(paths: Paths) -> list[str]:
    """dvc.yaml's stages, in its order."""
    return list(_dvc_stages(paths.dvc_yaml, paths.dvc_yaml.stat().st_mtime_ns))


def dvc_stage(paths: Paths, stage: str) -> dict:
    stages = _dvc_stages(paths.dvc_yaml, paths.dvc_yaml.stat().st_mtime_ns)
    if stage not in stages:
        raise KeyError(f"{paths.dvc_yaml}: no stage {stage!r}")
    return stages[stage]


def _entry_paths(entries: list) -> list[str]:
    """dvc.yaml entries are either "path" or {"path": {options}}."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def output_paths(paths: Paths, stage: str) -> list[str]:
    spec = dvc_stage(paths, stage)
    return _entry_paths(spec.get("outs")) + _entry_paths(spec.get("metrics")) + _entry_paths(spec.get("plots"))


def dep_paths(paths: Paths, stage: str) -> list[str]:
    return _entry_paths(dvc_stage(paths, stage).get("deps"))


def upstream_stages(paths: Paths, stage: str) -> list[str]:
    """Stages whose outputs `stage` depends on, read from dvc.yaml (the one place the graph lives)."""
    stages = _dvc_stages(paths.dvc_yaml, paths.dvc_yaml.stat().st_mtime_ns)
    deps = set(dep_paths(paths, stage))
    return [other for other in stages if other != stage and deps & set(output_paths(paths, other))]


def path_digest(path: Path) -> str | None:
    """SHA-256 of a file, or of a folder's sorted (relative name, content) pairs; None if missing."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
        return h.hexdigest()
    return None


def stage_key(paths: Paths, stage: str, cfg: Config) -> str:
    spec = dvc_stage(paths, stage)
    payload = {
        "stage": stage,
        "cmd": spec["cmd"],
        "deps": {d: path_digest(paths.root / d) for d in dep_paths(paths, stage)},
        "params": section_params(cfg, [p for p in spec.get("params", []) if isinstance(p, str)]),
    }
    return f"{stage}-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def outs_digest(paths: Paths, stage: str) -> dict[str, str | None]:
    return {o: path_digest(paths.root / o) for o in output_paths(paths, stage)}
