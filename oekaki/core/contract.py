"""What every stage function returns, so one runner can record any stage the same way."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageResult:
    """Outcome of one stage: metrics for metrics/<stage>.json, figures, per-step histories."""

    metrics: dict[str, Any]
    figures: list[Path] = field(default_factory=list)
    # name -> rows like {"step": 1, "bic": 123.4}; logged to MLflow per step, written as DVC plots
    history: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # bulky facts that belong in the provenance record rather than the metrics (per-file hashes...)
    details: dict[str, Any] = field(default_factory=dict)
    # how the stage ran, numbers included (echoed settings, sweep tables): read back with the metrics
    # (stage_results), logged to MLflow, but kept out of metrics/<stage>.json, which holds what a user compares
    settings: dict[str, Any] = field(default_factory=dict)
    # registered model name -> self-describing checkpoint file, logged and registered in MLflow
    models: dict[str, Path] = field(default_factory=dict)


class Monitor:
    """Receives a training stage's progress as it happens; this base class ignores it.

    The runner passes one that streams to the stage's MLflow run, so a training run can be
    watched in the UI (metrics per epoch, sample grids with `step` = epoch) while it runs.
    Stage code only calls it and never imports a tracking library.
    """

    def epoch(self, history: str, row: dict[str, float], images: dict[str, Any] | None = None) -> None:
        """One finished epoch: `row` holds "step" and its numbers; `images` are uint8 (H, W) grids."""

    def registry(self):
        """The model registry (versions, aliases, score tags) a stage may read: the promotion gate's.

        The runner's monitor returns MLflow's (oekaki.pipeline.tracking.Registry); stage code never imports it.
        """
        raise RuntimeError("this stage reads the model registry: run it through the runner (`python -m oekaki stage <name>`)")


NULL_MONITOR = Monitor()


def flat_metrics(metrics: dict[str, Any], sep: str = "/", prefix: str = "") -> dict[str, Any]:
    """Nested metrics ({"vae": {"fid": 1.0}}) as one level ({"vae/fid": 1.0})."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out |= flat_metrics(v, sep, f"{prefix}{k}{sep}")
        else:
            out[f"{prefix}{k}"] = v
    return out


def is_number(value: Any) -> bool:
    """A number a user compares: an int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def split_numbers(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(numbers, facts): the numbers for metrics/<stage>.json (what `dvc metrics show` prints), and
    everything else (strings, flags, ids, null, lists) for the provenance record, nested alike."""
    numbers, facts = {}, {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            n, f = split_numbers(value)
            if n:
                numbers[key] = n
            if f:
                facts[key] = f
        elif is_number(value):
            numbers[key] = value
        else:
            facts[key] = value
    return numbers, facts


def merge_facts(numbers: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """The inverse of split_numbers: a stage's whole metrics dict from its metrics file and its facts."""
    out = dict(numbers)
    for key, value in facts.items():
        out[key] = merge_facts(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def stage_results(paths, stage: str) -> dict[str, Any]:
    """Everything a stage returned: metrics/<stage>.json's numbers joined with its provenance record's facts."""
    from oekaki.core.io import read_json

    numbers = read_json(paths.metrics(stage))
    record = paths.provenance(stage)
    return merge_facts(numbers, read_json(record).get("facts", {})) if record.is_file() else numbers


# metrics/<stage>.json holds only numbers (what `dvc metrics show` compares); a stage's other results (strings,
# flags, ids, lists) go to its provenance record's `facts`. metrics/promote.json is written as the stage returns it.
METRICS_AS_RETURNED = ("promote",)


def plot_rows(rows: list[dict]) -> list[dict]:
    """History rows as DVC plots need them: every row with the same keys, null where an epoch was not scored.

    (`gan.eval_every`, `vae.eval_every`: the judge's numbers exist every N-th epoch only; DVC's
    plot converter drops a file whose rows have different keys, and Vega leaves nulls out.)
    """
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return [{k: row.get(k) for k in keys} for row in rows]


def write_outputs(stage: str, result: StageResult, paths) -> dict[str, Any]:
    """Write a stage's DVC outputs from what it returned: metrics/<stage>.json (numbers) and its plots; returns the facts
    (the metrics that are not numbers, and the settings) for the provenance record.

    Here, not in the runner, so that each stage's code deps (oekaki/pipeline/code_deps.py: every
    stage imports this module) cover the code that shapes its outputs.
    """
    from oekaki.core.io import write_json

    numbers, facts = (result.metrics, {}) if stage in METRICS_AS_RETURNED else split_numbers(result.metrics)
    if clash := sorted(result.settings.keys() & result.metrics.keys()):
        raise ValueError(f"stage {stage!r} returns {clash} both as metrics and as settings")
    write_json(paths.metrics(stage), numbers)
    for name, rows in result.history.items():
        write_json(paths.plots_dir / f"{name}.json", plot_rows(rows))
    return {**facts, **result.settings}


def get_logger(stage: str) -> logging.Logger:
    return logging.getLogger(f"oekaki.{stage}")
