"""The pipeline against a reference commit, back to back on this machine: wall times in alternating pairs.

    .venv/bin/python bench/pairs.py --ref 6d31aa9                 (HEAD against the landed main, 2 pairs)
    .venv/bin/python bench/pairs.py --ref 6d31aa9 --commit abc1234 --pairs 3

Issue 13's wall-time goal ("four painters in no more wall time than the landed main's three")
compares two commits on one machine in one session; machines of this kind differ by up to 2x
from one session to the next, and one machine drifts by several per cent within an hour. Each run
is what `make run` does after its installs: a fresh clone of the commit in a temporary folder
(this checkout's .venv linked in, so no install is timed) and `python -m oekaki check-config &&
python -m oekaki repro` on the defaults, timed by the clock. Successive pairs swap which commit
runs first, so a drift weighs on both. Prints every run, each pair's ratio (commit / ref), their
mean and spread, the breakdown of the commit's last run (bench/breakdown.py --here), and after each run the
median of three no-op `python -m oekaki repro` (the idle cost: nothing new, every stage cached). Nothing
else may run meanwhile: a pair takes about 8 minutes on 2 cores. Writes its figures (every run,
the ratios, the commit's breakdown) to bench/results/pairs-<commit>.json (bench/common.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS_ENV, add_results_arguments, write_results  # noqa: E402


def resolve(commit: str) -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bench/pairs.py: {commit!r} is not a commit of {ROOT} ({out.stderr.strip()})")
    return out.stdout.strip()


def clone(commit: str, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", commit], check=True)
    (dest / ".venv").symlink_to(VENV)
    return dest


def user_env() -> dict[str, str]:
    """A user's shell: the venv first on PATH, the project's own MLflow store (no MLFLOW_TRACKING_URI), no telemetry."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "OEKAKI_PIPELINE_RUN_ID")}
    env.update(PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}", DVC_NO_ANALYTICS="1", MLFLOW_DISABLE_TELEMETRY="true")
    return env


PIPELINE = "python -m oekaki check-config && python -m oekaki repro"


def timed_run(
    commit: str, dest: Path, command: str, env: dict[str, str] | None = None, prepare: Callable[[Path], None] | None = None
) -> float:
    """Seconds of `command` (bash) in a fresh clone of `commit` at `dest`, in a user's shell plus `env`.

    `prepare(clone)` runs first, untimed (e.g. params overrides written into the clone).
    """
    repo = clone(commit, dest)
    if prepare is not None:
        prepare(repo)
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", "-c", command], cwd=repo, env={**user_env(), **(env or {})}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SystemExit(f"bench/pairs.py: `{command}` failed in a clone of {commit[:7]} (exit {proc.returncode}):\n{tail}")
    return wall


