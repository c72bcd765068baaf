"""Start and stop a real `prefect server` on 127.0.0.1 (tests, benchmarks, later `make serve`)."""

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
        )

    def wait_healthy(self, timeout_s: float = 180) -> str:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.api}/health", timeout=2):
                    return self.api
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"prefect server not healthy after {timeout_s} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """SIGINT (Prefect's clean shutdown), then SIGKILL if it lingers."""
        stop_process_group(self.proc, signal.SIGINT, timeout_s=30)
        self._log.close()


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
