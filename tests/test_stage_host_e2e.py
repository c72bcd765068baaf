"""`make run`'s stage host changes where the stages run, never what they compute: the whole tiny
pipeline through `python -m oekaki repro` (every stage but `source` a fork of the host) writes the same
numbers as through a bare `dvc repro` (every stage its own process)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from oekaki.core.contract import flat_metrics, is_number
from oekaki.pipeline import fingerprint
from tests.conftest import VENV_BIN, tiny_project, tool_env

pytestmark = pytest.mark.slow  # two tiny pipelines end to end (make test-slow, CI's second step)

# wall-clock measures differ from run to run by nature, and so do the report pages' sizes (they print
# the timings, run ids and build time)
TIMING = re.compile(r"second|per_1000|time|bytes")


def numbers(paths) -> dict[str, float]:
    out = {}
    for stage in fingerprint.stage_names(paths):
        path = paths.metrics(stage)
        if path.is_file():
            flat = flat_metrics(json.loads(path.read_text()))
            out |= {f"{stage}:{k}": v for k, v in flat.items() if is_number(v) and not TIMING.search(k)}
    return out


def test_the_stage_host_computes_what_separate_processes_compute(tmp_path):
    runs = {}
    for how, cmd in (("dvc", ["dvc", "repro"]), ("host", [f"{VENV_BIN}/python", "-m", "oekaki", "repro"])):
        paths = tiny_project(tmp_path / how)
        proc = subprocess.run(cmd, cwd=paths.root, env=tool_env(tmp_path / how), capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        served = set(re.findall(r"stage host: pid \d+ runs python -m oekaki stage (\w+)", proc.stderr))
        expected = (
            set(fingerprint.stage_names(paths)) - {"source", "contributions"} if how == "host" else set()
        )  # the checks run in their own process
        assert served == expected, (how, served)
        runs[how] = numbers(paths)
    assert len(runs["dvc"]) > 100
    assert runs["host"] == runs["dvc"]
