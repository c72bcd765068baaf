"""prefect.yaml and its docker variant declare the same deployments (only the pool differs), the trigger of
retrain-on-contributions counts the events the app emits, and no secret is ever stored in a deployment: the flow
reads them at run time (flows/secrets.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import yaml

from flows import secrets
from flows.pipeline import training_pipeline
from flows.serve import POOL
from oekaki.core.paths import PROJECT_ROOT
from oekaki.pipeline import events


def deployments(name: str) -> dict[str, dict]:
    return {d["name"]: d for d in yaml.safe_load((PROJECT_ROOT / name).read_text())["deployments"]}


def test_deployments_agree_between_the_process_and_the_docker_variant():
    local, docker = deployments("prefect.yaml"), deployments("prefect.docker.yaml")
    assert set(local) == set(docker) == {"nightly", "manual", "retrain-on-contributions"}
    for name in local:
        a, b = dict(local[name]), dict(docker[name])
        assert a.pop("work_pool")["name"] == POOL and b.pop("work_pool")["name"] == "oekaki-docker"
        assert a == b, name
    assert local["nightly"]["schedules"] == [{"cron": "0 3 * * *", "timezone": "Asia/Tokyo", "active": True}]
    assert "schedules" not in local["manual"] and "schedules" not in local["retrain-on-contributions"]
    assert {d["entrypoint"] for d in local.values()} == {local["manual"]["entrypoint"]}  # one flow, three ways to start it
    module, func = local["manual"]["entrypoint"].split(":")
    assert (PROJECT_ROOT / module).is_file() and func == training_pipeline.fn.__name__ and training_pipeline.name == "training-pipeline"


def test_retrain_on_contributions_fires_after_n_accepted_contributions_within_a_window():
    """The trigger as Prefect reads it at `prefect deploy`: it counts the events the app emits, one per accepted digit."""
    from prefect.cli.deploy._triggers import DeploymentTriggerAdapter
    from prefect.events.schemas.automations import Posture
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    dep = deployments("prefect.yaml")["retrain-on-contributions"]
    assert dep["work_pool"]["name"] == POOL and dep["parameters"] == {"force": False}  # the pool whose runs take the global limit
    [spec] = dep["triggers"]
    trigger = DeploymentTriggerAdapter.validate_python({"name": "retrain-on-contributions__automation_1", **spec})
    assert isinstance(trigger, DeploymentEventTrigger) and trigger.enabled
    assert trigger.expect == {events.EVENT} and trigger.after == set() and trigger.for_each == set()
    assert trigger.match.root == {"prefect.resource.id": events.RESOURCE["prefect.resource.id"]}
    assert trigger.posture == Posture.Reactive  # fires on the N-th event, not at the end of the window
    assert (trigger.threshold, trigger.within) == (100, timedelta(hours=1))  # the two parameters, explained in prefect.yaml
    text = (PROJECT_ROOT / "prefect.yaml").read_text()
    assert "threshold 100" in text and "within 3600" in text  # the comments say why these two values


SECRET_NAMES = set(secrets.SECRETS)  # MLFLOW_TRACKING_URI, OEKAKI_ALERT_WEBHOOK
TEMPLATED_ENV = re.compile(r"\{\{\s*\$(\w+)\s*\}\}")  # `{{ $NAME }}`: the value of NAME at `prefect deploy` time
NOT_SECRET = {"OEKAKI_IMAGE"}  # the only environment value a deployment may hold: the image's name


def texts(node) -> list[str]:
    """Every key and value of a YAML tree, as text."""
    if isinstance(node, dict):
        return [t for k, v in node.items() for t in (str(k), *texts(v))]
    if isinstance(node, list):
        return [t for v in node for t in texts(v)]
    return [] if node is None else [str(node)]


@pytest.mark.parametrize("file", ["prefect.yaml", "prefect.docker.yaml"])
def test_no_secret_is_stored_in_a_deployment(file):
    """job_variables and parameters are stored in the deployment (the Prefect API and UI show them): no secret there."""
    for name, dep in deployments(file).items():
        stored = {
            "job_variables": dep.get("job_variables"),
            "work_pool.job_variables": (dep.get("work_pool") or {}).get("job_variables"),
            "parameters": dep.get("parameters"),
        }
        for where, node in stored.items():
            for text in texts(node):
                assert not SECRET_NAMES & set(re.findall(r"\w+", text)), f"{file} {name} {where}: {text!r} names a secret"
                assert set(TEMPLATED_ENV.findall(text)) <= NOT_SECRET, f"{file} {name} {where}: {text!r} templates a value in"
                assert "prefect.blocks" not in text, f"{file} {name} {where}: {text!r} copies a block's value in"


def test_the_docker_deployments_require_the_secrets_at_run_time():
    for name, dep in deployments("prefect.docker.yaml").items():
        assert dep["work_pool"]["job_variables"]["env"] == {secrets.REQUIRE_ENV: "true"}, name


def test_secrets_come_from_the_environment_first_then_a_secret_block():
    blocks = {"oekaki-alert-webhook": "https://hooks.example/abc"}
    asked = []

    def load(block):
        asked.append(block)
        return blocks.get(block)

    env = {"MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    found = secrets.resolve(env, load)
    assert env == {"MLFLOW_TRACKING_URI": "http://mlflow:5000", "OEKAKI_ALERT_WEBHOOK": "https://hooks.example/abc"}
    assert asked == ["oekaki-alert-webhook"]  # the block of a variable the environment has is never read
    assert found == {"MLFLOW_TRACKING_URI": "environment", "OEKAKI_ALERT_WEBHOOK": "Secret block 'oekaki-alert-webhook'"}
    env = {}
    assert secrets.resolve(env, lambda block: None) == {} and env == {}  # optional: the local store, no alert


def test_a_required_secret_found_nowhere_fails_naming_both_places():
    env = {secrets.REQUIRE_ENV: "true", "OEKAKI_ALERT_WEBHOOK": "https://hooks.example/abc"}
    with pytest.raises(secrets.MissingSecret) as exc:
        secrets.resolve(env, lambda block: None)
    message = str(exc.value)
    assert "MLFLOW_TRACKING_URI (environment) or Secret block 'oekaki-mlflow-tracking-uri'" in message
    assert "OEKAKI_ALERT_WEBHOOK" not in message and "hooks.example" not in message


def test_a_missing_secret_block_reads_as_none_and_other_errors_propagate(monkeypatch):
    from prefect.blocks.system import Secret

    def missing(name, *args, **kwargs):
        raise ValueError(f"Unable to find block document named {name} for block type secret")

    monkeypatch.setattr(Secret, "load", classmethod(lambda cls, name, *a, **k: missing(name)))
    assert secrets.load_secret_block("oekaki-alert-webhook") is None
    monkeypatch.setattr(Secret, "load", classmethod(lambda cls, name, *a, **k: Secret(value="s3cret")))
    assert secrets.load_secret_block("oekaki-alert-webhook") == "s3cret"
    monkeypatch.setattr(Secret, "load", classmethod(lambda cls, name, *a, **k: (_ for _ in ()).throw(ValueError("bad schema"))))
    with pytest.raises(ValueError, match="bad schema"):
        secrets.load_secret_block("oekaki-alert-webhook")
