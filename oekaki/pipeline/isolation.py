"""Isolated pipeline runs: work in a copy, bring the outputs in only on success.

A retraining run must never leave the project half-updated: a stage that fails after its
upstream stages rewrote their outputs would otherwise leave new data beside old models and a
dvc.lock that matches neither. So the flow copies the project (code, params, dvc.lock, git
history and the current outputs, so its caches still hit) into a temporary folder that
shares the project's DVC cache, MLflow store and lock, runs there, and only after every
stage succeeded:
- without overrides: replaces the changed outputs and dvc.lock in the project (a later
  `dvc repro` finds everything up to date) and pushes to the DVC remote if one is set;
- with overrides: saves the copy as a DVC experiment and fetches its git ref into the
  project (`dvc exp show` lists it, `dvc exp apply` brings it in); the workspace is untouched.
On failure the copy is deleted and the project is exactly as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from oekaki.core.io import write_bytes
from oekaki.core.paths import Paths
from oekaki.pipeline import dvc_ops, fingerprint

log = logging.getLogger("oekaki.isolation")

# Never copied: tools' state, stores and caches (shared with the project or rebuilt).
SKIP = {".venv", ".prefect", ".oekaki", "mlflow.db", "mlartifacts", "mlruns", "test-artifacts", "dvc_plots", ".pytest_cache", ".ruff_cache"}
SKIP_DVC = {"cache", "tmp"}


def _ignore(root: Path):
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        if here == root:
            return SKIP & set(names)
        if here == root / ".dvc":
            return SKIP_DVC & set(names)
        return {n for n in names if n == "__pycache__"}

    return ignore


@contextlib.contextmanager
def run_copy(paths: Paths, base_dir: str | None = None) -> Iterator[Paths]:
    """A working copy of the project for one run; removed afterwards, whatever happened."""
    tmp = Path(tempfile.mkdtemp(prefix="oekaki-run-", dir=base_dir or os.environ.get("OEKAKI_RUNS_DIR")))
    work = Paths(tmp / "project", home=paths.home_root)
    try:
        shutil.copytree(paths.root, work.root, symlinks=True, ignore=_ignore(paths.root))
        cache = dvc_ops.cache_dir(paths)
        dvc_ops.dvc(work, "config", "--local", "cache.dir", str(cache))
        log.info("isolated run in %s (DVC cache %s)", work.root, cache)
        yield work
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace(src: Path, dst: Path) -> None:
    """Put src (file or folder) at dst; a folder is swapped in with two renames."""
    if src.is_file():
        write_bytes(dst, src.read_bytes())  # atomic (temp file + rename)
        shutil.copystat(src, dst)
        return
    incoming, old = dst.with_name(dst.name + ".incoming"), dst.with_name(dst.name + ".old")
    shutil.rmtree(incoming, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(src, incoming, symlinks=True)
    if dst.exists():
        dst.rename(old)
    incoming.rename(dst)
    shutil.rmtree(old, ignore_errors=True)


def bring_in(work: Paths, project: Paths, stages: list[str]) -> list[str]:
    """Copy the outputs of `stages` that differ, then dvc.lock, from the copy into the project."""
    changed = []
    for stage in stages:
        for rel in fingerprint.output_paths(work, stage):
            src, dst = work.root / rel, project.root / rel
            if src.exists() and fingerprint.path_digest(src) != fingerprint.path_digest(dst):
                dst.parent.mkdir(parents=True, exist_ok=True)
                _replace(src, dst)
                changed.append(rel)
    _replace(work.root / "dvc.lock", project.root / "dvc.lock")
    log.info("brought %d changed outputs and dvc.lock into %s", len(changed), project.root)
    return changed


def bring_experiment_home(work: Paths, project: Paths) -> None:
    """Fetch the DVC experiment refs saved in the copy into the project's git repository."""
    dvc_ops.git(project, "fetch", "--quiet", str(work.root), "+refs/exps/*:refs/exps/*")
