"""What the model registry holds (the tiny pipeline's store): MLflow's `pt2` format, as the docs
say, and a checkpoint of plain tensors; our own loading (flows.sample, the promotion gate) reads
only that checkpoint, with torch.load(weights_only=True)."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
import yaml

from flows import sample
from oekaki.core.io import read_json
from oekaki.core.paths import PROJECT_ROOT
from oekaki.models.loading import load_model
from oekaki.pipeline.tracking import Registry

MODELS = {"cnn": "cnn-classifier", "vae": "vae", "gan": "gan-generator", "diffusion": "diffusion"}
DOCUMENTED = "pt2"  # docs/pipeline.md: "MLflow's `pt2` (torch.export) model"


def test_the_docs_state_the_format_this_test_checks():
    text = (PROJECT_ROOT / "docs" / "pipeline.md").read_text()
    assert re.search(rf"MLflow's `{DOCUMENTED}` \(torch\.export\) model", text)


@pytest.mark.parametrize("kind", list(MODELS))
def test_each_registered_model_is_stored_as_pt2_and_loads_without_pickle(kind, tiny_pipeline, tmp_path, monkeypatch):
    paths, uri, _ = tiny_pipeline
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")  # MLflow's own guard: refuse any pickle
    name = MODELS[kind]
    registry = Registry(paths)
    version = registry.alias_version(name, "candidate")
    mv = registry.client.get_model_version(name, version)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(tmp_path / "model"), tracking_uri=uri))
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    data = local / mlmodel["flavors"]["pytorch"]["model_data"]
    # pt2: a torch.export archive; the pickle format would write model.pth and pickle_module_info.txt
    assert sorted(p.name for p in data.iterdir()) == [f"model.{DOCUMENTED}"], sorted(p.name for p in data.iterdir())
    exported = mlflow.pytorch.load_model(mv.source)  # validates the archive holds no pickle payload
    module, example = load_model(registry.checkpoint(name, version, tmp_path / "ckpt"))
    with torch.no_grad():
        want = module(torch.from_numpy(example)).numpy()
        got = exported(torch.from_numpy(example)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # the same network in both forms


def test_sampling_from_the_registry_loads_only_the_checkpoint_with_weights_only(pipeline_store, tmp_path, monkeypatch):
    paths, _, _ = pipeline_store
    registry = Registry(paths)
    for row in read_json(paths.promote_decision)["models"].values():
        registry.set_alias(row["model"], "champion", row["candidate"]["version"])
    calls = []
    real_load = torch.load

    def spy(f, *args, **kwargs):
        calls.append((Path(f).name, kwargs.get("weights_only")))
        return real_load(f, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("flows.sample must not load MLflow's model (only the checkpoint)")

    monkeypatch.setattr(torch, "load", spy)
    monkeypatch.setattr(torch.export, "load", refuse)
    monkeypatch.setattr(mlflow.pytorch, "load_model", refuse)
    for model in ("gan", "vae"):
        out = tmp_path / f"{model}.png"
        assert sample.main(["--model", model, "--n", "4", "--out", str(out), "--root", str(paths.root)]) == 0 and out.is_file()
    assert calls and all(weights_only is True for _, weights_only in calls), calls
    assert {name for name, _ in calls} == {"model.pt"}  # the logged checkpoint/model.pt
