"""Prefect events for accepted contributions: what the deployment `retrain-on-contributions` counts (prefect.yaml).

    emit_accepted(n_accepted, ids)    # the app, after a request's contributions are durable in the store

One event `oekaki.contribution.accepted` per accepted digit, all on one resource, `oekaki.contributions`.
Why one per digit: a Prefect event trigger counts matching events (`threshold` events within `within`);
it has no sum over a field of their payloads, so "N accepted contributions" is N events whether the
digits came one per teach from the page or 2,000 in one batch. The event's payload names the digit's
store id and the size of its batch.

It never blocks or fails the request: `emit_accepted` puts the batch on a queue and returns. A daemon
thread imports Prefect (1-3 s, once, on first use) and hands each event to Prefect's own events worker
(another background thread, one websocket to the server). With no Prefect API URL (PREFECT_API_URL,
which `make serve` hands to the app) nothing is emitted, and the log says so once: Prefect would
otherwise start a temporary server inside the app's process. An event still queued when the process
dies is lost; its digit is not (it is in the store), and the next run, triggered or nightly, learns it.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

EVENT = "oekaki.contribution.accepted"
RESOURCE = {"prefect.resource.id": "oekaki.contributions", "prefect.resource.name": "oekaki contributions"}
MAX_QUEUED = 10_000  # batches waiting for the sender thread; beyond it a batch's events are dropped (logged)

log = logging.getLogger("oekaki.events")
Send = Callable[..., Any]  # send(event=, resource=, occurred=, payload=): prefect.events.emit_event's keywords


def prefect_api_url() -> str | None:
    """The Prefect API URL as Prefect resolves it (environment, then the PREFECT_HOME profile); None when unset."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def prefect_send(**event: Any) -> None:
    from prefect.events import emit_event

    emit_event(**event)


class Emitter:
    """A queue and the one daemon thread that empties it into `send` (Prefect's emit_event unless given).

    `api_url`: the server's URL, or a function that finds it (called once, in the thread); None or
    "" from it means no server: batches are taken off the queue and dropped, logged once.
    """

    def __init__(self, send: Send | None = None, api_url: str | Callable[[], str | None] | None = prefect_api_url):
        self._send, self._api_url = send, api_url
        self._queue: queue.Queue = queue.Queue(MAX_QUEUED)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._resolved = False
        self._target: Send | None = None  # what events go to, once resolved (None: nowhere)
        self._warned: set[str] = set()
        self.emitted = 0  # events handed to `send`

    def emit_accepted(self, n_accepted: int, ids: Sequence[int]) -> None:
        """Queue one event per accepted contribution; returns at once and never raises."""
        try:
            if n_accepted <= 0:
                return
            self._queue.put_nowait((int(n_accepted), [int(i) for i in ids], dt.datetime.now(dt.UTC)))
            self._ensure_thread()
        except queue.Full:
            self._warn_once(
                "full", "the events queue is full (%d batches): %d accepted contributions emit no event", MAX_QUEUED, n_accepted
            )
        except Exception:  # an event must never fail the request that stored the contributions
            log.exception("could not queue the events of %s accepted contributions", n_accepted)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued batch has been handed on (True), or `timeout_s` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """At exit: hand on what is queued, then let Prefect's events worker send what it holds."""
        self.flush(timeout_s)
        if self._target is not None and self._send is None:
            from prefect.events.worker import EventsWorker

            EventsWorker.drain_all(timeout=timeout_s)

    # ------------------------------------------------------------------ the thread
    def _ensure_thread(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="oekaki-events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            n, ids, occurred = self._queue.get()
            try:
                target = self._resolve()
                for i in range(n if target is not None else 0):
                    payload = {"batch_size": n} | ({"contribution_id": ids[i]} if i < len(ids) else {})
                    target(event=EVENT, resource=dict(RESOURCE), occurred=occurred, payload=payload)
                    self.emitted += 1
            except Exception:
                self._warn_once("send", "emitting %d Prefect events failed; the contributions are stored all the same", n, exc_info=True)
            finally:
                self._queue.task_done()

    def _resolve(self) -> Send | None:
        if not self._resolved:
            url = self._api_url() if callable(self._api_url) else self._api_url
            if url:
                self._target = self._send or prefect_send
                log.info("accepted contributions are emitted as Prefect events %r to %s", EVENT, url)
            else:
                log.info("no Prefect API URL (PREFECT_API_URL): accepted contributions emit no Prefect event (make serve sets it)")
            self._resolved = True
        return self._target

    def _warn_once(self, what: str, message: str, *args: Any, exc_info: bool = False) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning(message, *args, exc_info=exc_info)


_default: Emitter | None = None
_default_lock = threading.Lock()


def default() -> Emitter:
    """The process's emitter (Prefect's emit_event, the API URL Prefect's settings name), made on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Emitter()
        return _default


def use(emitter: Emitter | None) -> Emitter | None:
    """Make `emitter` the process's (None: a fresh default on next use); returns the one before (tests)."""
    global _default
    with _default_lock:
        before, _default = _default, emitter
    return before


def emit_accepted(n_accepted: int, ids: list[int]) -> None:
    """One Prefect event per accepted contribution (ids: their store ids), sent in the background; never raises."""
    default().emit_accepted(n_accepted, ids)


def close(timeout_s: float = 5.0) -> None:
    """Send what is still queued (the app calls this when it stops)."""
    if _default is not None:
        _default.close(timeout_s)
