"""The promotion gate against a real MLflow registry (a copy of the tiny pipeline's store per
test, so any order or subset passes): candidates that are worse, equal or better than the
champion, a changed test set, a stale decision."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from oekaki.core import training
from oekaki.core.config import load_config
from oekaki.core.io import read_json, write_json
from oekaki.core.paths import Paths
from oekaki.core.training import TensorData
from oekaki.models.judge import Judge, frechet_distance
from oekaki.pipeline.tracking import Registry, Tracker
from oekaki.stages.promote import stage as promote

GAN = next(g for g in promote.GATES if g.stage == "gan")


@pytest.fixture
def store(pipeline_store):
    return pipeline_store[0]  # MLFLOW_TRACKING_URI points at this test's own copy


def workspace(src: Paths, dest, gan_checkpoint=None) -> Paths:
    """What the gate reads: prepared data, the judge, the gan checkpoint and its provenance."""
    paths = Paths(dest)
    for rel in ("data/prepared.npz", "models/cnn/model.pt", "models/gan/model.pt", "metrics/provenance/gan.json", "params.yaml"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src.root / rel, dest / rel)
    if gan_checkpoint is not None:
        shutil.copy2(gan_checkpoint, paths.final_model("gan"))
    return paths


def register(paths: Paths, checkpoint) -> str:
    """Log `checkpoint` in a new MLflow run and register it (as the gan stage does); point provenance at it."""
    tracker = Tracker(paths)
    run = tracker.client.create_run(tracker.experiment_id, run_name="gan (test)")
    tracker.log_model(run.info.run_id, GAN.name, checkpoint)
    write_json(paths.provenance("gan"), {"mlflow_run_id": run.info.run_id})
    return Registry(paths).version_of_run(GAN.name, run.info.run_id)


def spoiled(checkpoint, dest, scale: float = 0.5):
    """The same generator with noise added to every weight: a worse painter."""
    ckpt = training.load_checkpoint(checkpoint)
    gen = torch.Generator().manual_seed(0)
    ckpt["generator"] = {
        k: v + scale * v.std() * torch.randn(v.shape, generator=gen) if v.is_floating_point() and v.numel() > 1 else v
        for k, v in ckpt["generator"].items()
    }
    training.save_checkpoint(dest, ckpt)
    return dest


def test_first_run_promotes_and_scores_equal_the_stage_metrics(store):
    decision = read_json(store.metrics("promote"))["models"]
    assert {r["decision"] for r in decision.values()} == {"promote"}
    assert all(r["champion"] is None and "first candidate" in r["reason"] for r in decision.values())
    # the gate's own scoring reproduces what the stages measured, on the same test set
    assert decision["cnn"]["candidate"]["score"] == read_json(store.metrics("cnn"))["test_accuracy"]
    assert decision["vae"]["candidate"]["score"] == pytest.approx(read_json(store.metrics("vae"))["test_loss_nats"], rel=1e-9)
    data = TensorData.load(store.prepared, "cpu")
    judge = Judge.load(store.cnn_model)
    test_features = judge.judge(data.test_x.numpy()).features
    for painter in ("gan", "diffusion"):  # the same draw as the stage's first scoreboard seed (base.seed)
        with np.load(store.scoreboard_samples(painter)) as npz:
            first_seed = judge.judge(npz["images"][0]).features
        assert decision[painter]["candidate"]["score"] == pytest.approx(frechet_distance(first_seed, test_features), rel=1e-9)


def test_worse_and_tied_candidates_keep_the_champion_a_better_one_moves_it(store, tmp_path):
    cfg = load_config(store.params)
    registry = Registry(store)
    good = store.final_model("gan")
    good_version = register(workspace(store, tmp_path / "good"), good)
    registry.set_alias(GAN.name, "champion", good_version)

    worse = workspace(store, tmp_path / "worse", spoiled(good, tmp_path / "worse.pt"))
    worse_version = register(worse, worse.final_model("gan"))
    row = promote.decide_one(GAN, registry, promote.GateScorer(cfg, worse), worse, tmp_path)
    assert row["decision"] == "keep" and "not better" in row["reason"]
    assert row["candidate"]["score"] > row["champion"]["score"]  # FID: higher is worse
    assert promote.apply({"models": {"gan": row}}, registry) == []
    assert registry.alias_version(GAN.name, "champion") == good_version

    tied = workspace(store, tmp_path / "tied")
    register(tied, tied.final_model("gan"))  # the champion's own weights, as a new version
    row = promote.decide_one(GAN, registry, promote.GateScorer(cfg, tied), tied, tmp_path)
    assert row["decision"] == "keep" and "a tie" in row["reason"]

    registry.set_alias(GAN.name, "champion", worse_version)  # now the better one is the candidate
    better = workspace(store, tmp_path / "better")
    better_version = register(better, better.final_model("gan"))
    row = promote.decide_one(GAN, registry, promote.GateScorer(cfg, better), better, tmp_path)
    assert row["decision"] == "promote" and row["champion"]["version"] == worse_version
    assert promote.apply({"models": {"gan": row}}, registry) == [f"{GAN.name} v{better_version}"]
    assert registry.alias_version(GAN.name, "champion") == better_version


def test_a_changed_test_set_rescores_the_champion_first(store, tmp_path):
    cfg = load_config(store.params)
    registry = Registry(store)
    base = workspace(store, tmp_path / "base")
    champion = register(base, base.final_model("gan"))
    promote.decide_one(GAN, registry, promote.GateScorer(cfg, base), base, tmp_path)  # scored and tagged on the old test set
    registry.set_alias(GAN.name, "champion", champion)

    changed = workspace(store, tmp_path / "changed")
    with np.load(changed.prepared) as npz:
        arrays = {k: npz[k] for k in npz.files}
    keep = np.arange(len(arrays["test_labels"])) % 2 == 0  # half the test set: new data
    arrays["test_images"], arrays["test_labels"] = arrays["test_images"][keep], arrays["test_labels"][keep]
    np.savez(changed.prepared, **arrays)
    register(changed, changed.final_model("gan"))
    scorer = promote.GateScorer(cfg, changed)
    row = promote.decide_one(GAN, registry, scorer, changed, tmp_path)
    assert row["champion"]["rescored"] is True
    assert row["champion"]["score"] == pytest.approx(scorer.score(GAN, store.final_model("gan")))
    assert row["eval_key"] != promote.GateScorer(cfg, base).key(GAN)


def test_a_stale_decision_is_not_applied(store, tmp_path):
    registry = Registry(store)
    versions = registry.versions(GAN.name)
    registry.set_alias(GAN.name, "champion", versions[0])
    stale = {
        "models": {
            "gan": {
                "model": GAN.name,
                "promote": True,
                "reason": "x",
                "candidate": {"version": versions[-1]},
                "champion": {"version": "999"},
            }
        }
    }
    assert promote.apply(stale, registry) == []
    assert registry.alias_version(GAN.name, "champion") == versions[0]
