"""`make serve` keeps Prefect's runner storage in the project's own state folder and deletes only there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from flows import serve
from oekaki.core.paths import Paths
from tests.conftest import tool_env

SYSTEM_STORAGE = Path(tempfile.gettempdir()) / serve.RUNNER_STORAGE


def test_prefects_runner_puts_its_storage_in_the_projects_state_folder(tmp_path):
    """Prefect's own Runner (what a process worker runs), started with the worker's environment."""
    paths = Paths(tmp_path / "project")
    env = serve.worker_env(paths, tool_env(tmp_path))
    code = "from prefect.runner import Runner; print(Runner()._tmp_dir)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip().splitlines()[-1]).parent == serve.worker_tmp(paths) / serve.RUNNER_STORAGE
    assert env["OEKAKI_RUNS_DIR"] == tempfile.gettempdir()  # the flow's isolated copies stay out of the project


class FakeWorker:
    """Stands in for `prefect worker start`: while it runs, another project's Prefect run makes its runner storage in the
    system's temporary folder, and this worker makes its own where its TMPDIR says (as Prefect's Runner does)."""

    def __init__(self, cmd, env, **kwargs):
        self.env, self.pid = env, 0
        self.foreign = SYSTEM_STORAGE / f"oekaki-test-foreign-{uuid.uuid4().hex}"

    def wait(self, *args):
        self.foreign.mkdir(parents=True)
        (Path(self.env.get("TMPDIR", tempfile.gettempdir())) / serve.RUNNER_STORAGE / uuid.uuid4().hex).mkdir(parents=True)
        return 0


def test_stopping_deletes_only_the_runner_storage_of_its_own_worker(tmp_path, monkeypatch):
    paths = Paths(tmp_path / "project")
    workers: list[FakeWorker] = []
    system_storage_existed = SYSTEM_STORAGE.is_dir()
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # "a server is running": none is started
    monkeypatch.setattr(serve, "project_paths", lambda: paths)
    monkeypatch.setattr(serve, "apply_tool_defaults", lambda paths: None)
    monkeypatch.setattr(serve, "set_up", lambda env, root, prefect_file: None)
    monkeypatch.setattr(serve, "stop_process_group", lambda proc, sig, timeout_s: None)
    monkeypatch.setattr(serve.signal, "signal", lambda signum, handler: None)  # keep pytest's own handlers
    monkeypatch.setattr(serve.subprocess, "Popen", lambda *a, **kw: workers.append(FakeWorker(*a, **kw)) or workers[-1])
    try:
        assert serve.main([]) == 0
        assert workers[0].foreign.is_dir(), "another project's runner storage was deleted"
    finally:
        if workers:
            shutil.rmtree(workers[0].foreign, ignore_errors=True)
        if not system_storage_existed and SYSTEM_STORAGE.is_dir() and not any(SYSTEM_STORAGE.iterdir()):
            SYSTEM_STORAGE.rmdir()
    assert not serve.worker_tmp(paths).exists()  # its own storage (and its folder) gone


@pytest.mark.parametrize("leftover", [True, False])
def test_remove_runner_storage_keeps_other_files_of_the_worker_folder(tmp_path, leftover):
    paths = Paths(tmp_path)
    (serve.worker_tmp(paths) / serve.RUNNER_STORAGE / "x").mkdir(parents=True)
    if leftover:
        (serve.worker_tmp(paths) / "a-flow-run-still-writing").write_text("")
    serve.remove_runner_storage(paths)
    assert not (serve.worker_tmp(paths) / serve.RUNNER_STORAGE).exists()
    assert serve.worker_tmp(paths).exists() == leftover
