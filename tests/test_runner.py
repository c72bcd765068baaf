"""The runner's MLflow run of a stage always ends: FAILED on any error, whenever it happens, else FINISHED."""

from __future__ import annotations

import shutil

import pytest

from oekaki.core.config import load_config
from oekaki.core.contract import StageResult
from oekaki.core.io import write_json
from oekaki.core.paths import PROJECT_ROOT, Paths
from oekaki.pipeline import runner, tracking
from oekaki.stages.download import stage as download
from tests.conftest import experiment_in


@pytest.fixture
def project(isolated_stores, monkeypatch):
    """A project folder with the real dvc.yaml and params.yaml, its own MLflow store, and a `download` stage whose work is instant."""
    root = isolated_stores / "project"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(PROJECT_ROOT / name, root / name)
    paths = Paths(root)
    write_json(paths.source_fingerprint, {"source": "bundled"})  # the upstream output check_inputs wants
    experiment_in(tracking.tracking_uri(paths), isolated_stores / "mlartifacts")
    monkeypatch.setattr(download, "run", lambda cfg, paths, monitor: StageResult(metrics={"n_train": 3, "source": "bundled"}))
    return paths


def run_statuses(paths: Paths) -> dict[str, str]:
    """kind ("stage" / "pipeline") -> status of the store's one run of that kind."""
    client = tracking.Tracker(paths).client
    runs = client.search_runs([client.get_experiment_by_name(tracking.EXPERIMENT).experiment_id])
    assert len(runs) == 2, [r.info for r in runs]
    return {r.data.tags[tracking.KIND_TAG]: r.info.status for r in runs}


def fail(*args, **kwargs):
    raise OSError("disk full (injected)")


def test_a_stage_that_succeeds_ends_its_run_and_the_parent_finished(project):
    summary = runner.run_stage("download", load_config(project.params), project, runner.RunContext("p1"))
    assert run_statuses(project) == {"stage": "FINISHED", "pipeline": "FINISHED"}
    assert project.provenance("download").is_file() and summary["mlflow_run_id"]


@pytest.mark.parametrize(
    "target, name",
    [
        (runner, "write_outputs"),  # metrics/<stage>.json and its plots
        (tracking.Tracker, "log_results"),  # metrics, figures and models to MLflow
        (runner, "write_json"),  # the provenance record
    ],
)
def test_an_error_after_the_work_ends_the_stage_run_failed(project, monkeypatch, target, name):
    """Before the fix a failure here, after the stage's work, left its MLflow run RUNNING forever (or FINISHED)."""
    monkeypatch.setattr(target, name, fail)
    with pytest.raises(OSError, match="injected"):
        runner.run_stage("download", load_config(project.params), project, runner.RunContext("p1"))
    assert run_statuses(project) == {"stage": "FAILED", "pipeline": "FAILED"}  # the pipeline run fails with its stage


def test_an_error_in_the_work_ends_the_stage_run_failed(project, monkeypatch):
    monkeypatch.setattr(download, "run", fail)
    with pytest.raises(OSError, match="injected"):
        runner.run_stage("download", load_config(project.params), project, runner.RunContext("p1"))
    assert run_statuses(project) == {"stage": "FAILED", "pipeline": "FAILED"}  # the pipeline run fails with its stage


def test_an_error_from_mlflow_while_failing_does_not_hide_the_stages_own(project, monkeypatch):
    monkeypatch.setattr(download, "run", fail)
    monkeypatch.setattr(
        tracking.Tracker, "finish", lambda self, run_id, status="FINISHED": (_ for _ in ()).throw(RuntimeError("store gone"))
    )
    with pytest.raises(OSError, match="injected"):
        runner.run_stage("download", load_config(project.params), project, runner.RunContext("p1"))
