"""bench/pairs.py, the back-to-back timing of two commits that issue 13's wall-time goal is measured with:
its arithmetic, its alternation (a cheap command stands in for the 4-minute pipeline), and its errors."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import pytest

from oekaki.core.paths import PROJECT_ROOT

_spec = importlib.util.spec_from_file_location("bench_pairs", PROJECT_ROOT / "bench" / "pairs.py")
pairs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pairs)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bench/pairs.py", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_the_summary_gives_each_pairs_ratio_and_their_mean_and_spread():
    lines = pairs.summary([(110.0, 100.0), (90.0, 100.0), (105.0, 100.0)])
    assert lines[2] == "| 1 | commit | 110.0 s | 100.0 s | 1.100x |"
    assert lines[3] == "| 2 | ref | 90.0 s | 100.0 s | 0.900x |"  # the second pair runs the reference first
    assert lines[-1] == "ratio commit / ref: mean 1.017x, range 0.900-1.100x, standard deviation 0.104"
    assert pairs.summary([(50.0, 100.0)])[-1] == "ratio commit / ref: mean 0.500x, range 0.500-0.500x"


def test_each_run_is_a_fresh_clone_with_the_venv_linked_and_the_pairs_alternate(tmp_path):
    # The command fails unless it runs at the top of a clone of the commit with this checkout's venv linked in.
    check = 'test "$(git rev-parse HEAD)" = "$(git -C ' + str(PROJECT_ROOT) + ' rev-parse HEAD)" && test -x .venv/bin/python'
    done = run("--ref", "HEAD", "--pairs", "3", "--command", check, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    order = re.findall(r"pair (\d): (commit|ref) [0-9a-f]{7} ([\d.]+) s", done.stdout)
    assert [o[:2] for o in order] == [("1", "commit"), ("1", "ref"), ("2", "ref"), ("2", "commit"), ("3", "commit"), ("3", "ref")]
    assert re.search(r"ratio commit / ref: mean [\d.]+x, range [\d.]+-[\d.]+x, standard deviation [\d.]+", done.stdout), done.stdout
    # the figures go to a file named by the commit measured and its reference, and agree with what was printed
    head = pairs.resolve("HEAD")
    record = json.loads((tmp_path / f"pairs-vs-{head[:7]}-{head[:7]}.json").read_text())
    assert (record["commit"], record["dirty"], record["figures"]["ref"]) == (head, False, head)
    assert [p["first"] for p in record["figures"]["pairs"]] == ["commit", "ref", "commit"]
    printed = {(pair, name): float(s) for pair, name, s in order}
    for i, p in enumerate(record["figures"]["pairs"]):
        assert f"{p['commit_s']:.1f}" == f"{printed[(str(i + 1), 'commit')]:.1f}" and p["ratio"] == p["commit_s"] / p["ref_s"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ref", "no-such-commit"], "'no-such-commit' is not a commit"),
        (["--ref", "HEAD", "--pairs", "0"], "--pairs must be at least 1, got 0"),
        (["--ref", "HEAD", "--pairs", "1", "--command", "exit 3"], "`exit 3` failed in a clone of"),
    ],
)
def test_bad_arguments_and_a_failing_run_stop_with_a_message(args, message):
    done = run(*args)
    assert done.returncode != 0 and message in done.stderr, done.stderr
