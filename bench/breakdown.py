"""Where the pipeline's wall time goes: per stage and phase, and the share outside the real work.

    .venv/bin/python bench/breakdown.py            (a from-scratch `dvc repro` in a temporary copy)
    .venv/bin/python bench/breakdown.py --here     (read this workspace's last run; pass --wall SECONDS)
    .venv/bin/python bench/breakdown.py --here --root DIR --wall SECONDS   (another project folder's last run)

"Work" is the stages' optimiser steps and final sampling (oekaki/core/timing.py WORK_PHASES);
everything else is overhead: process start-up and imports, per-epoch evaluation and grids,
MLflow logging and model export, figures, scoring, re-scoring, and DVC between the stages.
Single runs on a shared machine: compare ratios measured in one session. Writes its figures to
bench/results/breakdown-<commit>.json (bench/common.py; with --here, the commit of the folder read).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import add_results_arguments, write_results  # noqa: E402
from oekaki.core.paths import Paths, project_paths  # noqa: E402
from oekaki.core.timing import WORK_PHASES  # noqa: E402
from oekaki.pipeline.runner import CHECK_STAGES, stage_names  # noqa: E402
from tests.conftest import VENV_BIN, copy_project, tool_env  # noqa: E402


def run_pipeline(tmp: Path) -> tuple[Paths, float]:
    paths = copy_project(tmp / "repo")
    env = tool_env(tmp)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [f"{VENV_BIN}/python", "-m", "oekaki", "repro", "--force"], cwd=paths.root, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stdout + proc.stderr)
    return paths, wall


UNCLAIMED = "in the stage, outside any phase"


def breakdown(paths: Paths, wall: float) -> dict:
    """Seconds per stage and phase from each stage's provenance; what no stage accounts for is DVC's, between processes."""
    stages, totals = {}, defaultdict(float)
    accounted = 0.0
    for stage in stage_names(paths):
        if stage in CHECK_STAGES or not paths.provenance(stage).is_file():
            continue
        rec = json.loads(paths.provenance(stage).read_text())
        phases = {"process start-up": rec["started_unix"] - rec["process_started_unix"], **rec["phases"]}
        # the stage's own seconds that no timing phase claims (git state, writing outputs, provenance)
        phases[UNCLAIMED] = rec["phases_total_seconds"] - sum(rec["phases"].values())
        accounted += phases["process start-up"] + rec["phases_total_seconds"]
        for k, v in phases.items():
            totals[k] += v
        stages[stage] = {"seconds": sum(phases.values()), "work": sum(phases.get(p, 0.0) for p in WORK_PHASES), "phases": phases}
    totals["dvc and stages' source check (between processes)"] = wall - accounted
    work = sum(totals.get(p, 0.0) for p in WORK_PHASES)
    return {"wall": wall, "work": work, "outside_work": wall - work, "stages": stages, "phases": dict(totals)}


def table(figures: dict) -> list[str]:
    """The breakdown as Markdown: per stage, then per phase over all stages."""
    wall, work = figures["wall"], figures["work"]
    out = [
        f"# oekaki time breakdown, {dt.date.today()}, {platform.node()}, {os.cpu_count()} CPUs",
        f"pipeline wall {wall:.1f} s; work (optimiser steps + final sampling) {work:.1f} s; "
        f"outside the work {wall - work:.1f} s = {100 * (wall - work) / wall:.1f} % of the wall time",
        "",
        "| stage | seconds | work | phases (s) |",
        "|---|---|---|---|",
    ]
    for stage, s in figures["stages"].items():
        parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(s["phases"].items(), key=lambda kv: -kv[1]) if v >= 0.05)
        out.append(f"| {stage} | {s['seconds']:.1f} | {s['work']:.1f} | {parts} |")
    out += ["", "| phase, all stages | seconds | share of wall |", "|---|---|---|"]
    out += [f"| {k} | {v:.1f} | {100 * v / wall:.1f} % |" for k, v in sorted(figures["phases"].items(), key=lambda kv: -kv[1])]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--here", action="store_true", help="read a workspace's provenance instead of running")
    parser.add_argument("--wall", type=float, help="with --here: the measured wall time of that run, in seconds")
    parser.add_argument("--root", type=Path, default=ROOT, help="with --here: the project folder that ran (default: this checkout)")
    add_results_arguments(parser)
    args = parser.parse_args()
    if args.here:
        if args.wall is None:
            raise SystemExit("--here needs --wall SECONDS (e.g. from `time make run`)")
        figures = breakdown(project_paths(args.root), args.wall)
        print("\n".join(table(figures)))
        write_results("breakdown", args, figures, root=args.root)
        return
    with tempfile.TemporaryDirectory(prefix="oekaki-breakdown-") as tmp:
        paths, wall = run_pipeline(Path(tmp))
        figures = breakdown(paths, wall)
    print("\n".join(table(figures)))
    write_results("breakdown", args, figures)


if __name__ == "__main__":
    main()
