"""`make clean` removes what a run generates and git ignores, never a committed file (issue 35)."""

from __future__ import annotations

import subprocess

from tests.conftest import copy_project

# What a run writes that git ignores (one per kind of place), relative to the project folder
GENERATED = [
    "data/prepared.npz",
    "data/raw/train-images-idx3-ubyte.gz",
    "models/cnn/model.pt",
    "models/gan/checkpoints/last.pt",
    "models/promote/decision.json",
    "reports/index.html",
    "reports/figures/gmm/contest.png",
    "metrics/provenance/cnn.json",
    ".oekaki/pipeline-run.json",
]


def test_make_clean_removes_generated_files_and_keeps_committed_ones(tmp_path):
    paths = copy_project(tmp_path / "repo")
    for rel in GENERATED:
        (paths.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (paths.root / rel).write_bytes(b"generated")
    store = paths.root / "mlflow.db"
    store.write_bytes(b"store")
    contributed = paths.root / "data" / "contributions" / "store.sqlite"  # people's digits: never a run's output
    contributed.parent.mkdir(parents=True, exist_ok=True)
    contributed.write_bytes(b"precious")
    tracked = subprocess.run(["git", "ls-files", "metrics", "data", "reports", "models"], cwd=paths.root, capture_output=True, text=True)
    assert "metrics/cnn.json" in tracked.stdout.split() and "data/source.json" in tracked.stdout.split()

    proc = subprocess.run(["make", "clean"], cwd=paths.root, input="n\n", capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = subprocess.run(["git", "status", "--porcelain"], cwd=paths.root, capture_output=True, text=True, check=True).stdout
    assert status == "", f"make clean changed tracked files:\n{status}"
    assert [rel for rel in GENERATED if (paths.root / rel).exists()] == []
    assert store.read_bytes() == b"store"  # answered "n": the MLflow store stays
    assert contributed.read_bytes() == b"precious"
