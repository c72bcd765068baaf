"""Pipeline overhead on this machine: start-up per stage, time outside the stages' work,
no-op `dvc repro`, and the Prefect flow against a running server. Prints a table.

    .venv/bin/python bench/overhead.py          (or `make bench`)
    .venv/bin/python bench/overhead.py --set cnn.epochs=1   (params overrides in the copy)

Runs in a temporary copy of the repository with its own MLflow store and Prefect server,
on the defaults in params.yaml (the bundled sample offline). Figures are single runs on a
shared machine: read them as orders of magnitude, and compare ratios within one run. Writes its
figures to bench/results/overhead-<commit>.json (bench/common.py).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_results_arguments, set_params, write_results  # noqa: E402
from oekaki.pipeline.runner import CHECK_STAGES, stage_names  # noqa: E402
from oekaki.pipeline.servers import PrefectServer  # noqa: E402
from tests.conftest import VENV_BIN, copy_project, tool_env  # noqa: E402

GOALS = {
    "stage start-up (max)": 5.0,
    "time outside stages' work": 30.0,
    "dvc repro, nothing changed": 3.0,
    "flow vs running server, nothing changed": 10.0,
}


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return wall, proc.stdout + proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params override in the copy, e.g. cnn.epochs=1")
    add_results_arguments(parser)
    args = parser.parse_args()
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="oekaki-bench-") as tmp:
        tmp = Path(tmp)
        paths = copy_project(tmp / "repo")
        set_params(paths.params, args.set)
        env = tool_env(tmp)
        pipeline = stage_names(paths)

        # Each stage as its own process, as `dvc repro` runs it: launch -> start of its work.
        stage_startup, work = {}, 0.0
        for stage in pipeline:
            launched = time.time()
            wall, _ = timed([f"{VENV_BIN}/python", "-m", "oekaki", "stage", stage], paths.root, env)
            if stage in CHECK_STAGES:  # source, contributions: checks with no provenance record
                rows.append((f"stage {stage} (a check on every repro), whole process", wall, "s"))
                continue
            rec = json.loads(paths.provenance(stage).read_text())
            stage_startup[stage] = rec["started_unix"] - launched
            work += rec["seconds"]
            rows.append(
                (f"stage {stage}: start-up / own work / whole process", stage_startup[stage], f"s / {rec['seconds']:.1f} s / {wall:.1f} s")
            )
        rows.append(("stage start-up (max)", max(stage_startup.values()), "s"))

        # A full dvc repro from scratch: everything but the stages' own work is overhead.
        subprocess.run(
            [
                "rm",
                "-rf",
                "data/raw",
                "data/prepared.npz",
                "data/gmm",
                "models",
                "reports/figures",
                "reports/index.html",
                "reports/index.ja.html",
            ],
            cwd=paths.root,
        )
        wall, _ = timed(["dvc", "repro", "--force"], paths.root, env)
        work = sum(json.loads(paths.provenance(s).read_text())["seconds"] for s in pipeline if s not in CHECK_STAGES)
        rows.append(("dvc repro from scratch (wall)", wall, "s"))
        rows.append(("time outside stages' work", wall - work, "s"))
        wall, _ = timed(["dvc", "repro"], paths.root, env)
        rows.append(("dvc repro, nothing changed", wall, "s"))

        # The flow against a running Prefect server (one seeding run, then the measured one).
        server = PrefectServer(tmp / "prefect-server", env)
        try:
            t0 = time.perf_counter()
            api = server.wait_healthy()
            rows.append(("prefect server start (to healthy)", time.perf_counter() - t0, "s"))
            fenv = {**env, "PREFECT_API_URL": api}
            wall, _ = timed([f"{VENV_BIN}/python", "-m", "flows.pipeline"], paths.root, fenv)
            rows.append(("flow vs running server, first run after repro", wall, "s"))
            wall, out = timed([f"{VENV_BIN}/python", "-m", "flows.pipeline"], paths.root, fenv)
            rows.append(("flow vs running server, nothing changed", wall, "s"))
            assert ", ".join(f"{s}=Cached" for s in pipeline if s not in CHECK_STAGES) in out, out  # the checks always run
        finally:
            server.stop()
        fenv = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
        wall, _ = timed([f"{VENV_BIN}/python", "-m", "flows.pipeline"], paths.root, fenv)
        rows.append(("flow with a temporary server, nothing changed", wall, "s"))

    print(f"# oekaki overhead benchmark, {dt.date.today()}, {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'measure':55s} {'value':>8s}  unit        goal")
    for name, value, unit in rows:
        goal = f"<= {GOALS[name]:g} s" + ("  ok" if value <= GOALS[name] else "  MISSED") if name in GOALS else ""
        print(f"{name:55s} {value:8.2f}  {unit:11s} {goal}")
    figures = {name: {"value": value, "unit": unit.strip(), "goal_s": GOALS.get(name)} for name, value, unit in rows}
    write_results("overhead", args, figures)


if __name__ == "__main__":
    main()
