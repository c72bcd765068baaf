"""Promote declares the registry state it reads (issue 35): a champion moved by hand changes promote's
DVC fingerprint; the gate's own move, and a registry left as it was, do not."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from oekaki.core.config import load_config
from oekaki.core.io import write_json
from oekaki.pipeline import fingerprint, gate
from oekaki.pipeline.champions import REGISTERED
from tests.conftest import copy_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project copy and an MLflow store of this test with two versions of each model, v1 the champion."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    client = MlflowClient(uri)
    for name in REGISTERED.values():
        client.create_registered_model(name)
        for _ in range(2):
            client.create_model_version(name, source=(tmp_path / "model").as_uri())
        client.set_registered_model_alias(name, "champion", "1")
    return copy_project(tmp_path / "repo"), client


def promote_key(paths) -> str:
    """What DVC and the flow's cache compare for promote: the digest of its deps (the registry state file among them)."""
    return fingerprint.stage_key(paths, "promote", load_config(paths.params))


def test_a_champion_moved_by_hand_makes_promote_stale(project):
    paths, client = project
    gate.record_registry_state(paths)
    before, written = promote_key(paths), gate.registry_state_file(paths).stat().st_mtime_ns

    gate.record_registry_state(paths)  # nothing moved: the file is not even rewritten
    assert promote_key(paths) == before and gate.registry_state_file(paths).stat().st_mtime_ns == written

    client.set_registered_model_alias("gan-generator", "champion", "2")  # by hand
    assert gate.record_registry_state(paths)["champions"]["gan-generator"] == "2"
    assert promote_key(paths) != before


def test_the_gates_own_move_leaves_promote_up_to_date(project):
    paths, client = project
    row = {"model": "gan-generator", "promote": True, "decision": "promote", "reason": "better"}
    write_json(paths.promote_decision, {"models": {"gan": row | {"candidate": {"version": "2"}, "champion": {"version": "1"}}}})
    gate.record_registry_state(paths)
    before = promote_key(paths)

    assert gate.apply_decision(paths, "a-pipeline-run") == ["gan-generator v2"]
    state = gate.record_registry_state(paths)

    assert state["champions"]["gan-generator"] == "1"  # the champion the decision was made against
    assert promote_key(paths) == before
    client.set_registered_model_alias("gan-generator", "champion", "1")  # back by hand: still what the decision saw
    assert gate.record_registry_state(paths) == state
    client.delete_registered_model_alias("cnn-classifier", "champion")  # a model the decision holds no row for
    assert gate.record_registry_state(paths)["champions"]["cnn-classifier"] is None and promote_key(paths) != before


def test_registry_state_follows_the_decision_rows():
    decision = {
        "models": {
            "cnn": {"model": "cnn", "promote": False, "candidate": {"version": "3"}, "champion": {"version": "2"}},
            "vae": {"model": "vae", "promote": True, "candidate": {"version": "1"}, "champion": None},
            "gan": {"model": "gan", "promote": False, "decision": "none"},
        }
    }
    assert gate.registry_state({"cnn": "2", "vae": "1", "gan": "4"}, decision) == {"cnn": "2", "vae": None, "gan": "4"}
    assert gate.registry_state({"cnn": "3", "vae": "2", "gan": None}, decision) == {"cnn": "3", "vae": "2", "gan": None}
    assert gate.registry_state({"cnn": "2"}, None) == {"cnn": "2"}


def test_the_sql_reading_answers_as_mlflows_client(project, monkeypatch):
    """The no-MLflow-import reading of a SQLite store agrees with MLflow's own client, alias removed and unknown model included."""
    paths, client = project
    client.set_registered_model_alias("vae", "champion", "2")
    client.delete_registered_model_alias("diffusion", "champion")
    names = [*REGISTERED.values(), "no-such-model"]
    fast = gate.read_champions(paths, names)

    def through_mlflow(db, names):
        raise gate.sqlite3.OperationalError("forced: read through MLflow's client")

    monkeypatch.setattr(gate, "_sqlite_champions", through_mlflow)
    assert fast == gate.read_champions(paths, names)
    assert fast["vae"] == "2" and fast["diffusion"] is None and fast["no-such-model"] is None and fast["cnn-classifier"] == "1"


def test_no_store_no_champions_and_none_created(tmp_path, monkeypatch):
    db = tmp_path / "absent.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    paths = copy_project(tmp_path / "repo")
    assert gate.read_champions(paths, ["cnn-classifier"]) == {"cnn-classifier": None}
    assert not db.exists()


def test_a_champion_rolled_back_by_hand_is_not_moved_forward_again(project):
    """The gate applies a decision once: the next make run (promote up to date) leaves a hand rollback alone."""
    paths, client = project
    row = {"model": "gan-generator", "promote": True, "decision": "promote", "reason": "better"}
    write_json(paths.promote_decision, {"models": {"gan": row | {"candidate": {"version": "2"}, "champion": {"version": "1"}}}})
    assert gate.apply_decision(paths, "a-pipeline-run") == ["gan-generator v2"]
    assert gate.decision_applied(paths)

    client.set_registered_model_alias("gan-generator", "champion", "1")  # rolled back by hand
    assert gate.apply_decision(paths, "the-next-run") == []
    assert str(client.get_model_version_by_alias("gan-generator", "champion").version) == "1"

    # a new decision (promote re-ran) is applied again
    write_json(
        paths.promote_decision, {"models": {"gan": row | {"candidate": {"version": "2"}, "champion": {"version": "1"}, "reason": "re-run"}}}
    )
    assert not gate.decision_applied(paths)
    assert gate.apply_decision(paths, "a-third-run") == ["gan-generator v2"]
