"""Start and stop the real servers on 127.0.0.1: `prefect server` (tests, benchmarks, `make serve`)
and the MLflow UI (`make ui` runs `python -m oekaki.pipeline.servers mlflow-ui`; tests start the same command)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def default_sigint() -> None:
    """preexec_fn: SIGINT back to its default in the child, even when this process was started ignoring it
    (a shell's background job): servers and workers are stopped with SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrefectServer:
    """`prefect server start` in its own process group, with its own PREFECT_HOME."""

    def __init__(self, home: Path, env: dict[str, str], port: int | None = None):
        self.home, self.port = Path(home), port or free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.log_path = self.home / "server.log"
        env = {**env, "PREFECT_HOME": str(self.home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        prefect = Path(sys.executable).parent / "prefect"
        self.proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=default_sigint,  # stop() sends SIGINT
        )

    def wait_healthy(self, timeout_s: float = 180) -> str:
        wait_healthy(self.proc, f"{self.api}/health", "prefect server", self.log_path, timeout_s)
        return self.api

    def stop(self) -> None:
        """SIGINT (Prefect's clean shutdown), then SIGKILL if it lingers."""
        stop_process_group(self.proc, signal.SIGINT, timeout_s=30)
        self._log.close()


def wait_healthy(proc: subprocess.Popen, health_url: str, name: str, log_path: Path | None, timeout_s: float) -> None:
    """Poll `health_url` until it answers; raise with the server's log if it exits or times out.

    `log_path` None: the process writes to this terminal, so its output is already above the error.
    """

    def log() -> str:
        return log_path.read_text() if log_path is not None else "(its output is above)"

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{log()}")
        try:
            with urllib.request.urlopen(health_url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{name} not healthy after {timeout_s} s:\n{log()}")


def stop_process_group(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout_s: float = 30) -> None:
    """Send `sig` to the process group `proc` leads (started with start_new_session); SIGKILL the group if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (children of a stopped leader)
    proc.wait()


def mlflow_ui_command(tracking_uri: str, port: int) -> tuple[list[str], dict[str, str]]:
    """`mlflow ui` as `make ui` runs it: one worker, no job runners (about 490 MB instead of 2.6 GB), no telemetry.

    The store's URI (it may hold a password) goes in the environment, MLFLOW_BACKEND_STORE_URI
    (the environment variable of `mlflow server --backend-store-uri`), never in the argv that `ps` shows.
    """
    cmd = [str(Path(sys.executable).parent / "mlflow"), "ui", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_BACKEND_STORE_URI": tracking_uri}
    return cmd, env


class MlflowUi:
    """The MLflow UI (and REST API) over a tracking store, in its own process group."""

    def __init__(self, tracking_uri: str, env: dict[str, str], log_path: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd, extra = mlflow_ui_command(tracking_uri, self.port)
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, env={**env, **extra}, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self, timeout_s: float = 120) -> str:
        wait_healthy(self.proc, f"{self.url}/health", "mlflow ui", self.log_path, timeout_s)
        return self.url

    def stop(self) -> None:
        stop_process_group(self.proc, signal.SIGTERM, timeout_s=30)
        self._log.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m oekaki.pipeline.servers mlflow-ui [--port 5000]`: the project's MLflow UI in the foreground."""
    import argparse

    from oekaki.core.paths import project_paths
    from oekaki.pipeline.env import apply_tool_defaults
    from oekaki.pipeline.tracking import tracking_uri, without_credentials

    parser = argparse.ArgumentParser(prog="python -m oekaki.pipeline.servers")
    parser.add_argument("command", choices=["mlflow-ui"])
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    paths = project_paths()
    apply_tool_defaults(paths)
    cmd, extra = mlflow_ui_command(tracking_uri(paths), args.port)
    print(f"MLflow UI: http://127.0.0.1:{args.port} (store {without_credentials(tracking_uri(paths))}); stop: Ctrl-C", flush=True)
    os.execve(cmd[0], cmd, {**os.environ, **extra})


if __name__ == "__main__":
    sys.exit(main())