def noop_seconds(repo: Path, runs: int = 3) -> float:
    """The median wall time of `runs` no-op `python -m oekaki repro` in `repo` after its full run (nothing new to do)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "oekaki", "repro"], cwd=repo, env=user_env(), capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def runs_first(pair: int) -> str:
    """Which commit opens pair `pair` (0-based): successive pairs swap, so a drifting machine weighs on both."""
    return "commit" if pair % 2 == 0 else "ref"


def summary(walls: list[tuple[float, float]]) -> list[str]:
    """Markdown lines for [(commit seconds, ref seconds), ...]: each pair's ratio, then their mean and spread."""
    ratios = [c / r for c, r in walls]
    lines = ["| pair | first | commit | ref | ratio |", "|---|---|---|---|---|"]
    for i, ((c, r), q) in enumerate(zip(walls, ratios, strict=True)):
        lines.append(f"| {i + 1} | {runs_first(i)} | {c:.1f} s | {r:.1f} s | {q:.3f}x |")
    spread = f", standard deviation {statistics.stdev(ratios):.3f}" if len(ratios) > 1 else ""
    lines += ["", f"ratio commit / ref: mean {statistics.fmean(ratios):.3f}x, range {min(ratios):.3f}-{max(ratios):.3f}x{spread}"]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="the reference commit (the landed main)")
    parser.add_argument("--commit", default="HEAD", help="the commit to time against it (default HEAD)")
    parser.add_argument("--pairs", type=int, default=2, help="alternating pairs to run (default 2)")
    parser.add_argument("--keep-metrics", type=Path, help="copy the commit's last run's metrics/ folder here (its measured numbers)")
    parser.add_argument("--command", default=PIPELINE, help="what is timed in each clone (default: the pipeline, as above)")
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    if args.pairs < 1:
        raise SystemExit(f"bench/pairs.py: --pairs must be at least 1, got {args.pairs}")
    commit, ref = resolve(args.commit), resolve(args.ref)
    print(f"# {commit[:7]} against {ref[:7]}, {dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} CPUs", flush=True)
    walls, breakdown, breakdown_figures = [], [], None
    noop: dict[str, list[float]] = {"commit": [], "ref": []}
    with tempfile.TemporaryDirectory(prefix="oekaki-pairs-") as tmp:
        for i in range(args.pairs):
            shas, first = {"commit": commit, "ref": ref}, runs_first(i)
            pair = {}
            for name in (first, "ref" if first == "commit" else "commit"):
                sha = shas[name]
                dest = Path(tmp) / f"{name}-{i}"
                pair[name] = timed_run(sha, dest, args.command)
                print(f"{dt.datetime.now():%H:%M:%S} pair {i + 1}: {name} {sha[:7]} {pair[name]:.1f} s", flush=True)
                if name == "commit" and args.command == PIPELINE and (dest / "bench" / "breakdown.py").is_file():
                    found = Path(tmp) / "breakdown"  # the clone's breakdown writes its results file here (if it writes one)
                    out = subprocess.run(
                        [sys.executable, "bench/breakdown.py", "--here", "--wall", f"{pair[name]:.2f}"],
                        cwd=dest, env={**user_env(), RESULTS_ENV: str(found)}, capture_output=True, text=True,
                    )  # fmt: skip
                    ok = out.returncode == 0
                    breakdown = (
                        [line for line in out.stdout.splitlines() if not line.startswith("results: ")]
                        if ok
                        else [f"(breakdown failed: {out.stderr.strip()[-500:]})"]
                    )
                    files = sorted(found.glob("breakdown-*.json")) if ok else []
                    breakdown_figures = json.loads(files[-1].read_text())["figures"] if files else None
                    shutil.rmtree(found, ignore_errors=True)
                if args.command == PIPELINE:  # the idle cost: what a run that finds everything cached takes, median of 3
                    noop[name].append(noop_seconds(dest))
                    print(f"{dt.datetime.now():%H:%M:%S} pair {i + 1}: {name} no-op repro {noop[name][-1]:.2f} s", flush=True)
                if name == "commit" and args.keep_metrics:
                    shutil.copytree(dest / "metrics", args.keep_metrics, dirs_exist_ok=True)
                shutil.rmtree(dest)
            walls.append((pair["commit"], pair["ref"]))
    print("\n".join(["", *summary(walls), "", f"The commit's last run, {commit[:7]}:", *breakdown]))
    if noop["commit"]:
        c, r = statistics.fmean(noop["commit"]), statistics.fmean(noop["ref"])
        print(f"no-op repro (median of 3 per run): commit {c:.2f} s, ref {r:.2f} s")
    ratios = [c / r for c, r in walls]
    figures = {
        "commit": commit,
        "ref": ref,
        "pairs": [{"first": runs_first(i), "commit_s": c, "ref_s": r, "ratio": c / r} for i, (c, r) in enumerate(walls)],
        "ratio_mean": statistics.fmean(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratio_stdev": statistics.stdev(ratios) if len(ratios) > 1 else None,
        "breakdown": breakdown_figures,
        "noop_s": noop,  # per pair: the median of three no-op `python -m oekaki repro` after the full run
    }
    args.tag = args.tag or f"vs-{ref[:7]}"  # one file per (commit, reference)
    write_results("pairs", args, figures, commit=commit)


if __name__ == "__main__":
    main()
