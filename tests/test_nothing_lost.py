"""Nothing lost (issue 36, the drill's smaller version): 16 concurrent clients post contributions to the real app
while it is killed with SIGKILL once and restarted, and while the `contributions` stage takes snapshots and the
judge retrains (tiny profile). 400 digits by default; OEKAKI_DRILL_DIGITS=2000 runs the issue's full size.

Every acknowledged digit is in the store exactly once (a client whose request got no answer posts it again: a
duplicate is refused, never stored twice), no row is half-written (every image is 784 bytes and hashes to its
recorded SHA-256), and every snapshot taken meanwhile is consistent (its manifest's counts match its arrays,
and its ids are store ids of that moment). A retrain reads nothing but the snapshot file (dataset.load_training),
so a consistent snapshot is a consistent retrain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from oekaki.core.config import load_config
from oekaki.data import dataset
from oekaki.data.contributions import Store
from oekaki.pipeline.servers import free_port
from tests.conftest import copy_project, shrink_params, tool_env

pytestmark = pytest.mark.slow
CLIENTS, PER_BATCH = 16, 5
BATCHES = int(os.environ.get("OEKAKI_DRILL_DIGITS", "400")) // (CLIENTS * PER_BATCH)  # the full drill: 2000


def digit(client: int, k: int) -> list:
    """A stroke, different for every (client, k): k and the client are written into two pixels' grey levels."""
    img = np.zeros((28, 28), np.uint8)
    img[5 + k % 6 : 23, 12 + client % 5 : 15 + client % 5] = 255
    img[10, 11 + client % 5], img[12, 11 + client % 5] = 64 + k % 150, 64 + client
    return img.tolist()


def post(url: str, body: dict) -> tuple[int, dict] | None:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (OSError, ValueError):  # refused, reset, or cut off mid-answer: no acknowledgement
        return None


def start_app(root, env, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "oekaki.app", "--root", str(root), "--port", str(port), "--poll", "0"]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def wait_up(url: str, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "api/info", timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def test_acknowledged_contributions_survive_a_killed_app_and_snapshots_stay_consistent(tmp_path):
    paths = copy_project(tmp_path / "project")  # no models: the app stores digits unread
    shrink_params(paths, data={"source": "bundled", "limit": 1500}, cnn={"epochs": 1, "min_steps": 0, "batch_size": 64})
    env = tool_env(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    app = start_app(paths.root, env, port)
    wait_up(url)
    acked: dict[tuple[int, int], int | None] = {}  # (client, k) -> store id (None: acknowledged as a duplicate on retry)
    lock = threading.Lock()
    stop_snapshots = threading.Event()
    snapshots: list[dict] = []

    def client(c: int) -> None:
        token = f"drill-client-{c:02d}-aaaaaaaa"
        for b in range(BATCHES):
            ks = list(range(b * PER_BATCH, (b + 1) * PER_BATCH))
            body = {"images": [digit(c, k) for k in ks], "labels": [k % 10 for k in ks], "token": token}
            for _ in range(200):  # until an answer: the app may be down for a while
                answer = post(url + "api/contribute", body)
                if answer is not None and answer[0] < 500:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"client {c}: no answer")
            status, reply = answer
            with lock:
                for item in reply.get("items", []):
                    if item["status"] == 201:
                        acked[(c, ks[item["index"]])] = item["id"]
                    elif item["status"] == 409:  # stored by a request whose answer the kill cut off
                        acked.setdefault((c, ks[item["index"]]), None)

    def stage(name: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "oekaki", "stage", name], cwd=paths.root, env=env, capture_output=True)
        assert proc.returncode == 0, proc.stderr[-2000:]

    def snapshotter() -> None:  # snapshots all along, and a retrain (download, then the judge) on the first
        while len(acked) < 20 and not stop_snapshots.is_set():  # some digits in the store first
            time.sleep(0.01)
        while not stop_snapshots.is_set():
            stage("contributions")
            with np.load(paths.contributions_snapshot) as npz:
                snapshots.append({"manifest": json.loads(paths.contributions_manifest.read_text()), "ids": npz["ids"].tolist()})
            if len(snapshots) == 1:
                shutil.copy(paths.contributions_snapshot, tmp_path / "trained-on.npz")
                stage("download")
                stage("cnn")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    snap = threading.Thread(target=snapshotter)
    for t in (*threads, snap):
        t.start()
    deadline = time.time() + 120
    while len(acked) < 40 and time.time() < deadline:  # a tenth acknowledged: the kill falls mid-drill on any machine
        time.sleep(0.01)
    os.killpg(app.pid, signal.SIGKILL)  # mid-flight: some requests die unanswered
    app.wait()
    killed_at = len(acked)
    app = start_app(paths.root, env, port)
    try:
        wait_up(url)
        for t in threads:
            t.join(300)
        stop_snapshots.set()
        snap.join(120)
    finally:
        os.killpg(app.pid, signal.SIGINT)
        app.wait(60)
    store = Store.of_project(None, paths.contributions_store)
    rows = store.export()
    assert len(acked) == CLIENTS * BATCHES * PER_BATCH, "a client gave up"  # all acknowledged, once or after a 409 retry
    assert 0 < killed_at < len(acked), "the kill did not fall mid-drill"
    ids = rows["ids"].tolist()
    assert sorted(ids) == sorted(set(ids)) and {i for i in acked.values() if i is not None} <= set(ids)
    pairs = list(zip(rows["token_sha"].tolist(), rows["image_sha"].tolist(), strict=True))
    assert len(pairs) == len(set(pairs)) == len(acked)  # each digit once, retries or not
    for img, sha in zip(rows["images"], rows["image_sha"].tolist(), strict=True):
        assert hashlib.sha256(img.tobytes()).hexdigest() == sha  # no half-written row
    trained = torch.load(paths.cnn_model, weights_only=True)["data_sha256"]  # the retrain's data: base + that snapshot
    with np.load(tmp_path / "trained-on.npz") as npz:
        snap = {k: npz[k] for k in npz.files}
    expected = dataset.with_contributions(
        dataset.TensorData.load(paths.prepared, torch.device("cpu")), snap, load_config(paths.params).contributions.weight
    )
    assert trained == expected.sha256 and expected.n_contributed > 0  # trained on one whole snapshot, contributions included
    assert snapshots, "no snapshot was taken during the drill"
    for s in snapshots:  # each one consistent with itself and a set of stored rows of its moment
        assert s["manifest"]["n"] == len(s["ids"]) and set(s["ids"]) <= set(ids)
        assert s["manifest"]["newest_id"] == (max(s["ids"]) if s["ids"] else 0)
