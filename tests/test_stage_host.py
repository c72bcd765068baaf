"""The stage host of `python -m oekaki repro` (oekaki/pipeline/stage_host.py), through the real command line."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time

import pytest

from oekaki.core.paths import Paths
from oekaki.pipeline import stage_host
from oekaki.pipeline.lock import project_lock
from tests.conftest import VENV_BIN, copy_project, tool_env


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage-host")
    return copy_project(tmp / "repo"), tool_env(tmp)


@pytest.fixture(scope="module")
def host(project):
    """One host for the module (its imports take seconds); each test forks its own child, as each stage does."""
    paths, _ = project
    with stage_host.host(paths.root, wait_s=30) as env:
        assert env, "the stage host did not start"
        yield env


def stage(project, env_extra: dict, name: str, **kw):
    paths, env = project
    return subprocess.Popen(
        [f"{VENV_BIN}/python", "-m", "oekaki", "stage", name], cwd=paths.root, env={**env, **env_extra}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


def served_pid(stderr: str) -> int | None:
    found = re.search(r"stage host: pid (\d+) runs", stderr)
    return int(found.group(1)) if found else None


def test_a_stage_runs_in_the_host_with_the_commands_streams_and_exit_status(project, host):
    proc = stage(project, host, "gmm")  # no prepared data yet: the stage's own clear error, exit 2
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "data/prepared.npz is missing: stage 'gmm' needs the output of stage 'download'" in err
    assert served_pid(err) not in (None, proc.pid)  # a fork of the host did the work, not the command


def test_the_child_logs_like_a_process_of_its_own(project, host):
    """The CLI's INFO lines reach the command's stderr, though an import in the host configured the root logger."""
    paths, env = project
    paths.source_fingerprint.unlink(missing_ok=True)  # so that the source stage has something to say
    proc = subprocess.run(
        [f"{VENV_BIN}/python", "-c", "import sys; from oekaki.pipeline import stage_host as h; sys.exit(h.hand_off(['stage', 'source']))"],
        cwd=paths.root, env={**env, **host}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert served_pid(proc.stderr) is not None
    assert "oekaki.source INFO source fingerprint changed" in proc.stderr, proc.stderr  # a fresh copy: first fingerprint


def test_a_command_of_another_project_runs_itself(project, host, tmp_path):
    """The host imports the project's modules from its own folder: a command run elsewhere is not taken,
    whether it says so (OEKAKI_STAGE_HOST_ROOT) or not (the host's child checks the folder too)."""
    paths, env = project
    other = copy_project(tmp_path / "other")
    for extra in (host, {stage_host.ENV: host[stage_host.ENV], stage_host.ROOT_ENV: str(other.root)}):
        proc = subprocess.run(
            [f"{VENV_BIN}/python", "-m", "oekaki", "stage", "gmm"], cwd=other.root, env={**env, **extra}, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2 and "data/prepared.npz is missing" in proc.stderr
        assert served_pid(proc.stderr) is None


def test_without_a_host_the_command_runs_the_stage_itself(project, tmp_path):
    paths, _ = project
    proc = stage(project, {stage_host.ENV: str(tmp_path / "no-such.sock"), stage_host.ROOT_ENV: str(paths.root)}, "gmm")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "data/prepared.npz is missing" in err and served_pid(err) is None


def test_source_never_goes_to_the_host(project, host):
    proc = stage(project, host, "source")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert served_pid(err) is None


def test_the_stage_dies_with_its_command(project, host):
    """SIGKILL of the command DVC waits for (a resume drill, a killed `dvc repro`) ends the forked stage too."""
    paths, _ = project
    with project_lock(Paths(paths.root), "test holds the lock", 0):
        proc = stage(project, host, "gmm")  # waits for the project lock, in the host's child
        deadline, err = time.monotonic() + 60, ""
        while (pid := served_pid(err)) is None and time.monotonic() < deadline:
            if select.select([proc.stderr], [], [], 1.0)[0]:
                err += os.read(proc.stderr.fileno(), 4096).decode()
        assert pid is not None, err
        os.kill(pid, 0)  # alive, waiting
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie waits only for the host to reap it
    except FileNotFoundError:
        return False


def test_process_start_is_read_to_the_tick():
    """/proc's start time, not psutil's (whose boot time is whole seconds): this test process started before now."""
    import psutil

    started = stage_host.process_started_unix()
    assert started is not None and started <= time.time()
    assert abs(started - psutil.Process().create_time()) < 1.5


def _hosts() -> dict:
    import psutil

    return {p.pid: p for p in psutil.Process().children() if "stage-host" in " ".join(p.cmdline())}


def _new_host(before: dict):
    return next(p for pid, p in _hosts().items() if pid not in before)  # not the module's shared host


def _maps_torch(proc) -> bool:
    return any("libtorch_cpu" in m.path for m in proc.memory_maps())


def test_an_eager_host_imports_before_any_request_and_a_lazy_one_never_does(project):
    """`repro` with no prepared data (a stage will run) asks for an eager host: the imports overlap DVC's start."""
    paths, _ = project
    before = _hosts()
    with stage_host.host(paths.root, wait_s=30) as env:  # lazy: without a request it imports nothing
        assert env
        lazy = _new_host(before)
        time.sleep(2.0)
        assert not _maps_torch(lazy)
    with stage_host.host(paths.root, wait_s=30, eager=True) as env:
        assert env
        eager, deadline = _new_host(before), time.monotonic() + 120
        while not _maps_torch(eager) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _maps_torch(eager), "the eager host did not import torch without a request"


def test_the_off_switch_starts_no_host_and_points_no_stage_at_one(project, monkeypatch):
    """OEKAKI_NO_STAGE_HOST: `repro` then runs every stage in its own process (bench/stage_host.py's "without")."""
    paths, _ = project
    before = _hosts()
    monkeypatch.setenv(stage_host.OFF_ENV, "1")
    with stage_host.host(paths.root, wait_s=30) as env:
        assert env == {} and set(_hosts()) == set(before)
    monkeypatch.setenv(stage_host.OFF_ENV, "0")  # "0" is off the switch: the host starts
    with stage_host.host(paths.root, wait_s=30) as env:
        assert env and set(_hosts()) - set(before)
