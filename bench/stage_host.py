"""What the stage host saves: `python -m oekaki repro` with the host and without it, back to back in fresh clones.

    .venv/bin/python bench/stage_host.py                      (HEAD, the defaults, 2 alternating pairs: about 16 min)
    .venv/bin/python bench/stage_host.py --pairs 3 --commit abc1234
    .venv/bin/python bench/stage_host.py --set cnn.epochs=1 --target cnn   (params overrides, only cnn and what it needs)

`python -m oekaki repro` starts the stage host (oekaki/pipeline/stage_host.py): one process that
imports the libraries once, and runs every dvc stage's command as a fork of itself. This measures
what that saves on the current pipeline. Each run is what `make run` does after its installs, in a
fresh clone of the commit (bench/pairs.py's clone, this checkout's venv linked in, so no install
is timed): `python -m oekaki check-config && python -m oekaki repro --force [targets]`, timed by
the clock. "Without" is the same command with OEKAKI_NO_STAGE_HOST=1, which is the only
difference: every stage then starts its own Python, as under a bare `dvc repro`. Successive pairs
swap which runs first, so a drifting machine weighs on both. Prints every run, each pair's saving
(seconds without minus seconds with), their mean, and per stage the start-up and imports each way
(from the clones' provenance: the part of a stage's time the host exists to save). Writes its
figures to bench/results/stage_host-<commit>.json (bench/common.py). Nothing else may run
meanwhile: on the defaults a pair takes about 8 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_results_arguments, set_params, write_results  # noqa: E402
from bench.pairs import resolve, runs_first, timed_run  # noqa: E402
from oekaki.core.paths import Paths  # noqa: E402
from oekaki.pipeline.runner import stage_names  # noqa: E402
from oekaki.pipeline.stage_host import OFF_ENV  # noqa: E402

MODES = {"with": {}, "without": {OFF_ENV: "1"}}


def startup_and_imports(root: Path) -> dict[str, float]:
    """Per stage that ran in the clone at `root`: seconds from its command's start to its work, imports included."""
    paths, out = Paths(root), {}
    for stage in stage_names(paths):  # the check stages keep no provenance record
        if paths.provenance(stage).is_file():
            rec = json.loads(paths.provenance(stage).read_text())
            out[stage] = rec["started_unix"] - rec["process_started_unix"] + rec["phases"].get("imports", 0.0)
    return out


def other(mode: str) -> str:
    return "without" if mode == "with" else "with"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default="HEAD", help="the commit to measure (default HEAD)")
    parser.add_argument("--pairs", type=int, default=2, help="alternating pairs to run (default 2)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params override in each clone")
    parser.add_argument("--target", action="append", default=[], help="a dvc stage to reproduce (with what it needs); default all")
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    if args.pairs < 1:
        raise SystemExit(f"bench/stage_host.py: --pairs must be at least 1, got {args.pairs}")
    commit = resolve(args.commit)
    command = "python -m oekaki check-config && python -m oekaki repro --force" + "".join(f" {t}" for t in args.target)
    print(f"# the stage host at {commit[:7]}, {dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} CPUs", flush=True)
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="oekaki-stage-host-") as tmp:
        for i in range(args.pairs):
            first = "with" if runs_first(i) == "commit" else "without"
            pair = {"first": first}
            for mode in (first, other(first)):
                dest = Path(tmp) / f"{mode}-{i}"
                # the clone's own check-config validates the overrides: its commit's rules, not this checkout's
                prepare = lambda repo: set_params(repo / "params.yaml", args.set, validate=False)  # noqa: E731
                wall = timed_run(commit, dest, command, env=MODES[mode], prepare=prepare)
                pair[f"{mode}_s"], pair[f"{mode}_startup_s"] = wall, startup_and_imports(dest)
                print(f"{dt.datetime.now():%H:%M:%S} pair {i + 1}: {mode} the host {wall:.1f} s", flush=True)
                shutil.rmtree(dest)
            pair["saved_s"] = pair["without_s"] - pair["with_s"]
            runs.append(pair)
    saved = [p["saved_s"] for p in runs]
    lines = ["", "| pair | first | with the host | without | saved |", "|---|---|---|---|---|"]
    for i, p in enumerate(runs):
        lines.append(f"| {i + 1} | {p['first']} | {p['with_s']:.1f} s | {p['without_s']:.1f} s | {p['saved_s']:.1f} s |")
    spread = f", standard deviation {statistics.stdev(saved):.1f} s" if len(saved) > 1 else ""
    lines += ["", f"saved by the host: mean {statistics.fmean(saved):.1f} s, range {min(saved):.1f} to {max(saved):.1f} s{spread}"]
    last = runs[-1]
    lines += ["", "| stage (last pair) | start-up + imports, with | without |", "|---|---|---|"]
    both = [s for s in last["without_startup_s"] if s in last["with_startup_s"]]
    lines += [f"| {s} | {last['with_startup_s'][s]:.1f} s | {last['without_startup_s'][s]:.1f} s |" for s in both]
    print("\n".join(lines))
    figures = {
        "command": command,
        "pairs": runs,
        "saved_mean_s": statistics.fmean(saved),
        "saved_min_s": min(saved),
        "saved_max_s": max(saved),
        "saved_stdev_s": statistics.stdev(saved) if len(saved) > 1 else None,
    }
    write_results("stage_host", args, figures, commit=commit)


if __name__ == "__main__":
    main()
