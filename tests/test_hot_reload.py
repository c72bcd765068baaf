"""The app serves a new champion without a restart (oekaki/app/service.py, Models.watch).

A real MLflow SQLite store in a temporary folder holds two versions of a small untrained judge
(random weights: the loading, not the reading, is under test). The alias `champion` moves from
version 1 to version 2; /api/info names version 2 within the poll interval, with the version's
`contributed_digits` tag; an answer in flight during the swap finishes on version 1.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from oekaki.app import service
from oekaki.app.api import create_app
from oekaki.app.service import Models
from oekaki.core.checkpoints import save_checkpoint
from oekaki.core.paths import Paths
from oekaki.models.cnn import build

NAME = "cnn-classifier"
ARGS = {"channels": [4, 8], "hidden": 8, "dropout": 0.0, "mean": 0.13, "std": 0.31}
POLL_S = 0.5


class Store:
    """A fresh MLflow store with `register(tags)` -> version of a random small judge (checkpoint/model.pt, as the runner logs it)."""

    def __init__(self, tmp):
        self.uri, self.tmp = f"sqlite:///{tmp / 'mlflow.db'}", tmp
        self.client = MlflowClient(self.uri)
        self.experiment = self.client.create_experiment("oekaki", artifact_location=(tmp / "artifacts").as_uri())

    def register(self, tags: dict[str, str] | None = None, with_checkpoint: bool = True) -> str:
        run = self.client.create_run(self.experiment).info.run_id
        if with_checkpoint:
            torch.manual_seed(len(list(self.tmp.glob("ckpt-*"))))
            ckpt = self.tmp / f"ckpt-{run}" / "model.pt"
            save_checkpoint(ckpt, {"kind": "cnn", "model_args": ARGS, "model": build(ARGS).state_dict()})
            self.client.log_artifact(run, str(ckpt), artifact_path="checkpoint")
        if not self.client.search_registered_models(f"name='{NAME}'"):
            self.client.create_registered_model(NAME)
        version = str(self.client.create_model_version(NAME, f"runs:/{run}/checkpoint", run_id=run, tags=tags or {}).version)
        return version

    def champion(self, version: str) -> None:
        self.client.set_registered_model_alias(NAME, "champion", version)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    store = Store(tmp_path)
    store.champion(store.register())
    return store


@pytest.fixture
def models(store, tmp_path):
    models = Models(Paths(tmp_path / "project"), "http://127.0.0.1:5000")  # no trained outputs: only the registry's judge
    yield models
    models.stop()


def digit() -> np.ndarray:
    return service.warm_digit()


def test_info_names_the_new_champion_within_the_poll_interval_with_its_contributed_digits(store, models):
    client = TestClient(create_app(models, "http://127.0.0.1:5000"))
    judge = client.get("/api/info").json()["sources"]["cnn"]
    assert (judge["version"], judge["alias"], judge["contributed_digits"]) == ("1", "champion", 0)  # no tag: 0 digits
    assert set(models.missing) >= {"vae", "gan", "diffusion", "gmm"}  # nothing else trained here: those answer 503
    models.watch(POLL_S)
    new = store.register({"contributed_digits": "1234", "snapshot_digest": "abc123"})
    time.sleep(2 * POLL_S)
    assert client.get("/api/info").json()["sources"]["cnn"]["version"] == "1"  # registered is not promoted
    moved = time.monotonic()
    store.champion(new)
    while (judge := client.get("/api/info").json()["sources"]["cnn"])["version"] != new:
        assert time.monotonic() - moved < 30, "the app did not serve the new champion within 30 s"
        time.sleep(0.05)
    seconds = time.monotonic() - moved
    assert (judge["contributed_digits"], judge["snapshot_digest"], judge["alias"]) == (1234, "abc123", "champion")
    assert seconds < POLL_S + 10, seconds  # one poll, then a small judge's load
    assert models.swaps == [{"kind": "cnn", "from": "1", "to": new, "seconds": models.swaps[0]["seconds"]}]
    r = client.post("/api/judge", json={"image": _drawing()})
    assert r.status_code == 200 and r.json()["source"]["version"] == new


def _drawing() -> str:
    from oekaki.app.drawing import encode_canvas

    ink = np.zeros((280, 280), np.uint8)
    ink[40:240, 130:152] = 255
    return encode_canvas(ink)


def test_an_answer_in_flight_during_the_swap_finishes_on_the_old_model(store, models):
    old = models.judge
    answers = {}
    models.lock.acquire()  # an answer in progress holds the lock: the next one has taken its model and waits
    try:
        reader = threading.Thread(target=lambda: answers.update(first=models.read(digit())))
        reader.start()
        time.sleep(0.3)
        assert reader.is_alive()
        store.champion(store.register())
        assert models.check() == ["cnn"]  # the swap does not wait for answers
        assert models.judge is not old and models.sources["cnn"].version == "2"
    finally:
        models.lock.release()
    reader.join(30)
    assert answers["first"]["source"]["version"] == "1"  # it finished on the model it took
    expected = old.judge(digit()[None]).probs[0]
    assert answers["first"]["probs"] == pytest.approx(expected.tolist())
    assert models.read(digit())["source"]["version"] == "2"
    assert models.check() == []  # nothing moved since


def test_a_champion_that_cannot_be_loaded_leaves_the_old_one_serving(store, models, caplog):
    broken = store.register(with_checkpoint=False)  # a version whose run has no checkpoint
    store.champion(broken)
    with caplog.at_level(logging.WARNING, logger="oekaki.app"):
        assert models.check() == []
    assert models.sources["cnn"].version == "1" and models.read(digit())["source"]["version"] == "1"
    assert f"moved to version {broken} but cannot be loaded; still serving 1" in caplog.text
    caplog.clear()
    assert models.check() == [] and caplog.text == ""  # not tried again at every poll (RETRY_S)
    fixed = store.register()
    store.champion(fixed)
    assert models.check() == ["cnn"] and models.sources["cnn"].version == fixed


def test_an_alias_removed_falls_back_and_an_alias_set_later_is_picked_up(store, models):
    store.client.delete_registered_model_alias(NAME, "champion")
    assert models.check() == []  # no DVC-tracked judge here to fall back to: version 1 keeps serving
    assert models.sources["cnn"].version == "1"
    store.champion("1")
    assert models.check() == []
    assert models.champions()["cnn"] == "1" and models.champions()["vae"] is None
