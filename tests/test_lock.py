"""One pipeline run per project folder: the lock that `make run`, `dvc repro` stages and the flow share."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from oekaki.core.paths import Paths
from oekaki.pipeline.lock import ProjectBusy, holder, project_lock
from tests.conftest import VENV_BIN, copy_project, tool_env

HOLD = """
import sys, time
from pathlib import Path
from oekaki.pipeline.lock import project_lock
from oekaki.core.paths import Paths
with project_lock(Paths(Path(sys.argv[1])), "the test's other run", 0):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(root, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], stdout=subprocess.PIPE, text=True)
    with proc.stdout:  # closed once it said so: nothing else is read
        assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_refused_with_the_holder_named_or_waits_for_it(tmp_path):
    paths = Paths(tmp_path)
    other = hold(tmp_path, 3)
    try:
        with pytest.raises(ProjectBusy, match=rf"the test's other run \(pid {other.pid} .*gave up after waiting 0 s"):
            with project_lock(paths, "me", 0):
                pass
        t0 = time.monotonic()
        with project_lock(paths, "me", 60, poll_s=0.1):
            waited = time.monotonic() - t0
            assert holder(paths)["what"] == "me"
        assert 0.5 < waited < 30
    finally:
        other.wait()
    assert holder(paths) == {}  # released: nobody named


def test_a_crashed_holder_never_leaves_the_lock_stuck(tmp_path):
    other = hold(tmp_path, 60)
    other.kill()
    other.wait()
    with project_lock(Paths(tmp_path), "me", 0):
        pass


@pytest.fixture
def project(tmp_path):
    paths = copy_project(tmp_path / "repo")
    return paths, tool_env(tmp_path)


def test_dvc_repro_stages_respect_a_running_flow_and_make_run_holds_it_for_its_stages(project):
    paths, env = project
    python = f"{VENV_BIN}/python"
    other = hold(paths.root, 30)
    try:  # a bare `dvc repro` stage, told not to wait, refuses with one clear line
        paths.params.write_text(paths.params.read_text().replace("on_busy: wait", "on_busy: skip"))
        proc = subprocess.run(
            [python, "-m", "oekaki", "stage", "source"], cwd=paths.root, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2 and "the test's other run" in proc.stderr and "holds the project lock" in proc.stderr
    finally:
        other.kill()
        other.wait()
    # `python -m oekaki repro` (make run) holds the lock; its own stages run inside it, not against it
    proc = subprocess.run([python, "-m", "oekaki", "repro", "source"], cwd=paths.root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert paths.source_fingerprint.is_file()


def test_a_waiting_run_says_once_whom_it_waits_for_and_a_run_that_does_not_wait_says_nothing(tmp_path, caplog):
    paths = Paths(tmp_path)
    other = hold(tmp_path, 2)
    try:
        with caplog.at_level("WARNING", logger="oekaki.lock"):
            with pytest.raises(ProjectBusy):
                with project_lock(paths, "me", 0):
                    pass
            assert not caplog.records
            with project_lock(paths, "me", 60, poll_s=0.1):
                pass
        waits = [r.getMessage() for r in caplog.records]
        assert len(waits) == 1 and f"the test's other run (pid {other.pid} " in waits[0] and "waiting up to 60 s" in waits[0]
    finally:
        other.wait()


def test_the_lock_is_held_per_process_not_per_thread(tmp_path):
    """A flow's task threads run inside the lock their process took: a second project_lock in another thread of the
    holder does not deadlock (it sees OEKAKI_PROJECT_LOCK), and another process is refused."""
    import threading

    paths = Paths(tmp_path)
    with project_lock(paths, "me", 0):
        inner = []
        thread = threading.Thread(target=lambda: inner.append(_enter(paths)))
        thread.start()
        thread.join(10)
        assert inner == ["entered"]
        foreign = {k: v for k, v in os.environ.items() if k != "OEKAKI_PROJECT_LOCK"}  # not a child of the holder
        proc = subprocess.run([sys.executable, "-c", HOLD, str(tmp_path), "0"], env=foreign, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "ProjectBusy" in proc.stderr and "holds the project lock" in proc.stderr


def _enter(paths: Paths) -> str:
    with project_lock(paths, "a task thread", 0):
        return "entered"
