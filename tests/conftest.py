"""Shared fixtures. Tests never touch the user's stores: MLflow, Prefect and DVC state live
in a temporary directory per test (or per module for the end-to-end run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from oekaki.paths import PROJECT_ROOT, Paths

VENV_BIN = str(Path(sys.executable).parent)


def copy_project(dest: Path) -> Paths:
    """A temporary copy of the repository's tracked and unignored files, as a fresh git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for rel in filter(None, (p.decode() for p in listed)):
        src = PROJECT_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return Paths(dest)


def shrink_params(paths: Paths, **sections: dict) -> None:
    """Edit the copy's real params.yaml (never a second hand-written config)."""
    raw = yaml.safe_load(paths.params.read_text())
    for section, values in sections.items():
        raw[section].update(values)
    paths.params.write_text(yaml.safe_dump(raw, sort_keys=False))


def tool_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "OEKAKI_PIPELINE_RUN_ID"):
        env.pop(key, None)
    env.update(
        PATH=VENV_BIN + os.pathsep + env.get("PATH", ""),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
        PREFECT_HOME=str(tmp / "prefect"),
        DVC_NO_ANALYTICS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    env.update(extra)
    return env


@pytest.fixture
def isolated_stores(tmp_path, monkeypatch):
    """MLflow store of this test only (for tests that call the runner in-process)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("OEKAKI_PIPELINE_RUN_ID", raising=False)
    return tmp_path
