"""Stage `promote`: the promotion gate's decision, candidate against champion, on equal terms.

For each registered model the candidate is the version this workspace's checkpoint was
registered as (found by the stage's MLflow run id in its provenance record). Both it and the
current `champion` are scored by the same function on the current evaluation set:
- `cnn-classifier`: test accuracy (higher is better);
- `vae`: test loss, the negative ELBO in nats per image, fixed-seed latent draw (lower);
- `gan-generator`, `diffusion`: FID against the test set, judged by the current cnn, with
  evaluate's n, seed and requested labels (lower), drawn as the scoreboard draws them.
A score is reused only when the version's tag says it was measured on the same evaluation
key (test-set hash, seed, n and for the painters the judge's hash); otherwise the checkpoint is
scored again, so a changed dataset re-scores the champion first. Promote only on a strict
improvement; the first candidate is promoted unconditionally.

This stage only decides (metrics/promote.json, shown in the report and logged with the
stage's MLflow run). Moving the `champion` alias is `apply`, which the retraining flow calls
after the whole run succeeded and only when it ran without overrides.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from oekaki.core import training
from oekaki.core.config import Config
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.io import read_json
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.models import judge as judge_mod
from oekaki.models.cnn import evaluate_classifier
from oekaki.models.loading import load_network
from oekaki.models.painters import draw
from oekaki.models.vae import test_elbo

log = get_logger("promote")


@dataclasses.dataclass(frozen=True)
class Gate:
    stage: str
    name: str  # registered model name
    metric: str
    higher_is_better: bool


GATES = (
    Gate("cnn", "cnn-classifier", "test_accuracy", True),
    Gate("vae", "vae", "test_loss_nats", False),
    Gate("gan", "gan-generator", "fid", False),
    Gate("diffusion", "diffusion", "fid", False),
)
PAINTER_GATES = ("gan", "diffusion")  # scored by the judge's FID of their drawings


class GateScorer:
    """Scores a checkpoint of any gated model on the current evaluation set (loaded once)."""

    def __init__(self, cfg: Config, paths: Paths):
        self.cfg, self.device = cfg, training.resolve_device(cfg.base)
        self.data = training.TensorData.load(paths.prepared, torch.device("cpu"))
        self.paths, self.judge_path = paths, paths.cnn_model
        self._judge = None

    def key(self, gate: Gate) -> str:
        """What a score was measured on; equal keys = comparable scores."""
        parts = {"test": self.data.sha256[:16], "seed": self.cfg.base.seed}
        if gate.stage in PAINTER_GATES:
            parts |= {
                "n": judge_mod.n_eval(self.cfg.evaluate.n_samples, len(self.data.test_y)),
                "judge": hashlib.sha256(self.judge_path.read_bytes()).hexdigest()[:16],
            }
        return json.dumps(parts, sort_keys=True)

    def score(self, gate: Gate, checkpoint: Path) -> float:
        ckpt = training.load_checkpoint(checkpoint)
        if ckpt.get("kind") != gate.stage:
            raise ValueError(f"{checkpoint}: a {ckpt.get('kind')!r} checkpoint, expected {gate.stage!r}")
        model = load_network(ckpt).to(self.device)
        x, y = self.data.test_x.to(self.device), self.data.test_y.to(self.device)
        if gate.stage == "cnn":
            return float(evaluate_classifier(model, x, y, self.cfg.cnn.eval_batch_size)[0]["test_accuracy"])
        if gate.stage == "vae":
            c = self.cfg.vae.model_copy(update={"conditional": model.args.conditional})
            return float(test_elbo(model, x, y, c, self.cfg.base.seed)["test_loss_nats"])
        if self._judge is None:
            self._judge = judge_mod.Judge.load(self.judge_path, self.device)
        test_x, test_y = self.data.test_x.numpy(), self.data.test_y.numpy()
        n = judge_mod.n_eval(self.cfg.evaluate.n_samples, len(test_y))
        labels = judge_mod.requested_labels(test_y, n, self.cfg.base.seed)
        images, asked = draw(gate.stage, self.paths, labels, self.cfg.base.seed, self.device, (test_x, test_y), checkpoint)
        return float(judge_mod.frechet_distance(self._judge.judge(images).features, self._judge.judge(test_x).features))


def better(gate: Gate, new: float, old: float) -> bool:
    """Strictly better (a tie keeps the champion)."""
    return new > old if gate.higher_is_better else new < old


def decide_one(gate: Gate, registry, scorer: GateScorer, paths: Paths, tmp: Path) -> dict:
    """Candidate vs champion for one model: both scores, the decision and why."""
    key = scorer.key(gate)
    row = {"stage": gate.stage, "model": gate.name, "metric": gate.metric, "higher_is_better": gate.higher_is_better, "eval_key": key}
    run_id = read_json(paths.provenance(gate.stage)).get("mlflow_run_id") if paths.provenance(gate.stage).is_file() else None
    candidate = registry.version_of_run(gate.name, run_id) if run_id else None
    if candidate is None:
        return row | {"decision": "none", "promote": False, "reason": f"no registered version of {gate.name} for this checkpoint"}
    score, _ = scored(gate, registry, scorer, candidate, key, lambda: paths.final_model(gate.stage))
    row["candidate"] = {"version": candidate, "score": score}
    champion = registry.alias_version(gate.name, "champion")
    if champion is None:
        return row | {"champion": None, "decision": "promote", "promote": True, "reason": "first candidate: promoted unconditionally"}
    if champion == candidate:
        row["champion"] = dict(row["candidate"])
        return row | {"decision": "keep", "promote": False, "reason": "the candidate already is the champion"}
    score, rescored = scored(gate, registry, scorer, champion, key, lambda: registry.checkpoint(gate.name, champion, tmp))
    row["champion"] = {"version": champion, "score": score, "rescored": rescored}
    new, old = row["candidate"]["score"], score
    if better(gate, new, old):
        return row | {"decision": "promote", "promote": True, "reason": f"{gate.metric} {new:.4f} beats {old:.4f}"}
    why = "a tie" if new == old else "not better"
    return row | {"decision": "keep", "promote": False, "reason": f"{gate.metric} {new:.4f} vs champion's {old:.4f}: {why}"}


def scored(gate: Gate, registry, scorer: GateScorer, version: str, key: str, checkpoint: Callable[[], Path]) -> tuple[float, bool]:
    """(score, measured now): the version's tag when measured on the same key, else measured now and tagged.

    `checkpoint` is called (a registry download, for a champion) only when the score must be measured.
    """
    cached = registry.version_score(gate.name, version, gate.metric, key)
    if cached is not None:
        return cached, False
    value = scorer.score(gate, checkpoint())
    registry.tag_score(gate.name, version, gate.metric, key, value)
    return value, True


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    registry = monitor.registry()  # the runner's: MLflow's model registry
    scorer = GateScorer(cfg, paths)
    with tempfile.TemporaryDirectory() as tmp, phase("rescoring"):  # candidates and champions, scored again
        rows = {g.stage: decide_one(g, registry, scorer, paths, Path(tmp)) for g in GATES}
    for r in rows.values():
        log.info("%-15s %-8s %s", r["model"], r["decision"], r["reason"])
    return StageResult(metrics={"models": rows}, details={"applied": False})  # scores reach MLflow flattened


def apply(decision: dict, registry) -> list[str]:
    """Move `champion` as decided (retraining runs without overrides, after success). Returns what moved.

    A decision made against a champion that has changed since is not applied (and says so).
    """
    moved = []
    for row in decision["models"].values():
        if not row.get("promote"):
            continue
        expected = (row.get("champion") or {}).get("version")
        now = registry.alias_version(row["model"], "champion")
        if now == row["candidate"]["version"]:
            log.info("%s: v%s already is the champion", row["model"], now)
            continue
        if now != expected:
            log.warning("%s: champion is v%s now, the decision was made against v%s: not applied", row["model"], now, expected)
            continue
        registry.set_alias(row["model"], "champion", row["candidate"]["version"])
        moved.append(f"{row['model']} v{row['candidate']['version']}")
        log.info("%s: champion -> v%s (%s)", row["model"], row["candidate"]["version"], row["reason"])
    return moved
