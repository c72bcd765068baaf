"""bench/breakdown.py --here on the tiny pipeline's workspace: every stage that ran is listed, and the seconds add up."""

from __future__ import annotations

import json
import subprocess
import sys

from oekaki.core.paths import PROJECT_ROOT
from oekaki.pipeline.runner import CHECK_STAGES, stage_names


def test_the_breakdown_lists_every_stage_and_what_no_stage_accounts_for_is_dvcs(tiny_pipeline, tmp_path):
    paths, _, _ = tiny_pipeline
    done = subprocess.run(
        [sys.executable, "bench/breakdown.py", "--here", "--root", str(paths.root), "--wall", "5000", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (written,) = tmp_path.glob("breakdown-*.json")
    record = json.loads(written.read_text())
    figures = record["figures"]
    assert sorted(figures["stages"]) == sorted(s for s in stage_names(paths) if s not in CHECK_STAGES)  # every stage but the checks ran
    for stage, s in figures["stages"].items():
        assert abs(s["seconds"] - sum(s["phases"].values())) < 1e-6 and f"| {stage} | {s['seconds']:.1f} |" in done.stdout
    assert abs(sum(figures["phases"].values()) - figures["wall"]) < 1e-6  # every second of the wall is somewhere
    assert figures["outside_work"] == figures["wall"] - figures["work"] and figures["wall"] == 5000
    # --here reads another folder: the file is named by that folder's commit
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.root, capture_output=True, text=True).stdout.strip()
    assert record["commit"] == head and head[:7] in written.name


def test_here_without_the_wall_time_says_how_to_get_it():
    done = subprocess.run([sys.executable, "bench/breakdown.py", "--here"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "--here needs --wall SECONDS" in done.stderr
