"""bench/overhead.py end to end on the e2e tests' tiny profile: every stage as its own process, a from-scratch
`dvc repro`, a no-op one and the flow against a real Prefect server; its figures go to the results file, under --out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from oekaki.core.paths import PROJECT_ROOT
from tests.conftest import E2E_TINY

pytestmark = pytest.mark.slow  # the tiny pipeline three times over, and a Prefect server


def tiny_sets() -> list[str]:
    """E2E_TINY as `--set section.key=value` arguments (values in YAML's flow style: lists stay lists)."""
    return [f"{section}.{key}={json.dumps(value)}" for section, keys in E2E_TINY.items() for key, value in keys.items()]


def test_the_overhead_benchmark_measures_every_stage_and_the_cached_runs(tmp_path):
    args = [arg for kv in tiny_sets() for arg in ("--set", kv)]
    done = subprocess.run(
        [sys.executable, "bench/overhead.py", *args, "--out", str(tmp_path)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1500
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (written,) = tmp_path.glob("overhead-*.json")
    record = json.loads(written.read_text())
    figures = record["figures"]
    for name in (
        "stage start-up (max)",
        "time outside stages' work",
        "dvc repro, nothing changed",
        "flow vs running server, nothing changed",
    ):
        assert figures[name]["value"] > 0 and figures[name]["goal_s"] is not None and name in done.stdout
    assert figures["dvc repro from scratch (wall)"]["value"] > figures["time outside stages' work"]["value"]
    assert record["args"]["set"] == tiny_sets() and record["commit"][:7] in written.name
