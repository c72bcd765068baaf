"""The default DVC remote (.dvc/config): `dvc push` and `dvc pull` work on a fresh clone with no set-up,
and a checkout can point it elsewhere without touching the committed config (issue 35)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from oekaki.core.paths import Paths
from tests.conftest import copy_project, tool_env


def dvc(cwd: Path, tmp: Path, *args: str) -> str:
    proc = subprocess.run(["dvc", *args], cwd=cwd, env=tool_env(tmp), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"dvc {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def git(cwd: Path, tmp: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=tool_env(tmp), check=True, capture_output=True)


def stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


def tracked_clone(tmp: Path) -> Path:
    """A clone of the project holding one DVC-tracked file, committed (its content in the clone's DVC cache only)."""
    root = copy_project(tmp / "a").root
    (root / "data" / "extra.bin").write_bytes(b"digits" * 1000)
    dvc(root, tmp, "add", "--quiet", "data/extra.bin")
    git(root, tmp, "add", "data/extra.bin.dvc", "data/.gitignore")
    git(root, tmp, "commit", "-qm", "track a file")
    return root


def test_push_and_pull_work_on_a_fresh_clone_with_the_default_remote(tmp_path):
    first = tracked_clone(tmp_path)
    sibling = tmp_path / "oekaki-dvc-remote"  # the default: a folder beside the checkout (here inside tmp_path)

    dvc(first, tmp_path, "push", "data/extra.bin.dvc")

    assert stored_files(sibling), "dvc push stored nothing in the default remote beside the checkout"
    second = tmp_path / "b"
    git(tmp_path, tmp_path, "clone", "-q", str(first), str(second))
    assert not (second / "data" / "extra.bin").exists()
    dvc(second, tmp_path, "pull", "data/extra.bin.dvc")  # the pipeline outputs dvc.lock names were never pushed here
    assert (second / "data" / "extra.bin").read_bytes() == b"digits" * 1000


def test_the_remote_is_overridden_per_checkout_and_the_committed_config_stays(tmp_path):
    first = tracked_clone(tmp_path)
    elsewhere = tmp_path / "backup" / "dvc"
    committed = (first / ".dvc" / "config").read_text()

    dvc(first, tmp_path, "remote", "modify", "--local", "local-store", "url", str(elsewhere))
    dvc(first, tmp_path, "push", "data/extra.bin.dvc")

    assert stored_files(elsewhere) and not stored_files(tmp_path / "oekaki-dvc-remote")
    assert (first / ".dvc" / "config").read_text() == committed
    status = subprocess.run(["git", "status", "--porcelain"], cwd=first, capture_output=True, text=True, check=True).stdout
    assert status == ""  # .dvc/config.local is ignored by git


def test_a_push_that_fails_is_logged_and_the_run_goes_on(tmp_path, monkeypatch, caplog):
    """The flow pushes after a successful run: a remote that cannot be written warns, it does not undo the run."""
    from oekaki.pipeline import dvc_ops

    first = tracked_clone(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the remote folder should be")
    dvc(first, tmp_path, "remote", "modify", "--local", "local-store", "url", str(blocker / "dvc"))
    for key, value in tool_env(tmp_path).items():
        monkeypatch.setenv(key, value)

    with caplog.at_level("WARNING", logger="oekaki.dvc"):
        assert dvc_ops.push_if_remote(Paths(first)) is False
    assert "dvc push failed" in caplog.text and "dvc push" in caplog.text
