"""`make serve`: the whole loop, started in one command and stopped with Ctrl-C.

1. PREFECT_API_URL unset: `prefect server start` on 127.0.0.1 (port 4200, or --port) with the
   project's PREFECT_HOME, waited for until healthy. Set: that server is used instead.
2. The process work pool `oekaki-process` and the global concurrency limit `oekaki-pipeline`
   (limit 1: one pipeline run at a time) are created if missing.
3. `prefect deploy --all` with prefect.yaml: deployments `training-pipeline/nightly` (cron),
   `training-pipeline/manual` and `training-pipeline/retrain-on-contributions` (its trigger: N
   accepted contributions within a window), working directory OEKAKI_PROJECT_DIR (default: here).
4. A worker on the pool, and the drawing app (`python -m oekaki.app` on 127.0.0.1, port 8000 or
   --app-port; 0 = a free one) with PREFECT_API_URL, so that what it accepts is emitted as events.
   Then every address is printed, and this command waits.
5. Ctrl-C (SIGINT) or SIGTERM, or the worker or the app ending, stops the app and the worker with
   SIGINT (workers ignore SIGTERM), then the server if this command started it, and removes the
   runner storage the worker left in the project's own `.oekaki/prefect-tmp/`.

Prefect's runner (inside every worker) keeps its storage in `<temporary folder>/runner_storage/<uuid>`,
with no setting of its own but the temporary folder (`tempfile.gettempdir()`, i.e. TMPDIR).
So the worker runs with TMPDIR set to the project's `.oekaki/prefect-tmp/`, and this command
deletes only there: the machine-wide `/tmp/runner_storage` belongs to whoever else runs Prefect.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oekaki.core.io import write_json
from oekaki.core.paths import Paths, project_paths
from oekaki.pipeline.env import apply_tool_defaults
from oekaki.pipeline.lock import GLOBAL_LIMIT
from oekaki.pipeline.servers import PrefectServer, default_sigint, free_port, stop_process_group, wait_healthy

POOL = "oekaki-process"
APP_START_S = 600  # seconds the app may take to load every model before it answers
RUNNER_STORAGE = "runner_storage"  # the folder Prefect's Runner makes in its temporary folder (prefect/runner/runner.py)


def worker_tmp(paths: Paths) -> Path:
    """The worker's temporary folder (its TMPDIR), where Prefect keeps its runner storage: the project's own."""
    return paths.state_dir / "prefect-tmp"


def worker_env(paths: Paths, env: dict[str, str]) -> dict[str, str]:
    """`env` for the worker: TMPDIR in the project's state folder (created: tempfile skips a missing one).

    Flow runs inherit it; their isolated copies stay in the system's temporary folder
    (OEKAKI_RUNS_DIR, unless the caller set one), not inside the project.
    """
    tmp = worker_tmp(paths)
    tmp.mkdir(parents=True, exist_ok=True)
    return {"OEKAKI_RUNS_DIR": tempfile.gettempdir(), **env, "TMPDIR": str(tmp)}


def remove_runner_storage(paths: Paths) -> None:
    """Delete the runner storage this project's worker left (under its own state folder), and nothing else."""
    tmp = worker_tmp(paths)
    shutil.rmtree(tmp / RUNNER_STORAGE, ignore_errors=True)
    if tmp.is_dir() and not any(tmp.iterdir()):
        tmp.rmdir()


def prefect_cli(env: dict[str, str], cwd: Path, *args: str, ok_if: str = "") -> str:
    """Run the Prefect CLI; an error whose output contains `ok_if` (e.g. "already exists") is fine."""
    cmd = [str(Path(sys.executable).parent / "prefect"), "--no-prompt", *args]
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 and not (ok_if and ok_if in out):
        raise RuntimeError(f"`prefect {' '.join(args)}` failed:\n{out}")
    return out


def set_up(env: dict[str, str], root: Path, prefect_file: str) -> None:
    prefect_cli(env, root, "work-pool", "create", POOL, "--type", "process", ok_if="already exists")
    prefect_cli(env, root, "global-concurrency-limit", "create", GLOBAL_LIMIT, "--limit", "1", ok_if="already exists")
    print(prefect_cli(env, root, "deploy", "--all", "--prefect-file", prefect_file).strip()[-2000:], flush=True)


