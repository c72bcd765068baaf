"""Accepted contributions as Prefect events (oekaki/pipeline/events.py), and the trigger that counts them.

The unit tests inject a fake `send` (what prefect.events.emit_event would get). The slow test starts
a real Prefect server, deploys `retrain-on-contributions` from prefect.yaml with a threshold of 5,
emits from a separate process as the app does, and sees the trigger schedule a flow run (no worker:
nothing trains).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
import urllib.request

import pytest
import yaml

from oekaki.core.paths import PROJECT_ROOT
from oekaki.pipeline import events
from tests.conftest import VENV_BIN, copy_project, tool_env


class Fake:
    """Records what would go to Prefect; `gate` (when given) holds every send until it is set."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False):
        self.sent: list[dict] = []
        self.gate, self.fail = gate, fail

    def __call__(self, **event):
        if self.gate is not None:
            self.gate.wait(30)
        if self.fail:
            raise ConnectionError("the server is away")
        self.sent.append(event)


def test_one_event_per_accepted_contribution_on_one_resource():
    fake = Fake()
    emitter = events.Emitter(send=fake, api_url="http://127.0.0.1:4200/api")
    emitter.emit_accepted(3, [7, 8, 9])  # a batch of three
    emitter.emit_accepted(1, [10])  # a teach
    emitter.emit_accepted(0, [])  # nothing accepted: nothing to count
    assert emitter.flush(10)
    assert [e["payload"] for e in fake.sent] == [
        {"batch_size": 3, "contribution_id": 7},
        {"batch_size": 3, "contribution_id": 8},
        {"batch_size": 3, "contribution_id": 9},
        {"batch_size": 1, "contribution_id": 10},
    ]
    assert {e["event"] for e in fake.sent} == {events.EVENT} and all(e["resource"] == events.RESOURCE for e in fake.sent)
    assert fake.sent[0]["occurred"] <= fake.sent[3]["occurred"] and fake.sent[0]["occurred"].tzinfo is not None
    assert emitter.emitted == 4


def test_emitting_never_waits_for_the_server():
    gate = threading.Event()
    fake = Fake(gate)
    emitter = events.Emitter(send=fake, api_url="http://127.0.0.1:4200/api")
    start = time.perf_counter()
    for i in range(100):
        emitter.emit_accepted(20, list(range(20 * i, 20 * i + 20)))
    assert time.perf_counter() - start < 0.5  # 2,000 events queued while the sender is stuck
    assert fake.sent == [] and not emitter.flush(0.1)
    gate.set()
    assert emitter.flush(30) and len(fake.sent) == 2000


def test_a_failing_send_is_logged_once_and_never_raises(caplog):
    emitter = events.Emitter(send=Fake(fail=True), api_url="http://127.0.0.1:4200/api")
    with caplog.at_level(logging.WARNING, logger="oekaki.events"):
        emitter.emit_accepted(2, [1, 2])
        emitter.emit_accepted(2, [3, 4])
        assert emitter.flush(10)
    assert caplog.text.count("emitting 2 Prefect events failed") == 1 and emitter.emitted == 0


def test_no_prefect_api_url_emits_nothing_and_says_so_once(caplog):
    fake, asked = Fake(), []
    emitter = events.Emitter(send=fake, api_url=lambda: asked.append(1) or None)
    with caplog.at_level(logging.INFO, logger="oekaki.events"):
        emitter.emit_accepted(5, [1, 2, 3, 4, 5])
        emitter.emit_accepted(5, [6, 7, 8, 9, 10])
        assert emitter.flush(10)
    assert fake.sent == [] and asked == [1]  # looked up once
    assert caplog.text.count("no Prefect API URL (PREFECT_API_URL)") == 1


def test_the_default_emitter_finds_no_url_in_a_bare_environment(monkeypatch, tmp_path):
    """The process's emitter asks Prefect's settings; with no URL it never hands an event to Prefect (which would
    otherwise start a temporary server inside the app)."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    code = (
        "from oekaki.pipeline import events\n"
        "events.prefect_send = lambda **e: print('SENT')\n"
        "events.emit_accepted(3, [1, 2, 3]); assert events.default().flush(60); events.close()\n"
        "print('emitted', events.default().emitted)\n"
    )
    proc = subprocess.run([f"{VENV_BIN}/python", "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["emitted", "0"]


def test_the_process_emitter_can_be_replaced():
    fake = Fake()
    before = events.use(events.Emitter(send=fake, api_url="http://x/api"))
    try:
        events.emit_accepted(2, [1, 2])
        assert events.default().flush(10) and len(fake.sent) == 2
    finally:
        events.use(before)


# ------------------------------------------------------------------ a real server
def api(base: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.load(resp)


def emit_from_a_process(env: dict, n: int) -> None:
    """What the app does for one request that stored `n` digits, in a process of its own."""
    code = f"from oekaki.pipeline import events; events.emit_accepted({n}, list(range({n}))); events.close(30)"
    proc = subprocess.run([f"{VENV_BIN}/python", "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_the_trigger_schedules_a_retraining_after_n_accepted_contributions(tmp_path):
    from flows.serve import set_up
    from oekaki.pipeline.servers import PrefectServer

    paths = copy_project(tmp_path / "repo")
    spec = yaml.safe_load(paths.root.joinpath("prefect.yaml").read_text())
    spec["deployments"] = [d for d in spec["deployments"] if d["name"] == "retrain-on-contributions"]
    threshold = 5
    spec["deployments"][0]["triggers"][0]["threshold"] = threshold
    paths.root.joinpath("prefect.test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    env = tool_env(tmp_path, OEKAKI_PROJECT_DIR=str(paths.root))
    server = PrefectServer(tmp_path / "prefect", env)
    try:
        env["PREFECT_API_URL"] = base = server.wait_healthy()
        set_up(env, paths.root, "prefect.test.yaml")
        dep = api(base, "/deployments/name/training-pipeline/retrain-on-contributions")
        automations = api(base, "/automations/filter", {})
        assert [(a["trigger"]["threshold"], a["trigger"]["expect"]) for a in automations] == [(threshold, [events.EVENT])]

        def runs() -> list[dict]:
            return api(base, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}}})

        emit_from_a_process(env, threshold - 1)  # one batch: four contributions, four events
        deadline = time.time() + 60
        while api(base, "/events/filter", {"filter": {"event": {"name": [events.EVENT]}}})["total"] < threshold - 1:
            assert time.time() < deadline, "the events did not reach the server"
            time.sleep(0.5)
        time.sleep(3)
        assert runs() == []  # four of five: no run
        emit_from_a_process(env, 1)
        sent = time.monotonic()
        while not (found := runs()):
            assert time.monotonic() - sent < 90, "the trigger did not create a flow run"
            time.sleep(0.5)
        print(f"flow run {found[0]['name']} created {time.monotonic() - sent:.1f} s after the {threshold}th event was emitted")
        assert len(found) == 1 and found[0]["state"]["type"] == "SCHEDULED"
        emit_from_a_process(env, threshold)  # within the same window: counted again only from the window's end
        time.sleep(5)
        assert len(runs()) == 1
    finally:
        server.stop()
    assert not os.path.exists(paths.root / ".prefect")  # deploying wrote nothing into the project
