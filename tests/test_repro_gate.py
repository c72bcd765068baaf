"""`make run`'s entry point on the tiny profile, in a temporary copy (issue 35): the gate's decision takes
effect as after the Prefect flow, and promote declares the registry state it reads."""

from __future__ import annotations

import json
import subprocess

import pytest
from mlflow.tracking import MlflowClient

from oekaki.core.io import read_json
from oekaki.core.paths import Paths
from oekaki.pipeline.champions import REGISTERED
from tests.conftest import VENV_BIN, tiny_project, tool_env

pytestmark = pytest.mark.slow  # the whole tiny pipeline through `python -m oekaki repro`, then an experiment


def sh(paths: Paths, env: dict, *args: str) -> str:
    proc = subprocess.run(list(args), cwd=paths.root, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def repro(tmp_path_factory) -> tuple[Paths, dict, str]:
    """(project, environment, output) of one `python -m oekaki repro` (what `make run` calls) on E2E_TINY."""
    tmp = tmp_path_factory.mktemp("repro-gate")
    paths = tiny_project(tmp)
    env = tool_env(tmp)
    return paths, env, sh(paths, env, f"{VENV_BIN}/python", "-m", "oekaki", "repro")


def client_of(env: dict) -> MlflowClient:
    return MlflowClient(env["MLFLOW_TRACKING_URI"])


def dvc_status(paths: Paths, env: dict) -> dict:
    return json.loads(sh(paths, env, "dvc", "status", "--json"))


def test_make_run_moves_the_four_champions_as_the_gate_decided(repro):
    paths, env, out = repro
    decision = read_json(paths.promote_decision)["models"]
    assert {row["model"]: row["decision"] for row in decision.values()} == {name: "promote" for name in REGISTERED.values()}
    client = client_of(env)
    for row in decision.values():
        assert str(client.get_model_version_by_alias(row["model"], "champion").version) == row["candidate"]["version"]
    assert "promotion gate: " in out


def test_promote_reruns_when_a_champion_is_moved_by_hand_and_only_then(repro):
    paths, env, _ = repro
    assert dvc_status(paths, env) == {
        "contributions": ["always changed"],
        "source": ["always changed"],
    }  # the gate's own move left promote up to date
    client = client_of(env)
    name = REGISTERED["gan"]
    first = client.get_model_version_by_alias(name, "champion")
    second = client.create_model_version(name, source=paths.final_model("gan").as_uri())  # another version, registered by hand
    client.set_registered_model_alias(name, "champion", second.version)  # by hand

    sh(paths, env, f"{VENV_BIN}/python", "-m", "oekaki", "stage", "source")  # the freshness checks every repro starts with
    stale = dvc_status(paths, env)
    assert "promote" in stale and {"changed deps": {"models/promote/registry.json": "modified"}} in stale["promote"], stale

    client.set_registered_model_alias(name, "champion", first.version)  # back to what the gate left
    sh(paths, env, f"{VENV_BIN}/python", "-m", "oekaki", "stage", "source")
    assert dvc_status(paths, env) == {"contributions": ["always changed"], "source": ["always changed"]}
