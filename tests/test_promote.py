"""The promotion gate against a real MLflow registry (a copy of the tiny pipeline's store per
test, so any order or subset passes): candidates that are worse, equal or better than the
champion, a first candidate no better than untrained, a changed validation set, a stale decision.
The rules on given numbers (margin, floor) are in test_promote_rules.py."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from oekaki.core import checkpoints
from oekaki.core.config import load_config
from oekaki.core.io import read_json, write_json
from oekaki.core.paths import Paths
from oekaki.pipeline.gate import apply as apply_gate
from oekaki.pipeline.tracking import Registry, Tracker
from oekaki.stages.promote import scoring
from oekaki.stages.promote import stage as promote
from oekaki.stages.promote.scoring import untrained_checkpoint

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
    ckpt = checkpoints.load_checkpoint(checkpoint)
    gen = torch.Generator().manual_seed(0)
    ckpt["generator"] = {
        k: v + scale * v.std() * torch.randn(v.shape, generator=gen) if v.is_floating_point() and v.numel() > 1 else v
        for k, v in ckpt["generator"].items()
    }
    checkpoints.save_checkpoint(dest, ckpt)
    return dest


def test_first_run_promotes_above_the_floor_and_records_numbers_apart_from_decisions(store):
    decision = read_json(store.promote_decision)
    rows = decision["models"]
    assert {r["decision"] for r in rows.values()} == {"promote"}, {s: r["reason"] for s, r in rows.items()}
    assert all(r["champion"] is None and "first candidate" in r["reason"] for r in rows.values())
    assert decision["validation"]["n"] == read_json(store.metrics("download"))["n_validation"] == 500
    cfg = load_config(store.params)
    scorer = promote.GateScorer(cfg, store)
    for gate in promote.GATES:  # the recorded scores are the scorer's, on the validation split, one per seed
        row = rows[gate.stage]
        assert len(row["candidate"]["values"]) == (1 if gate.stage in scoring.CLASSIFIER_GATES else cfg.promote.seeds)
        better = row["candidate"]["mean"] >= row["floor"] if gate.higher_is_better else row["candidate"]["mean"] <= row["floor"]
        assert better and row["untrained"]["mean"] != row["candidate"]["mean"]
    assert scorer.score(promote.GATES[0], store.final_model("cnn")).values == tuple(rows["cnn"]["candidate"]["values"])
    numbers = read_json(store.metrics("promote"))  # dvc metrics show: numbers only
    assert numbers["n_validation"] == 500 and numbers["gan"]["candidate_mean"] == rows["gan"]["candidate"]["mean"]
    assert all(isinstance(v, (int, float)) for m in numbers.values() if isinstance(m, dict) for v in m.values())


def test_a_first_candidate_no_better_than_untrained_is_refused(store, tmp_path):
    cfg = load_config(store.params)
    registry = Registry(store)
    assert registry.alias_version(GAN.name, "champion") is None  # the tiny pipeline only decided
    fresh = workspace(store, tmp_path / "fresh", untrained_checkpoint(store.final_model("gan"), tmp_path / "u.pt", cfg.base.seed))
    register(fresh, fresh.final_model("gan"))
    row = promote.decide_one(GAN, registry, promote.GateScorer(cfg, fresh), fresh, tmp_path)
    assert row["decision"] == "refuse" and not row["promote"] and "refused" in row["reason"]
    assert row["untrained"]["values"] == pytest.approx(row["candidate"]["values"][:1])  # the same network; the floor: first seed only
    assert row["candidate"]["mean"] > row["floor"]
    assert apply_gate({"models": {"gan": row}}, registry) == [] and registry.alias_version(GAN.name, "champion") is None


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
    assert row["candidate"]["mean"] > row["champion"]["mean"]  # FID: higher is worse
    assert row["margin"] == max(row["candidate"]["std"], row["champion"]["std"]) > 0  # the seed spread
    assert apply_gate({"models": {"gan": row}}, registry) == []
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
    assert apply_gate({"models": {"gan": row}}, registry) == [f"{GAN.name} v{better_version}"]
    assert registry.alias_version(GAN.name, "champion") == better_version


def test_a_changed_validation_set_rescores_the_champion_first_a_changed_test_set_only_the_painters(store, tmp_path):
    cfg = load_config(store.params)
    registry = Registry(store)
    base = workspace(store, tmp_path / "base")
    champion = register(base, base.final_model("gan"))
    promote.decide_one(GAN, registry, promote.GateScorer(cfg, base), base, tmp_path)  # scored and tagged on the old split
    registry.set_alias(GAN.name, "champion", champion)

    def changed(name: str, split: str) -> Paths:
        paths = workspace(store, tmp_path / name)
        with np.load(paths.prepared) as npz:
            arrays = {k: npz[k] for k in npz.files}
        keep = np.arange(len(arrays[f"{split}_labels"])) % 2 == 0  # half the split: new data
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = arrays[f"{split}_images"][keep], arrays[f"{split}_labels"][keep]
        np.savez(paths.prepared, **arrays)
        return paths

    vae = next(g for g in promote.GATES if g.stage == "vae")
    other_test = promote.GateScorer(cfg, changed("test", "test"))
    assert other_test.key(vae) == promote.GateScorer(cfg, base).key(vae)  # no test image is scored by the gate
    assert other_test.key(GAN) != promote.GateScorer(cfg, base).key(GAN)  # the painters are asked for the test set's label mix
    new = changed("validation", "validation")
    register(new, new.final_model("gan"))
    scorer = promote.GateScorer(cfg, new)
    row = promote.decide_one(GAN, registry, scorer, new, tmp_path)
    assert row["champion"]["rescored"] is True
    assert row["champion"]["values"] == pytest.approx(list(scorer.score(GAN, store.final_model("gan")).values))
    assert row["eval_key"] != promote.GateScorer(cfg, base).key(GAN)


def test_the_candidates_own_scoreboard_drawings_are_scored_not_drawn_again(store, tmp_path, monkeypatch):
    """The painter stage drew the gate's request once (models/<p>/scoreboard.npz): same FID as drawing it, no draw."""
    from oekaki.stages.promote import scoring

    cfg = load_config(store.params)
    scorer = promote.GateScorer(cfg, store)
    board = scorer.candidate_board(GAN)
    assert board is not None and len(board.seeds) >= 1
    drawn = scorer.score(GAN, store.final_model("gan"))  # no board: every seed drawn
    monkeypatch.setattr(scoring, "draw", lambda *a, **k: pytest.fail("drew although the board has these seeds"))
    seeds = min(len(board.seeds), cfg.promote.seeds)
    assert scorer.score(GAN, store.final_model("gan"), board, seeds=seeds).values == pytest.approx(drawn.values[:seeds])


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
    assert apply_gate(stale, registry) == []
    assert registry.alias_version(GAN.name, "champion") == versions[0]
