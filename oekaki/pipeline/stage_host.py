"""The stage host of `python -m oekaki repro`: one process imports the libraries once, and each dvc stage's command runs as a fork of it.

What it saves: `dvc repro` starts every stage as a process of its own (`python -m oekaki stage
<name>`), and each paid again for starting Python and importing torch, MLflow, matplotlib and
scikit-learn; under the host a stage's command hands its work over and the fork starts with them
imported. How many seconds that saves on the current pipeline is what `bench/stage_host.py`
measures (the same `repro` with and without the host, in fresh clones; its figures in
bench/results/stage_host-<commit>.json).

How: `python -m oekaki repro` starts this host first: one process that waits on a Unix socket and
imports those libraries once, for the first stage that asks; it passes the socket's path to
`dvc repro` as OEKAKI_STAGE_HOST_SOCKET. A stage command that sees it hands its arguments,
working directory, environment and its stdin/stdout/stderr to the host (`hand_off`) and waits;
the host forks, and the child takes them over and runs exactly what the command would have run in
its own process (the CLI's `main`, handed to `serve` by `python -m oekaki stage-host`); its exit
status travels back and becomes the command's. DVC sees an ordinary command: it hashes the deps
and outputs as always. OEKAKI_NO_STAGE_HOST=1 turns the host off (the benchmark's "without").

What stays as it was:
- Only third-party libraries are imported before the fork, never the project's own modules, so a
  stage always runs the code on disk when it starts (the code DVC hashes for its cache).
- Without the variable, or when the host does not answer, the command runs the stage itself: a
  bare `dvc repro` behaves as before, and so does a host that died.
- The child follows its command: when the command process ends for any reason (Ctrl-C, SIGTERM,
  SIGKILL from a resume drill), its socket closes and the child kills itself at once, so a stage
  never outlives the process DVC is waiting for.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import logging
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ENV = "OEKAKI_STAGE_HOST_SOCKET"
ROOT_ENV = "OEKAKI_STAGE_HOST_ROOT"  # the project folder the host serves: a command run elsewhere does not even connect
OFF_ENV = "OEKAKI_NO_STAGE_HOST"  # set (to anything but "" or "0"): `repro` starts no host, every stage its own process
# The third-party libraries the stages import (each guarded: a missing optional library is imported,
# or not, by the stage itself). Never project modules: see the module docstring.
# PRELOAD comes in before the first stage is forked: what every stage uses (the first to run,
# `download` or `gmm`, needs no torch). PRELOAD_LATER comes in after that fork, one module at a time,
# while that stage runs; a request that arrives meanwhile is forked at once with what is in.
PRELOAD = (
    "numpy",
    "matplotlib",
    "matplotlib.pyplot",
    "sklearn.decomposition",
    "sklearn.mixture",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "scipy.linalg",
    "pydantic",
    "yaml",
    "threadpoolctl",
    "psutil",
    "PIL.Image",
    "jinja2",
    "mlflow",
    "mlflow.tracking",
    "mlflow.entities",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.system_metrics.system_metrics_monitor",
)
# torch.export's first call imports torch._dynamo (1.3 s on 2026-12-05's Xeon); each of the four
# stages that register a model (cnn, vae, gan, diffusion) paid it in its own fork (docs/speed.md).
PRELOAD_LATER = ("torch", "torch.nn.functional", "torchvision", "mlflow.pytorch", "torch.export._trace")
_HEADER = struct.Struct("!I")  # length of the JSON request that follows the descriptors
_STATUS = struct.Struct("!i")
log = logging.getLogger("oekaki.stage_host")


_command_started: float | None = None  # in a host's child: when the command it serves started


def process_started_unix() -> float | None:
    """When this stage's command started, Unix seconds, to about 10 ms; None where /proc is missing.

    In a host's child: the command's start (what DVC launched), not the fork's. From /proc (the
    start in clock ticks since boot, against /proc/uptime): psutil's create_time adds the boot time
    of /proc/stat, whole seconds, and so was up to a second off.
    """
    if _command_started is not None:
        return _command_started
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks_since_boot = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - ticks_since_boot / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------- the command's side
def hand_off(argv: list[str]) -> int | None:
    """Run `python -m oekaki <argv>` in the stage host of OEKAKI_STAGE_HOST_SOCKET; its exit status, or None to run here.

    None when the variable is unset or the host does not take the request (nothing has run then:
    its child acknowledges with one byte before anything else). Once acknowledged, the status is
    the stage's; a child that dies without reporting one (killed) gives 1, never a silent success.
    """
    path = os.environ.get(ENV)
    if not path or os.path.realpath(os.environ.get(ROOT_ENV, "")) != os.path.realpath(os.getcwd()):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    with sock:
        started = process_started_unix()  # the command's, so a stage's start-up counts from when DVC started it
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "started": started}).encode()
        try:
            socket.send_fds(sock, [_HEADER.pack(len(request))], [0, 1, 2])
            sock.sendall(request)
            if _recv_exact(sock, 1) is None:  # the host ended before taking the request: nothing ran
                return None
        except OSError:
            return None
        status = _recv_exact(sock, _STATUS.size)
    if status is None:
        print("error: the stage host's fork ended without an exit status (killed?)", file=sys.stderr)
        return 1
    return _STATUS.unpack(status)[0]


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# --------------------------------------------------------------------------- the host
def preload(names: tuple[str, ...]) -> list[str]:
    """Import `names` (what fails to import is skipped; the stage then meets the error itself); the names imported."""
    return [name for name in names if _import(name)]


def _import(name: str) -> bool:
    import importlib

    try:
        module = importlib.import_module(name)
        if name == "matplotlib":
            module.use("Agg")  # the headless backend oekaki/figures/base.py sets, before pyplot is imported
        if name == "mlflow.pytorch":
            _warm_requirements_map()
        return True
    except Exception as exc:  # an optional library; the stage that needs it reports the problem
        log.debug("stage host: %s not preloaded: %s", name, exc)
        return False


def _warm_requirements_map() -> None:
    """Build MLflow's map of installed modules to their distributions once, for every stage forked later.

    `mlflow.pytorch.log_model` checks the model's pip requirements against the installed packages
    through this map, which it builds on first use (0.45 s: a scan of every installed distribution)
    and keeps in a module global. The function is MLflow's private one: if a release moves it,
    nothing breaks, each stage builds the map itself again.
    """
    from mlflow.utils import requirements_utils

    init = getattr(requirements_utils, "_init_modules_to_packages_map", None)
    if callable(init):
        init()


def _freeze() -> None:
    """Keep the imports' objects out of the collector, so that a fork's collections do not walk them (and copy their
    pages): parsing dvc.yaml in a stage took 0.45 s instead of 0.035 s without this (docs/speed.md)."""
    gc.collect()
    gc.freeze()


def serve(path: Path, ready: Path | None, run: Callable[[list[str]], int | None], eager: bool = False) -> None:
    """Listen on `path`; on the first request (at once when `eager`) import PRELOAD; fork a child per request; runs until SIGTERM/SIGINT.

    After the first fork the host imports PRELOAD_LATER one module at a time, looking at the
    socket between two of them, so those imports overlap the first stage's work instead of
    delaying its start. `ready` is touched once listening; a command that connects during the
    imports waits in the backlog. The imports wait for the first request so that a repro with nothing to run (no-op
    `make run`, 3 s at most: issue 13) does not share its two cores with them. `run(argv)` is
    what a child runs: the CLI's main (passed in, so this module never imports the CLI above it).
    The host serves the project folder it was started in (its working directory). `eager` is for a
    repro that is sure to run a stage (`host(eager=True)`): the imports then overlap DVC's own
    start and the freshness check instead of waiting for the first stage's request.
    """
    root = os.getcwd()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    if ready is not None:
        ready.touch()
    stop, preloaded = threading.Event(), False
    later: list[str] = []  # PRELOAD_LATER still to import, one module between two looks at the socket

    def on_signal(signum, frame):
        stop.set()

    def warm_up() -> None:
        nonlocal later, preloaded
        preload(PRELOAD)
        later = list(PRELOAD_LATER)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        preloaded = True

    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ)
    try:
        if eager:
            warm_up()
        while not stop.is_set():
            events = sel.select(timeout=0 if later else 0.5)
            if not events and later:
                _import(later.pop(0))
                if not later:
                    _freeze()
            for _key, _ in events:
                conn, _ = server.accept()
                if not preloaded:
                    # on the first request, not at start: a no-op repro (no stage runs) never pays for the
                    # imports, and SIGTERM/SIGINT end the process at once until they are in (no child yet)
                    warm_up()
                _freeze()
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:  # the child never returns into this loop
                    server.close()
                    _child(conn, run, root)
                conn.close()
            _reap()
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _child(conn: socket.socket, run: Callable[[list[str]], int | None], root: str) -> None:
    """Take over the command's descriptors, directory, environment and arguments; run it; report; exit.

    Only commands run in `root`, the project folder the host was started in (DVC runs a stage in
    its project's root), are taken: the project modules a child imports resolve from there.
    """
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        msg, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, 3)
        if len(msg) < _HEADER.size or len(fds) != 3:
            os._exit(1)
        request = json.loads(_recv_exact(conn, _HEADER.unpack(msg[: _HEADER.size])[0]) or b"{}")
        if os.path.realpath(request["cwd"]) != os.path.realpath(root):
            os._exit(0)  # another project's command: its code is not what this host imports from; it runs itself
        conn.sendall(b"\x01")  # taken: from here on the command waits for this process's status
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=os.isatty(1))
        sys.stderr.reconfigure(line_buffering=True)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [sys.argv[0], *request["argv"]]
        global _command_started
        _command_started = request.get("started")
        _fresh_root_logger()
        threading.Thread(target=_follow, args=(conn,), daemon=True, name="oekaki-stage-host-follow").start()
        print(f"stage host: pid {os.getpid()} runs python -m oekaki {' '.join(request['argv'])}", file=sys.stderr, flush=True)
        code = _exit_status(run, request["argv"])
    except BaseException:  # noqa: BLE001 - whatever happens, the command gets a status and this process ends here
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(_STATUS.pack(code))
        os._exit(code)


def _fresh_root_logger() -> None:
    """The root logger as a new process has it: an import in the host (mlflow.pytorch's) may have configured it,
    and the CLI's `logging.basicConfig` would then do nothing: the stage's INFO lines would be lost."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def _exit_status(run: Callable[[list[str]], int | None], argv: list[str]) -> int:
    try:
        return int(run(argv) or 0)
    except SystemExit as exc:  # argparse and friends
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130


def _follow(conn: socket.socket) -> None:
    """Die with the command: its socket closes when it ends, however it ends."""
    with contextlib.suppress(OSError):
        while conn.recv(1):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def host(root: Path, wait_s: float = 0.0, eager: bool = False) -> Iterator[dict[str, str]]:
    """Start a stage host for project folder `root` for the block; yields the environment entries that point stage commands at it.

    The host listens within a fraction of a second and imports the libraries when the first stage
    asks for it, or at once when `eager` (the caller knows a stage will run: `repro` when the
    prepared data is missing); a command that connects meanwhile waits in the backlog, and one that comes before
    the socket exists, or after the host failed, runs itself. So `repro` does not wait for the host
    (a no-op repro pays only for starting it); `wait_s` > 0 waits that long for it to listen, and
    yields {} (stages run in their own processes, as with a bare `dvc repro`) if it does not.
    With OEKAKI_NO_STAGE_HOST set, no host starts and the block gets {} too (bench/stage_host.py's "without").
    """
    import subprocess
    import tempfile

    if os.environ.get(OFF_ENV, "") not in ("", "0"):
        yield {}
        return

    # A short path: Unix socket paths are limited to about 100 bytes, project folders are not.
    folder = Path(tempfile.mkdtemp(prefix="oekaki-stage-host-"))
    path, ready = folder / "stages.sock", folder / "ready"
    command = [sys.executable, "-m", "oekaki", "stage-host", str(path), str(ready), *(["--eager"] if eager else [])]
    proc = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + wait_s
        while wait_s and not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if wait_s and not ready.exists():
            log.warning("the stage host did not start; every stage starts its own process")
            yield {}
        else:
            yield {ENV: str(path), ROOT_ENV: str(root)}
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
