"""The DVC operations the Prefect flow needs to keep `dvc.lock` in step with what it ran."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from typing import Any

from oekaki.core.paths import Paths

log = logging.getLogger("oekaki.dvc")


class DvcError(RuntimeError):
    pass


def dvc(paths: Paths, *args: str) -> str:
    """Run the DVC CLI of this interpreter in the project; raise with its output on failure."""
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=paths.root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DvcError(f"`dvc {' '.join(args)}` failed in {paths.root}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def hydra_override(key: str, value: Any) -> str:
    """`key=value` in the override grammar `dvc exp run -S` uses (Hydra's)."""
    import json

    if isinstance(value, str):
        text = value if re.fullmatch(r"[A-Za-z0-9_./~+-]+", value) else "'" + value.replace("'", "\\'") + "'"
    else:
        text = json.dumps(value)
    return f"{key}={text}"


def apply_overrides(paths: Paths, overrides: list[str]) -> None:
    """Write the overrides into params.yaml exactly as `dvc exp run -S` does (comments kept)."""
    from dvc.utils.hydra import apply_overrides as dvc_apply

    dvc_apply(paths.params, overrides)


def stage_up_to_date(paths: Paths, stage: str) -> bool:
    """True when dvc.lock records this stage with its current deps, params and outputs."""
    import contextlib

    from dvc.repo import Repo

    # DVC resolves stage outputs against the working directory, not the Repo's root: an
    # isolated run copy must be the cwd while it is asked (the flow asks between its tasks).
    with contextlib.chdir(paths.root), Repo(str(paths.root)) as repo:
        return repo.status(targets=[stage]) == {}


def commit(paths: Paths, stages: list[str]) -> None:
    """Record the outputs the flow produced in dvc.lock (and the DVC cache)."""
    dvc(paths, "commit", "--force", "--quiet", *stages)


def save_experiment(paths: Paths, name: str, message: str) -> None:
    """Record the current workspace (overridden params, dvc.lock, metrics) as a DVC experiment."""
    dvc(paths, "exp", "save", "--force", "--name", name, "--message", message)


def git(paths: Paths, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=paths.root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DvcError(f"`git {' '.join(args)}` failed in {paths.root}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def cache_dir(paths: Paths) -> str:
    """The project's DVC cache folder (absolute), shared with isolated run copies."""
    return dvc(paths, "cache", "dir").strip()


def push_if_remote(paths: Paths) -> bool:
    """`dvc push` to the default remote (.dvc/config names one: docs/pipeline.md); False when a checkout removed it.

    A push that fails (a remote folder that cannot be written, a server down) is logged, not raised:
    the run's outputs are in the workspace and the local DVC cache already, and `dvc push` later
    sends them; a finished run is not undone for a copy it could not make.
    """
    if not dvc(paths, "remote", "list").strip():
        return False
    try:
        dvc(paths, "push", "--quiet")
    except DvcError as exc:
        log.warning("dvc push failed, the outputs stay in the local cache until `dvc push` succeeds: %s", exc)
        return False
    return True
