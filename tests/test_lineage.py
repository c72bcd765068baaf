"""MLflow lineage on the tiny pipeline's store: every stage run that reads data/prepared.npz
records it as an MLflow dataset input tied to its DVC version (the data's SHA-256 and the
file's MD5), and the training stages record MLflow's system metrics."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch

from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.contract import stage_results
from oekaki.core.paths import PROJECT_ROOT
from oekaki.data.dataset import TensorData
from oekaki.models.loading import NETWORKS
from oekaki.pipeline import fingerprint, runner
from oekaki.pipeline.tracking import DATA_TAG, DIGEST_CHARS


@pytest.fixture(scope="module")
def stage_runs(tiny_pipeline, tiny_stage_runs):
    """(workspace, stage -> its MLflow run)."""
    return tiny_pipeline[0], tiny_stage_runs


def test_each_stage_that_reads_the_data_records_it_as_an_mlflow_dataset(stage_runs):
    paths, runs = stage_runs
    sha = TensorData.load(paths.prepared, torch.device("cpu")).sha256
    made = stage_results(paths, "download")
    assert made["sha256"] == sha  # one SHA-256 for the data: download's metrics, TensorData, the checkpoints
    md5 = hashlib.md5(paths.prepared.read_bytes()).hexdigest()  # what dvc.lock records for the file
    readers = {s for s in runner.stage_names(paths) if "data/prepared.npz" in fingerprint.dep_paths(paths, s)}
    assert readers == {"gmm", "cnn", "vit", "vae", "gan", "diffusion", "autoencoder", "text_painter", "evaluate", "promote", "report"}
    assert set(runs) == readers | {"download"}
    for stage, run in runs.items():
        inputs = [i for i in run.inputs.dataset_inputs if i.dataset.name != "contributions"]  # the snapshot: below
        if stage not in readers:
            assert inputs == [], stage
            continue
        assert len(inputs) == 1, stage
        dataset, tags = inputs[0].dataset, {t.key: t.value for t in inputs[0].tags}
        assert dataset.digest == sha[:DIGEST_CHARS] and len(dataset.digest) == 36, stage  # MLflow's limit on a digest
        assert dataset.name == made["dataset"] == "mnist" and dataset.source_type == "dvc"
        source = json.loads(dataset.source)
        assert source == {"dvc_path": "data/prepared.npz", "data_source": made["source"], "sha256": sha, "dvc_md5": md5}, stage
        assert tags["oekaki.sha256"] == sha and tags["oekaki.dvc_md5"] == md5 and tags["oekaki.dvc_path"] == "data/prepared.npz"
        assert tags["mlflow.data.context"] == runner.DATA_CONTEXT.get(stage, "training")
        assert run.data.tags[DATA_TAG] == sha
        features = json.loads(json.loads(dataset.schema)["mlflow_tensorspec"]["features"])
        assert [f["name"] for f in features] == sorted(runner.DATA_KEYS)
    for stage in runner.TRAINING_STAGES:  # the models registered from these runs were trained on that very data
        assert load_checkpoint(paths.final_model(stage))["data_sha256"] == sha


def test_training_stages_record_mlflow_system_metrics(stage_runs):
    _, runs = stage_runs
    assert set(runner.TRAINING_STAGES) == set(NETWORKS)  # the stages that train a network
    for stage, run in runs.items():
        system = {k: v for k, v in run.data.metrics.items() if k.startswith("system/")}
        if stage not in runner.TRAINING_STAGES:
            assert system == {}, stage
            continue
        assert 0 <= system["system/cpu_utilization_percentage"] <= 100, (stage, system)
        assert system["system/system_memory_usage_megabytes"] > 0, (stage, system)


def test_a_stage_reading_no_prepared_data_logs_no_dataset(stage_runs):
    paths, _ = stage_runs
    from oekaki.core.config import load_config

    cfg = load_config(paths.params)
    assert runner.data_input("download", cfg, paths) is None  # download writes it; it reads none
    assert runner.data_input("gmm", cfg, paths)["sha256"] == stage_results(paths, "download")["sha256"]


def test_a_model_export_puts_mlflows_process_wide_tracking_uri_back(tmp_path, monkeypatch):
    """MLflow 3's set_tracking_uri writes a module global and os.environ: the export must leave both as they were."""
    import mlflow

    from oekaki.pipeline.tracking import fluent_tracking_uri

    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", a)
    with fluent_tracking_uri(b):
        assert mlflow.get_tracking_uri() == b and os.environ["MLFLOW_TRACKING_URI"] == b
    assert mlflow.get_tracking_uri() == a and os.environ["MLFLOW_TRACKING_URI"] == a
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with fluent_tracking_uri(b):
        pass
    assert "MLFLOW_TRACKING_URI" not in os.environ and mlflow.get_tracking_uri() != b


def test_no_code_sets_mlflows_tracking_uri_for_the_whole_process():
    for path in [*(PROJECT_ROOT / "oekaki").rglob("*.py"), *(PROJECT_ROOT / "flows").rglob("*.py")]:
        text = path.read_text()
        assert "mlflow.set_tracking_uri(" not in text, f"{path}: use oekaki.pipeline.tracking.fluent_tracking_uri"


def test_from_a_served_version_to_its_snapshot_and_commit(stage_runs, tiny_pipeline):
    """The chain docs/contributions.md describes: the app names a model version; the version's tags give the
    snapshot digest, the commit and the run; the run's dataset input "contributions" has that digest and the
    snapshot file's MD5, which is what dvc.lock records for data/snapshot/contributions.npz."""
    from mlflow.tracking import MlflowClient

    from oekaki.data import snapshot

    paths, runs = stage_runs
    client = MlflowClient(tiny_pipeline[1])
    digest = snapshot.digest_of(paths.contributions_snapshot)
    md5 = hashlib.md5(paths.contributions_snapshot.read_bytes()).hexdigest()
    readers = {s for s in runner.stage_names(paths) if "data/snapshot/contributions.npz" in fingerprint.dep_paths(paths, s)}
    assert readers == {"cnn", "vit", "vae", "gan", "diffusion", "autoencoder", "text_painter", "promote", "report"}
    models = (("cnn-classifier", "cnn"), ("vit-classifier", "vit"), ("vae", "vae"), ("gan-generator", "gan"), ("diffusion", "diffusion"),
              ("text-painter", "text_painter"))  # fmt: skip
    for name, stage in models:
        version = max(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))  # what the app names
        assert version.tags["snapshot_digest"] == digest and version.tags["contributed_digits"] == "0", name
        assert version.tags["git_commit"] == json.loads(paths.provenance(stage).read_text())["git_commit"]
        run = client.get_run(version.run_id)
        assert run.data.tags[runner.SNAPSHOT_TAG] == digest
        (snap,) = [i for i in run.inputs.dataset_inputs if i.dataset.name == "contributions"]
        tags = {t.key: t.value for t in snap.tags}
        assert tags["oekaki.dvc_path"] == "data/snapshot/contributions.npz" and tags["oekaki.dvc_md5"] == md5
        assert snap.dataset.digest == digest[:DIGEST_CHARS] and json.loads(snap.dataset.profile)["counts"]["train"] == 0
