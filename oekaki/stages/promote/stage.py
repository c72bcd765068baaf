"""Stage `promote`: the promotion gate's decision, candidate against champion, on equal terms.

For each registered model the candidate is the version this workspace's checkpoint was
registered as (found by the stage's MLflow run id in its provenance record). It and the current
`champion` are scored by the same function on the validation split, which neither training nor
the report's test numbers use (scoring.py: what each model is scored by, with promote.seeds seeds).

The rules:
- **Margin.** Promote only when the candidate's mean beats the champion's by more than
  margin = max(std candidate, std champion), the seed-to-seed spread of either: a difference no
  larger than what re-drawing the same model with another seed gives is noise, not progress.
  The judges' accuracies (CNN, ViT) have no seed spread; their margin is promote.cnn_min_margin.
- **Two conditions for the judge** once the contributions snapshot holds digits out (never trained on):
  refused when its MNIST validation accuracy is more than the margin below the best any champion had (a
  tag each promoted judge carries), or its accuracy on the held-out contributed digits drops at all;
  promoted when neither drops and one improves (MNIST by more than the margin, or one contributed digit
  more read right). Protect old users, serve new ones (`two_conditions`).
- **Two measures for the text painter**: FID and prompt adherence (scoring.py), each with its own margin (the
  larger seed spread). Refused when either is worse than the champion's by more than its margin; promoted when
  neither is and one is better by more than its margin; otherwise kept (`two_measures`).
- **Sanity floor.** A first candidate (no champion yet) is promoted only when it beats an
  untrained network of its own architecture by a wide margin: CNN or ViT accuracy at least
  promote.cnn_min_accuracy; VAE loss at most promote.vae_max_loss_fraction of the untrained
  VAE's; GAN and diffusion FID at most promote.painter_max_fid_fraction of the untrained
  painter's (scored by the same scorer). Otherwise it is refused.
- **Caching.** A version's scores are reused only when its registry tags say they were measured
  on the same evaluation key (validation-data hash, seeds, and for the painters n and the
  judge's hash); otherwise it is scored again, so a changed dataset re-scores the champion first.

This stage only decides: metrics/promote.json holds the numbers (means, stds, margins), the
decision file (models/promote/decision.json) the decisions, reasons, versions and evaluation
keys, which the report reads and oekaki/pipeline/gate.py applies: it moves the `champion` alias,
called by both entry points once the whole run succeeded (`make run` after `dvc repro`, the
Prefect flow when it ran without overrides). It also writes the run's headline numbers,
metrics/scoreboard.json (`headline`): the gate is the last stage that knows every model's result.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from oekaki.core.config import Config, PromoteConfig
from oekaki.core.constants import NETWORK_PAINTERS
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.errors import MissingInputError
from oekaki.core.io import read_json, write_json
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.data import snapshot
from oekaki.stages.promote.scoring import ADHERENCE, CLASSIFIER_GATES, GATES, Gate, GateScorer, Score

log = get_logger("promote")
CONTRIBUTED_METRIC = "contributed_accuracy"  # the judge's second gate: the snapshot's held-out contributed digits
TOLERANCE = 1e-9  # float rounding of k/n accuracies: a drop of exactly the margin (one image in 500) is within it
REFERENCE_METRIC = "mnist_reference"  # the best MNIST validation accuracy of any champion so far (a promoted judge's tag)


def margin(gate: Gate, rules: PromoteConfig, candidate: Score, champion: Score) -> float:
    """How much better than the champion a candidate must be: the larger seed spread (the CNN: its stated minimum)."""
    return max(candidate.std, champion.std, rules.cnn_min_margin if gate.stage in CLASSIFIER_GATES else 0.0)


def gain(gate: Gate, new: float, old: float) -> float:
    """How much better `new` is than `old` (positive = better, whichever way the metric points)."""
    return new - old if gate.higher_is_better else old - new


def floor(gate: Gate, rules: PromoteConfig, untrained: Score) -> float:
    """The score a first candidate must reach (at least, for accuracy; at most, for losses and FID)."""
    if gate.stage in CLASSIFIER_GATES:
        return rules.cnn_min_accuracy
    fraction = rules.vae_max_loss_fraction if gate.stage == "vae" else rules.painter_max_fid_fraction
    return fraction * untrained.mean


def decide_one(gate: Gate, registry, scorer: GateScorer, paths: Paths, tmp: Path) -> dict:
    """Candidate vs champion (or, for a first candidate, vs the untrained network) for one model: scores, decision, why."""
    key, rules = scorer.key(gate), scorer.cfg.promote
    row = {"stage": gate.stage, "model": gate.name, "metric": gate.metric, "higher_is_better": gate.higher_is_better, "eval_key": key}
    run_id = read_json(paths.provenance(gate.stage)).get("mlflow_run_id") if paths.provenance(gate.stage).is_file() else None
    candidate = registry.version_of_run(gate.name, run_id) if run_id else None
    if candidate is None:
        return row | {"decision": "none", "promote": False, "reason": f"no registered version of {gate.name} for this checkpoint"}
    new, _ = scored(gate, registry, scorer, candidate, key, lambda: paths.final_model(gate.stage), scorer.candidate_board(gate))
    row["candidate"] = {"version": candidate, **new.as_dict()}
    champion = registry.alias_version(gate.name, "champion")
    if champion is None:
        return row | first_candidate(gate, rules, new, scorer.untrained(gate, paths.final_model(gate.stage), tmp))
    if champion == candidate:
        row["champion"] = dict(row["candidate"])
        return row | {"decision": "keep", "promote": False, "reason": "the candidate already is the champion"}
    fetched: list[Path] = []

    def champion_checkpoint() -> Path:  # downloaded once, whichever score needs it first
        if not fetched:
            fetched.append(registry.checkpoint(gate.name, champion, tmp))
        return fetched[0]

    old, rescored = scored(gate, registry, scorer, champion, key, champion_checkpoint)
    row["champion"] = {"version": champion, **old.as_dict(), "rescored": rescored}
    need, by = margin(gate, rules, new, old), gain(gate, new.mean, old.mean)
    row |= {"margin": need, "gain": by}
    said = f"{gate.metric} {new.mean:.4f} ± {new.std:.4f} vs champion's {old.mean:.4f} ± {old.std:.4f}"
    if gate.stage in CLASSIFIER_GATES and len(scorer.contrib_y):
        mine = scored_contributed(gate, registry, scorer, candidate, lambda: paths.final_model(gate.stage))
        theirs = scored_contributed(gate, registry, scorer, champion, champion_checkpoint)
        # the MNIST level to protect: the best a champion ever had on these validation digits, not only this one's,
        # so that promotions one margin at a time cannot walk it down
        reference = max(old.mean, registry.version_score(gate.name, champion, REFERENCE_METRIC, key) or 0.0)
        row["contributed"] = {"n": len(scorer.contrib_y), "candidate": mine.mean, "champion": theirs.mean, "mnist_reference": reference}
        out = two_conditions(said, new.mean - reference, need, mine.mean, theirs.mean, len(scorer.contrib_y), by)
        if out["promote"]:
            registry.tag_score(gate.name, candidate, REFERENCE_METRIC, key, max(reference, new.mean))
        return row | out
    if gate.stage in ADHERENCE:
        akey, metric, n = scorer.adherence_key(), ADHERENCE[gate.stage], scorer.n_values(gate)
        mine = cached_scores(registry, gate.name, candidate, metric, akey, n, lambda: scorer.score_adherence(paths.final_model(gate.stage)))
        theirs = cached_scores(registry, gate.name, champion, metric, akey, n, lambda: scorer.score_adherence(champion_checkpoint()))
        a_need, a_by = max(mine.std, theirs.std), mine.mean - theirs.mean
        row["adherence"] = {"metric": metric, "candidate": mine.as_dict(), "champion": theirs.as_dict(), "margin": a_need, "gain": a_by}
        said += f"; {metric} {mine.mean:.4f} ± {mine.std:.4f} vs champion's {theirs.mean:.4f} ± {theirs.std:.4f}"
        return row | two_measures(said, [(gate.metric, by, need), (metric, a_by, a_need)])
    if by > need:
        return row | {"decision": "promote", "promote": True, "reason": f"{said}: better by {by:.4f} > margin {need:.4f}"}
    why = "a tie" if by == 0 else "not better" if by < 0 else f"better by only {by:.4f}, within the margin {need:.4f}"
    return row | {"decision": "keep", "promote": False, "reason": f"{said}: {why}"}


def two_conditions(said: str, below: float, need: float, mine: float, theirs: float, n: int, by: float) -> dict:
    """The judge's gate once contributed digits are held out: protect old users and serve new ones.

    Refused when MNIST validation accuracy is more than the margin below the reference (`below`: the candidate's
    accuracy minus the best any champion had), or when accuracy on the held-out contributed digits drops at all.
    Promoted when, with neither, one of the two improves over the champion: MNIST by more than the margin (`by`),
    or the contributed digits by at least one digit more read right. Otherwise kept.
    """
    said += f"; contributed validation ({n} digits) {mine:.4f} vs champion's {theirs:.4f}"
    if below < -need - TOLERANCE:  # accuracies are counts over the same digits: 0.982 - 0.984 must equal -0.002
        why = f"MNIST validation {-below:.4f} below the best champion's, beyond the margin {need:.4f}"
        return {"decision": "refuse", "promote": False, "reason": f"{said}: {why}"}
    if mine < theirs:
        return {"decision": "refuse", "promote": False, "reason": f"{said}: the contributed digits are read worse"}
    if by > need or mine > theirs:
        return {"decision": "promote", "promote": True, "reason": f"{said}: no drop beyond the margins, and better"}
    why = "a tie on both" if by == 0 and mine == theirs else "no better on either"
    return {"decision": "keep", "promote": False, "reason": f"{said}: {why}"}


def two_measures(said: str, measures: list[tuple[str, float, float]]) -> dict:
    """(name, gain, margin) per measure: refused when one is worse beyond its margin, promoted when none is and one is
    better beyond its margin, else kept (the text painter: FID and prompt adherence)."""
    if worse := [name for name, by, need in measures if by < -need]:
        return {"decision": "refuse", "promote": False, "reason": f"{said}: {', '.join(worse)} worse beyond the margin"}
    if better := [name for name, by, need in measures if by > need]:
        return {"decision": "promote", "promote": True, "reason": f"{said}: {', '.join(better)} better beyond the margin, none worse"}
    why = "a tie on both" if all(by == 0 for _, by, _ in measures) else "neither better beyond its margin"
    return {"decision": "keep", "promote": False, "reason": f"{said}: {why}"}


def first_candidate(gate: Gate, rules: PromoteConfig, new: Score, untrained: Score) -> dict:
    """No champion yet: promote only above the sanity floor (a wide margin over the untrained network)."""
    line = floor(gate, rules, untrained)
    passes = new.mean >= line if gate.higher_is_better else new.mean <= line
    sign = ">=" if gate.higher_is_better else "<="
    said = f"first candidate: {gate.metric} {new.mean:.4f} (untrained {untrained.mean:.4f}); the floor is {sign} {line:.4f}"
    out = {"champion": None, "untrained": untrained.as_dict(), "floor": line}
    if passes:
        return out | {"decision": "promote", "promote": True, "reason": said}
    return out | {"decision": "refuse", "promote": False, "reason": f"{said}: refused, too close to untrained"}


def scored(
    gate: Gate, registry, scorer: GateScorer, version: str, key: str, checkpoint: Callable[[], Path], board=None
) -> tuple[Score, bool]:
    """(scores, measured now): the version's tags when measured on the same key, else measured now and tagged.

    One tag per seed (`<metric>.s<k>`). `checkpoint` is called (a registry download, for a champion)
    only when the scores must be measured; `board`: the candidate painter's own scoreboard drawings.
    """
    names = [f"{gate.metric}.s{k}" for k in range(scorer.n_values(gate))]
    cached = [registry.version_score(gate.name, version, name, key) for name in names]
    if all(v is not None for v in cached):
        return Score(tuple(cached)), False
    value = scorer.score(gate, checkpoint(), board)
    for name, v in zip(names, value.values, strict=True):
        registry.tag_score(gate.name, version, name, key, v)
    return value, True


def cached_scores(registry, model: str, version: str, metric: str, key: str, n: int, measure: Callable[[], Score]) -> Score:
    """A second measure's scores (one tag per seed, `<metric>.s<k>`): the version's tags when measured on `key`, else `measure()`."""
    found = [registry.version_score(model, version, f"{metric}.s{k}", key) for k in range(n)]
    if all(v is not None for v in found):
        return Score(tuple(found))
    value = measure()
    for k, v in enumerate(value.values):
        registry.tag_score(model, version, f"{metric}.s{k}", key, v)
    return value


def scored_contributed(gate: Gate, registry, scorer: GateScorer, version: str, checkpoint: Callable[[], Path]) -> Score:
    """A judge version's accuracy on the held-out contributed digits: its registry tag when measured on the same
    digits, else measured now and tagged (`contributed_accuracy`)."""
    key = scorer.contributed_key()
    cached = registry.version_score(gate.name, version, CONTRIBUTED_METRIC, key)
    if cached is not None:
        return Score((cached,))
    value = scorer.score_contributed(checkpoint())
    registry.tag_score(gate.name, version, CONTRIBUTED_METRIC, key, value.values[0])
    return value


def numbers(rows: dict[str, dict], n_validation: int, seeds: int) -> dict:
    """metrics/promote.json: the gate's numbers per model (a plain output; the headline is metrics/scoreboard.json)."""
    out: dict = {"n_validation": n_validation, "seeds": seeds}
    for stage, r in rows.items():
        m = {f"{who}_{stat}": r[who][stat] for who in ("candidate", "champion", "untrained") if r.get(who) for stat in ("mean", "std")}
        out[stage] = m | {k: r[k] for k in ("margin", "gain", "floor") if k in r}
        if a := r.get("adherence"):
            out[stage] |= {f"{who}_adherence_{stat}": a[who][stat] for who in ("candidate", "champion") for stat in ("mean", "std")}
            out[stage] |= {"adherence_margin": a["margin"], "adherence_gain": a["gain"]}
        if c := r.get("contributed"):
            out[stage] |= {
                "candidate_contributed_mean": c["candidate"],
                "champion_contributed_mean": c["champion"],
                "n_contributed_validation": c["n"],
            }
    return out


