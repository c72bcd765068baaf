"""`make serve` starts the app beside the worker (with the Prefect API, on 127.0.0.1), prints every address, stops
them all, and keeps Prefect's runner storage in the project's own state folder and deletes only there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from flows import serve
from oekaki.core.paths import PROJECT_ROOT, Paths
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
    system's temporary folder, and this worker makes its own where its TMPDIR says (as Prefect's Runner does); then it ends."""

    def __init__(self, cmd, env, **kwargs):
        self.cmd, self.env, self.pid, self.returncode = cmd, env, 0, None
        self.foreign = SYSTEM_STORAGE / f"oekaki-test-foreign-{uuid.uuid4().hex}"

    def poll(self):
        if self.returncode is None:
            self.foreign.mkdir(parents=True)
            (Path(self.env.get("TMPDIR", tempfile.gettempdir())) / serve.RUNNER_STORAGE / uuid.uuid4().hex).mkdir(parents=True)
            self.returncode = 0
        return self.returncode


class FakeApp:
    """Stands in for `python -m oekaki.app`: it runs until stopped."""

    def __init__(self, cmd, env, **kwargs):
        self.cmd, self.env, self.pid, self.returncode = cmd, env, 1, None

    def poll(self):
        return self.returncode


def fake_popen(started: list):
    def popen(cmd, env, **kwargs):
        started.append((FakeWorker if "worker" in cmd else FakeApp)(cmd, env, **kwargs))
        return started[-1]

    return popen


@pytest.fixture
def fake_serve(tmp_path, monkeypatch):
    """serve.main's surroundings: a project in tmp_path, a server already running, fake worker and app; what was stopped."""
    paths = Paths(tmp_path / "project")
    started: list = []
    stopped: list = []
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # "a server is running": none is started
    monkeypatch.setattr(serve, "project_paths", lambda: paths)
    monkeypatch.setattr(serve, "apply_tool_defaults", lambda paths: None)
    monkeypatch.setattr(serve, "set_up", lambda env, root, prefect_file: None)
    monkeypatch.setattr(serve, "wait_app", lambda proc, url: None)
    monkeypatch.setattr(serve, "addresses", lambda paths, api, app: f"ADDRESSES {api} {app}")
    monkeypatch.setattr(serve, "stop_process_group", lambda proc, sig, timeout_s: stopped.append((proc, sig)))
    monkeypatch.setattr(serve.signal, "signal", lambda signum, handler: None)  # keep pytest's own handlers
    monkeypatch.setattr(serve.subprocess, "Popen", fake_popen(started))
    return paths, started, stopped


def test_stopping_deletes_only_the_runner_storage_of_its_own_worker(fake_serve):
    paths, started, _ = fake_serve
    system_storage_existed = SYSTEM_STORAGE.is_dir()
    try:
        assert serve.main(["--app-port", "0"]) == 0  # the worker ended (code 0): everything stops
        assert started[0].foreign.is_dir(), "another project's runner storage was deleted"
    finally:
        if started:
            shutil.rmtree(started[0].foreign, ignore_errors=True)
        if not system_storage_existed and SYSTEM_STORAGE.is_dir() and not any(SYSTEM_STORAGE.iterdir()):
            SYSTEM_STORAGE.rmdir()
    assert not serve.worker_tmp(paths).exists()  # its own storage (and its folder) gone


def test_the_app_starts_on_127_0_0_1_with_the_prefect_api_and_stops_with_the_rest(fake_serve, capsys):
    paths, started, stopped = fake_serve
    try:
        assert serve.main(["--app-port", "8765"]) == 0
    finally:
        shutil.rmtree(started[0].foreign, ignore_errors=True)
    worker, app = started
    assert isinstance(app, FakeApp) and app.cmd[1:3] == ["-m", "oekaki.app"]
    assert app.cmd[app.cmd.index("--host") + 1] == "127.0.0.1" and app.cmd[app.cmd.index("--port") + 1] == "8765"
    assert app.cmd[app.cmd.index("--root") + 1] == str(paths.root)
    assert app.env["PREFECT_API_URL"] == "http://127.0.0.1:9/api"  # so what it accepts is emitted where the trigger listens
    assert "ADDRESSES http://127.0.0.1:9/api http://127.0.0.1:8765/" in capsys.readouterr().out
    assert [(proc, sig) for proc, sig in stopped] == [(app, serve.signal.SIGINT), (worker, serve.signal.SIGINT)]
    assert not (paths.state_dir / "serve.json").exists()


def test_the_addresses_name_the_prefect_ui_the_app_and_how_to_start_the_mlflow_ui():
    text = serve.addresses(Paths(PROJECT_ROOT), "http://127.0.0.1:4200/api", "http://127.0.0.1:8000/")
    assert "Prefect UI  http://127.0.0.1:4200 " in text and "app         http://127.0.0.1:8000/" in text
    assert "make ui" in text and "make trigger" in text


@pytest.mark.parametrize("leftover", [True, False])
def test_remove_runner_storage_keeps_other_files_of_the_worker_folder(tmp_path, leftover):
    paths = Paths(tmp_path)
    (serve.worker_tmp(paths) / serve.RUNNER_STORAGE / "x").mkdir(parents=True)
    if leftover:
        (serve.worker_tmp(paths) / "a-flow-run-still-writing").write_text("")
    serve.remove_runner_storage(paths)
    assert not (serve.worker_tmp(paths) / serve.RUNNER_STORAGE).exists()
    assert serve.worker_tmp(paths).exists() == leftover
