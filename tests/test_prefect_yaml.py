"""prefect.yaml and its docker variant declare the same deployments (only the pool differs)."""

from __future__ import annotations

import yaml

from flows.pipeline import training_pipeline
from flows.serve import POOL
from oekaki.core.paths import PROJECT_ROOT


def deployments(name: str) -> dict[str, dict]:
    return {d["name"]: d for d in yaml.safe_load((PROJECT_ROOT / name).read_text())["deployments"]}


def test_deployments_agree_between_the_process_and_the_docker_variant():
    local, docker = deployments("prefect.yaml"), deployments("prefect.docker.yaml")
    assert set(local) == set(docker) == {"nightly", "manual"}
    for name in local:
        a, b = dict(local[name]), dict(docker[name])
        assert a.pop("work_pool")["name"] == POOL and b.pop("work_pool")["name"] == "oekaki-docker"
        assert a == b, name
    assert local["nightly"]["schedules"] == [{"cron": "0 3 * * *", "timezone": "Asia/Tokyo", "active": True}]
    assert "schedules" not in local["manual"]
    module, func = local["manual"]["entrypoint"].split(":")
    assert (PROJECT_ROOT / module).is_file() and func == training_pipeline.fn.__name__ and training_pipeline.name == "training-pipeline"
