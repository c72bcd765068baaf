"""bench/stage_host.py on tiny params: `repro` with and without the stage host in fresh clones, one pair, only the
cnn stage and what it needs; the figures file holds both runs and the saving computed from them."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from oekaki.core.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow  # two pipelines (source, download, cnn) in fresh clones

TINY = ("data.source=bundled", "data.limit=1500", "cnn.channels=[8,16]", "cnn.hidden=32", "cnn.epochs=1", "cnn.min_steps=0")


def test_the_stage_host_benchmark_times_repro_with_and_without_the_host_and_writes_the_saving(tmp_path):
    args = [arg for kv in TINY for arg in ("--set", kv)]
    done = subprocess.run(
        [sys.executable, "bench/stage_host.py", "--pairs", "1", "--target", "cnn", *args, "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert re.findall(r"pair 1: (with|without) the host [\d.]+ s", done.stdout) == ["with", "without"], done.stdout
    (written,) = tmp_path.glob("stage_host-*.json")
    record = json.loads(written.read_text())
    (pair,) = record["figures"]["pairs"]
    assert pair["saved_s"] == pair["without_s"] - pair["with_s"] == record["figures"]["saved_mean_s"]
    assert record["figures"]["command"].endswith("repro --force cnn") and record["args"]["set"] == list(TINY)
    for mode in ("with", "without"):  # each run's stages, read from its clone before it went
        assert "cnn" in pair[f"{mode}_startup_s"] and pair[f"{mode}_startup_s"]["cnn"] > 0


def test_no_pairs_is_refused_with_the_number():
    done = subprocess.run(
        [sys.executable, "bench/stage_host.py", "--pairs", "0"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "--pairs must be at least 1, got 0" in done.stderr
