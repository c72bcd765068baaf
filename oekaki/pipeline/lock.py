"""One pipeline run at a time per project folder, whoever started it.

`make run` (`python -m oekaki repro`, around `dvc repro`), the Prefect flow (`nightly`,
`manual`, `python -m flows.pipeline`) and every `python -m oekaki stage` that `dvc repro`
runs take the same lock: an exclusive lock on `.oekaki/pipeline.lock`, held with the `filelock`
package (an OS `flock` on Unix). The holder writes who it is beside it, in `pipeline.lock.json`,
so a second run can say what it is waiting for. A process that holds
the lock exports OEKAKI_PROJECT_LOCK=<lock file> to its children (the stages of its
`dvc repro`), which then run inside it instead of waiting for their own parent.
The kernel drops a flock when its process dies, so a crashed run never leaves it stuck.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator

from filelock import FileLock, Timeout

from oekaki.core.errors import ProjectBusy
from oekaki.core.paths import Paths

ENV = "OEKAKI_PROJECT_LOCK"
# The Prefect global concurrency limit (limit 1) that deployments' runs take before the lock;
# `make serve` creates it, the flow takes it where it exists.
GLOBAL_LIMIT = "oekaki-pipeline"
log = logging.getLogger("oekaki.lock")


def holder(paths: Paths) -> dict:
    """Who holds (or last held) the lock: pid, host, what, since."""
    try:
        return json.loads(paths.lock_holder.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def held_by_parent(paths: Paths) -> bool:
    return os.environ.get(ENV) == str(paths.lock_file)


def describe(info: dict) -> str:
    if not info:
        return "another pipeline run"
    return f"{info.get('what', 'a pipeline run')} (pid {info.get('pid')} on {info.get('host')}, since {info.get('since')})"


@contextlib.contextmanager
def project_lock(paths: Paths, what: str, timeout_s: float, poll_s: float = 1.0) -> Iterator[None]:
    """Hold the project lock for the block; wait up to `timeout_s` (0 = do not wait), then raise ProjectBusy.

    Re-entrant across processes: inside a holder's child (ENV set to this lock) it does nothing.
    """
    if held_by_parent(paths):
        yield
        return
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(paths.lock_file, thread_local=False)  # one holder per process, whichever thread releases
    with contextlib.suppress(Timeout):
        lock.acquire(blocking=False)
    if not lock.is_locked and timeout_s > 0:
        log.warning("%s holds the project lock; waiting up to %g s", describe(holder(paths)), timeout_s)
        with contextlib.suppress(Timeout):
            lock.acquire(timeout=timeout_s, poll_interval=poll_s)
    if not lock.is_locked:
        raise ProjectBusy(
            f"{paths.root}: {describe(holder(paths))} holds the project lock ({paths.lock_file}); "
            f"gave up after waiting {timeout_s:g} s. Wait for it to finish, or raise orchestration.lock_timeout_s"
        )
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        paths.lock_holder.write_text(json.dumps(info), encoding="utf-8")
        previous = os.environ.get(ENV)
        os.environ[ENV] = str(paths.lock_file)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = previous
            with contextlib.suppress(OSError):
                paths.lock_holder.unlink()
    finally:
        lock.release()