def headline(paths: Paths, rows: dict[str, dict]) -> dict:
    """metrics/scoreboard.json, the only file dvc.yaml declares as metrics: the few numbers a user compares between runs.

    The judge's test accuracy, each network painter's FID on the scoreboard (the stages' own numbers,
    metrics/<stage>.json, which evaluate's scoreboard repeats), the four networks' training seconds added up,
    and how many models the gate promotes (models/promote/decision.json says which and why). Few keys, so
    `dvc metrics show` is one short line and `dvc exp show` a table that fits a terminal (docs/pipeline.md).
    """
    want = {"cnn": ("test_accuracy", "train_seconds"), **{p: ("fid", "train_seconds") for p in NETWORK_PAINTERS}}
    found = {stage: read_json(paths.metrics(stage)) for stage in want}
    for stage, keys in want.items():
        if missing := [k for k in keys if k not in found[stage]]:
            raise MissingInputError(f"{paths.metrics(stage)} lacks {', '.join(missing)}: rerun stage {stage!r} (`dvc repro {stage}`)")
    return {
        "cnn": {"accuracy": found["cnn"]["test_accuracy"]},
        **{p: {"fid": found[p]["fid"]} for p in NETWORK_PAINTERS},
        "train_seconds": sum(found[stage]["train_seconds"] for stage in want),
        "promoted": sum(bool(r["promote"]) for r in rows.values()),
    }


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    registry = monitor.registry()  # the runner's: MLflow's model registry
    scorer = GateScorer(cfg, paths)
    with tempfile.TemporaryDirectory() as tmp, phase("rescoring"):  # candidates and champions, scored again
        rows = {g.stage: decide_one(g, registry, scorer, paths, Path(tmp)) for g in GATES}
    for r in rows.values():
        log.info("%-15s %-8s %s", r["model"], r["decision"], r["reason"])
    n = len(scorer.data.val_y)
    decision = {"models": rows, "validation": {"n": n, "sha256": scorer.data.validation_sha256}, "seeds": list(scorer.seeds)}
    decision["snapshot"] = {"digest": snapshot.digest_of(paths.contributions_snapshot), "n_held_out": len(scorer.contrib_y)}
    write_json(paths.promote_decision, decision)  # the stage's non-metric output: what the gate's apply and the report read
    write_json(paths.headline_metrics, headline(paths, rows))
    # the decision file is also logged with the stage's MLflow run (as a file, like a figure)
    return StageResult(metrics=numbers(rows, n, len(scorer.seeds)), figures=[paths.promote_decision], details={"applied": False})
