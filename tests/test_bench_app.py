"""bench/app.py against the tiny pipeline's trained folder (passed as --root; the default is the checkout it runs
from): it starts the app, measures every endpoint, and writes the figures it printed to the results file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from oekaki.core.paths import PROJECT_ROOT


def test_the_app_benchmark_measures_every_available_endpoint_of_a_trained_folder(tiny_pipeline, tmp_path):
    paths, _, _ = tiny_pipeline
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}"}  # no registry: the DVC checkpoints
    done = subprocess.run(
        [sys.executable, "bench/app.py", "--root", str(paths.root), "--n", "6", "--samples", "2", "--out", str(tmp_path / "out")],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (written,) = (tmp_path / "out").glob("app-*.json")
    figures = json.loads(written.read_text())["figures"]
    endpoints = [e["endpoint"] for e in figures["endpoints"]]
    assert endpoints[:3] == ["POST /api/judge", "POST /api/vit", "POST /api/style"]  # the tiny pipeline trains the ViT too
    assert any(e.startswith("POST /api/paint ") for e in endpoints)
    for e in figures["endpoints"]:
        assert 0 < e["round_trip_median_ms"] <= e["round_trip_p95_ms"]
        assert f"| {e['endpoint']} | {e['round_trip_median_ms']:.1f} |" in done.stdout  # the file holds what was printed
    assert 0 <= figures["judge_agreement"] <= 1 and 0 <= figures["vit_agreement"] <= 1
    vit = next(e for e in figures["endpoints"] if e["endpoint"] == "POST /api/vit")
    assert vit["target_p95_ms"] == 100 and f"| POST /api/vit | {vit['round_trip_median_ms']:.1f} |" in done.stdout


def test_a_folder_without_a_trained_pipeline_is_named_with_the_fix(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/app.py", "--root", str(tmp_path), "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and str(tmp_path / "data" / "prepared.npz") in done.stderr and "run `make run`" in done.stderr
