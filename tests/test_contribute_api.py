"""Teaching the judge through the app's API (oekaki/app/api.py): /api/teach reads a drawing as /api/judge does and
stores it with the judge's reading and version; /api/contribute takes a JSON or .npz batch; a contributor lists and
erases their own digits with their token. Every refusal is a clear 4xx {"error": ...} and stores nothing.

The app runs over a real SQLite store in tmp_path and an untrained judge written where the DVC-tracked one lives
(models/cnn/model.pt): a real reading in milliseconds, no training.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from oekaki.app import drawing
from oekaki.app.api import BATCH_ROUTE, MAX_BODY, TOKEN_HEADER, batch_limit, create_app
from oekaki.app.service import Models
from oekaki.core.config import load_config
from oekaki.core.paths import Paths, project_paths
from oekaki.data.contributions import Store
from tests.test_intake import NOISE, digits

TOKEN = "page-token_" + "x" * 21
OTHER = "other-token_" + "y" * 20
DVC_JUDGE = "dvc:models/cnn/model.pt"


def untrained_judge(root: Path) -> Paths:
    """A project folder whose only model is an untrained judge at models/cnn/model.pt (seeded: the same every time)."""
    import torch

    from oekaki.core.checkpoints import save_checkpoint
    from oekaki.models.cnn import CnnArgs, DigitCNN

    torch.manual_seed(0)
    model = DigitCNN(CnnArgs((8, 16), 32, 0.0, 0.13, 0.31)).eval()
    paths = Paths(root)
    save_checkpoint(paths.cnn_model, {"kind": "cnn", "model_args": model.args.as_dict(), "model": model.state_dict()})
    return paths


def teach_app(root: Path, judge: bool = True, store: bool = True, **rules):
    """(the app over `root` with its own SQLite store, the store, the Models); `rules`: contributions params changed."""
    paths = untrained_judge(root) if judge else Paths(root)
    models = Models(paths, "")
    cfg = load_config(project_paths().params).contributions.model_copy(update=rules)
    db = Store.of_project(None, root / "store.sqlite") if store else None
    return create_app(models, "", db, cfg if store else None), db, models


@pytest.fixture
def no_registry(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # no MLflow store: the DVC-tracked judge answers


@pytest.fixture
def app(tmp_path, no_registry):
    app, store, models = teach_app(tmp_path)
    with TestClient(app) as client:
        yield client, store, models


def one() -> str:
    ink = np.zeros((280, 280), np.uint8)
    ink[40:240, 130:152] = 255
    return drawing.encode_canvas(ink)


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_teach_stores_the_drawing_as_the_judge_reads_it_with_its_reading_and_version(app):
    client, store, models = app
    judged = client.post("/api/judge", json={"image": one()}).json()
    r = client.post("/api/teach", json={"image": one(), "label": 1, "token": TOKEN})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] >= 1 and body["label"] == 1 and body["accepted"] == 1 and body["read_by"] == DVC_JUDGE
    item = body["items"][0]
    assert item["judge_label"] == judged["label"] and item["judge_confidence"] == pytest.approx(max(judged["probs"]))
    stored = store.export()
    assert np.array_equal(stored["images"][0], np.array(judged["digit"], np.uint8))  # exactly the digit /api/judge read
    listed = client.get("/api/contributions", headers={TOKEN_HEADER: TOKEN}).json()
    assert listed["count"] == 1 and listed["contributions"][0] | {"created": 0} == {
        "id": body["id"], "label": 1, "judge_label": judged["label"], "judge_confidence": item["judge_confidence"],
        "model_version": DVC_JUDGE, "created": 0, "writer": None}  # fmt: skip

    again = client.post("/api/teach", json={"image": one(), "label": 1, "token": TOKEN})
    assert again.status_code == 409 and again.json()["error"].startswith("a duplicate") and store.count() == 1
    assert client.post("/api/teach", json={"image": one(), "label": 1, "token": OTHER}).status_code == 201  # someone else's


def test_teach_without_a_judge_stores_the_digit_unread(tmp_path, no_registry):
    app, store, _ = teach_app(tmp_path, judge=False)
    client = TestClient(app)
    assert client.post("/api/judge", json={"image": one()}).status_code == 503
    r = client.post("/api/teach", json={"image": one(), "label": 1, "token": TOKEN})
    assert r.status_code == 201 and r.json()["read_by"] is None and "judge_label" not in r.json()["items"][0]
    assert store.list(TOKEN)[0]["judge_label"] is None


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"image": drawing.encode_canvas(np.zeros((280, 280), np.uint8)), "label": 1, "token": TOKEN}, 422, "the canvas is empty"),
        ({"image": "one", "label": 10, "token": TOKEN}, 422, "label: Input should be less than or equal to 9"),
        ({"image": "one", "label": 1}, 422, "token: Field required"),
        ({"image": "one", "label": 1, "token": "short"}, 422, "token: 5 characters, not 16 to 128 characters"),
        ({"image": "one", "label": 1, "token": "ö" * 20}, 422, "token: 20 characters, not 16 to 128 characters"),
        ({"image": "one", "label": 1, "token": TOKEN, "path": "/etc"}, 422, "path: Extra inputs are not permitted"),
        ({"image": drawing.encode_canvas(np.pad(np.full((4, 4), 255, np.uint8), 138)), "label": 1, "token": TOKEN}, 422, "mostly ink"),
    ],
)
def test_a_bad_teach_is_a_clear_4xx_and_stores_nothing(app, body, status, message):
    client, store, _ = app
    body = {k: one() if v == "one" else v for k, v in body.items()}
    r = client.post("/api/teach", json=body)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert store.count() == 0


def test_a_json_batch_answers_per_digit_and_stores_what_passes_the_door(app):
    client, store, _ = app
    images = np.concatenate([digits(3), np.zeros((1, 28, 28), np.uint8), NOISE[None].astype(np.uint8)])
    body = {"images": images.tolist(), "labels": [1, 2, 3, 4, 5], "writers": ["a", "a", "b", "c", "d"], "token": TOKEN}
    r = client.post(BATCH_ROUTE, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 3 and out["refused"] == {"blank or nearly blank": 1, "mostly ink, not a digit": 1}
    assert [(i["index"], i["status"]) for i in out["items"]] == [(0, 201), (1, 201), (2, 201), (3, 422), (4, 422)]
    assert out["read_by"] == DVC_JUDGE and all("judge_label" in i for i in out["items"][:3])
    assert [r["writer"] for r in store.list(TOKEN)] == ["a", "a", "b"]
    again = client.post(BATCH_ROUTE, json=body)
    assert again.status_code == 422  # duplicates and door refusals: the request as a whole cannot be read
    assert again.json()["error"].startswith("none of the 5 digits was stored: a duplicate (3)") and store.count() == 3


def test_an_npz_upload_is_a_batch_too(app):
    client, store, _ = app
    images = digits(4)
    data = npz(images=images, labels=np.array([1, 2, 3, 4]), writers=np.array(["w1", "w2", "w3", "w4"]))
    r = client.post(BATCH_ROUTE, files={"file": ("new.npz", data)}, data={"token": TOKEN})
    assert r.status_code == 201 and r.json()["accepted"] == 4, r.text
    assert np.array_equal(store.export()["images"], images) and [r["writer"] for r in store.list(TOKEN)] == ["w1", "w2", "w3", "w4"]


def test_a_batch_from_another_site_is_refused(app):
    """A form post is a "simple" cross-site request: a page elsewhere could make a visitor's browser send one."""
    client, store, _ = app
    data = npz(images=digits(1), labels=np.array([1]))
    r = client.post(BATCH_ROUTE, files={"file": ("a.npz", data)}, data={"token": TOKEN}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "another site" in r.json()["error"] and store.count() == 0
    same = client.post(BATCH_ROUTE, files={"file": ("a.npz", data)}, data={"token": TOKEN}, headers={"Origin": "http://testserver"})
    assert same.status_code == 201


def huge_header() -> bytes:
    """An .npz whose images.npy declares 10**13 bytes in a few: loading it would ask for all of them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10**13,)})
        z.writestr("images.npy", header.getvalue() + b"\0" * 64)
        labels = io.BytesIO()
        np.save(labels, np.array([1]))
        z.writestr("labels.npy", labels.getvalue())
    return buf.getvalue()


@pytest.mark.parametrize(
    "files, data, status, message",
    [
        ({"file": ("a.npz", huge_header())}, {"token": TOKEN}, 422, "a.npz: key 'images' declares shape (10000000000000,)"),
        ({"file": ("a.npz", npz(images=np.zeros((1, 28, 28), np.uint8)))}, {"token": TOKEN}, 422, "a.npz: no key 'labels' (it has images)"),
        ({"file": ("a.npz", b"PK not really")}, {"token": TOKEN}, 422, "a.npz: not an .npz file"),
        ({"file": ("a.npz", npz(images=np.zeros((1, 28, 28)), labels=[1], writers=np.array([None])))}, {"token": TOKEN}, 422, "objects"),
        ({"file": ("a.npz", npz(images=np.zeros((1, 28, 28), np.uint8), labels=[1]))}, {}, 422, "token: missing"),
        ({"file": ("a.npz", npz(images=np.zeros((2, 28, 28), np.uint8), labels=[1]))}, {"token": TOKEN}, 422, "labels: shape (1,)"),
        ({}, {"token": TOKEN}, 422, "body: 0 files; upload one .npz file"),
    ],
)
def test_a_bad_upload_names_the_file_and_the_key(app, files, data, status, message):
    client, store, _ = app
    r = client.post(BATCH_ROUTE, files=files or {"x": (None, b"")}, data=data)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert store.count() == 0


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"images": [[[0] * 28] * 28], "labels": [1]}, 422, "token: Field required"),
        ({"images": [[[0] * 28] * 28], "labels": [1], "token": TOKEN, "extra": 1}, 422, "extra: Extra inputs are not permitted"),
        ({"images": [[[0] * 28] * 27], "labels": [1], "token": TOKEN}, 422, "images: shape (1, 27, 28)"),
        ({"images": [[["a"] * 28] * 28], "labels": [1], "token": TOKEN}, 422, "images: <U1 values; expected integers 0-255"),
        ({"images": [], "labels": [], "token": TOKEN}, 422, "images: no digit in the request"),
        ([1, 2], 422, "body: expected a JSON object"),
    ],
)
def test_a_bad_json_batch_is_a_clear_4xx(app, body, status, message):
    client, store, _ = app
    r = client.post(BATCH_ROUTE, json=body)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert set(r.json()) == {"error"} and store.count() == 0


def test_the_batch_route_has_its_own_body_limit_and_max_batch_every_other_route_keeps_64_kb(tmp_path, no_registry):
    app, store, _ = teach_app(tmp_path, max_batch=3)
    client = TestClient(app)
    limit = batch_limit(3)
    assert limit > MAX_BODY
    r = client.post(BATCH_ROUTE, json={"images": digits(4).tolist(), "labels": [1] * 4, "token": TOKEN})
    assert r.status_code == 413 and r.json()["error"] == "4 digits in one request, over contributions.max_batch = 3: split it"
    big = b'{"images": [' + b"0, " * (limit // 3) + b'0], "labels": [], "token": "x"}'
    r = client.post(BATCH_ROUTE, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == f"the request body is over {limit // 1024} KB"
    r = client.post("/api/teach", content=b" " * (MAX_BODY + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over 64 KB" in r.json()["error"]
    r = client.post(BATCH_ROUTE, content=b"images=1", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "send JSON (application/json) or an .npz file (multipart/form-data)" in r.json()["error"]
    assert store.count() == 0 and client.get("/api/info").json()["limits"]["max_batch"] == 3


def test_a_contributor_lists_and_erases_only_their_own(app):
    client, store, _ = app
    mine = client.post(BATCH_ROUTE, json={"images": digits(3).tolist(), "labels": [1, 2, 3], "token": TOKEN}).json()["ids"]
    theirs = client.post(BATCH_ROUTE, json={"images": digits(1).tolist(), "labels": [1], "token": OTHER}).json()["ids"]
    assert [c["id"] for c in client.get("/api/contributions", headers={TOKEN_HEADER: TOKEN}).json()["contributions"]] == mine
    r = client.delete("/api/contributions", params={"ids": [mine[0], theirs[0]]}, headers={TOKEN_HEADER: TOKEN})
    assert r.status_code == 200 and r.json() == {"erased": 1}
    assert client.delete("/api/contributions", headers={TOKEN_HEADER: TOKEN}).json() == {"erased": 2}
    assert client.get("/api/contributions", headers={TOKEN_HEADER: TOKEN}).json() == {"count": 0, "contributions": []}
    assert [r["id"] for r in store.list(OTHER)] == theirs
    for method in ("get", "delete"):
        r = getattr(client, method)("/api/contributions")
        assert r.status_code == 422 and r.json()["error"].startswith("token: missing")
        r = getattr(client, method)("/api/contributions", headers={TOKEN_HEADER: "nope"})
        assert r.status_code == 422 and "token: 4 characters" in r.json()["error"]
    assert store.count() == 1


def test_without_a_store_the_teach_routes_answer_503(tmp_path, no_registry):
    app, _, _ = teach_app(tmp_path, store=False)
    client = TestClient(app)
    assert client.get("/api/info").json()["teach"] is False
    for method, path, kw in [
        ("post", "/api/teach", {"json": {"image": one(), "label": 1, "token": TOKEN}}),
        ("post", BATCH_ROUTE, {"json": {}}),
        ("get", "/api/contributions", {}),
        ("delete", "/api/contributions", {}),
    ]:
        r = getattr(client, method)(path, **kw)
        assert r.status_code == 503 and "contributions are off" in r.json()["error"], (path, r.text)


def test_accepted_digits_are_announced_and_a_failing_announcement_fails_nothing(app, monkeypatch):
    from oekaki.pipeline import events

    client, store, _ = app
    seen = []
    monkeypatch.setattr(events, "emit_accepted", lambda n, ids: seen.append((n, ids)))
    ids = client.post(BATCH_ROUTE, json={"images": digits(2).tolist(), "labels": [1, 2], "token": TOKEN}).json()["ids"]
    client.post(BATCH_ROUTE, json={"images": digits(2).tolist(), "labels": [1, 2], "token": TOKEN})  # duplicates: nothing to say
    assert seen == [(2, ids)]

    def broken(n, ids):
        raise RuntimeError("no Prefect server")

    monkeypatch.setattr(events, "emit_accepted", broken)
    assert client.post("/api/teach", json={"image": one(), "label": 1, "token": TOKEN}).status_code == 201
    assert store.count() == 3


@contextlib.contextmanager
def served(app):
    """`app` served by uvicorn on a free 127.0.0.1 port in a thread (as tests/test_app.py's live_app); yields its URL."""
    from oekaki.app.serve import bind, server, url_of

    sock = bind("127.0.0.1", 0)
    srv = server(app, log_level="warning")
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not srv.started and time.time() < deadline:
            time.sleep(0.05)
        assert srv.started, "uvicorn did not start"
        yield url_of(sock)
    finally:
        srv.should_exit = True
        thread.join(10)
        sock.close()