def start_app(paths: Paths, env: dict[str, str], port: int) -> subprocess.Popen:
    """`python -m oekaki.app` on 127.0.0.1:`port` in its own process group (stopped with SIGINT), PREFECT_API_URL in its env."""
    cmd = [sys.executable, "-m", "oekaki.app", "--root", str(paths.root), "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, cwd=paths.root, start_new_session=True, preexec_fn=default_sigint)


def wait_app(proc: subprocess.Popen, url: str, timeout_s: float = APP_START_S) -> None:
    """Until the app answers `url` (it loads its models first); raise if it exits or takes longer."""
    wait_healthy(proc, url, f"the app at {url}", None, timeout_s)


def addresses(paths: Paths, api_url: str, app_url: str) -> str:
    """What `make serve` prints once everything is up: every address, and the MLflow UI that `make ui` starts."""
    from oekaki.app.serve import mlflow_ui_url

    return "\n".join(
        [
            "oekaki is up; Ctrl-C stops everything:",
            f"  Prefect UI  {api_url.removesuffix('/api')}   (deployments, flow runs, the trigger's automation)",
            f"  app         {app_url}   (draw, teach: accepted contributions count toward retrain-on-contributions)",
            f"  MLflow UI   {mlflow_ui_url(paths)}   (not started here: `make ui` in another terminal)",
            "  a run now:  make trigger",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("OEKAKI_PREFECT_PORT", "4200")), help="Prefect server port")
    parser.add_argument("--app-port", type=int, default=int(os.environ.get("OEKAKI_APP_PORT", "8000")), help="the app's port (0: free)")
    parser.add_argument("--prefect-file", default="prefect.yaml")
    args = parser.parse_args(argv)
    paths = project_paths()
    apply_tool_defaults(paths)
    env = dict(os.environ)
    env.setdefault("OEKAKI_PROJECT_DIR", str(paths.root))
    server = worker = app = None

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts this in the background (`make serve &`) ignores SIGINT.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        if not env.get("PREFECT_API_URL"):
            server = PrefectServer(paths.prefect_home, env, args.port)
            env["PREFECT_API_URL"] = server.wait_healthy()
            print(f"Prefect server: {env['PREFECT_API_URL'].removesuffix('/api')} (UI and API)", flush=True)
        set_up(env, paths.root, args.prefect_file)  # the trigger exists before the app can accept anything
        prefect = str(Path(sys.executable).parent / "prefect")
        worker = subprocess.Popen(
            [prefect, "worker", "start", "--pool", POOL],
            env=worker_env(paths, env),
            cwd=paths.root,
            start_new_session=True,
            preexec_fn=default_sigint,
        )
        print(f"worker on pool {POOL} (pid {worker.pid})", flush=True)
        app_port = args.app_port or free_port()
        app_url = f"http://127.0.0.1:{app_port}/"
        app = start_app(paths, env, app_port)
        write_json(
            paths.state_dir / "serve.json",
            {
                "pid": os.getpid(),
                "api": env["PREFECT_API_URL"],
                "app": app_url,
                "worker_pid": worker.pid,
                "app_pid": app.pid,
                "server_pid": server.proc.pid if server else None,
            },
        )
        wait_app(app, app_url)
        print(addresses(paths, env["PREFECT_API_URL"], app_url), flush=True)
        while (ended := next((p for p in (worker, app) if p.poll() is not None), None)) is None:
            time.sleep(1)
        print(f"the {'worker' if ended is worker else 'app'} ended (code {ended.returncode}): stopping the rest", flush=True)
        return ended.returncode
    except KeyboardInterrupt:
        print("stopping ...", flush=True)
        return 0
    finally:
        if app is not None:
            stop_process_group(app, signal.SIGINT, timeout_s=30)
        if worker is not None:
            stop_process_group(worker, signal.SIGINT, timeout_s=60)
        if server is not None:
            server.stop()
        remove_runner_storage(paths)
        (paths.state_dir / "serve.json").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
