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
    # registered model name -> self-describing checkpoint file, logged and registered in MLflow
    models: dict[str, Path] = field(default_factory=dict)


def get_logger(stage: str) -> logging.Logger:
    return logging.getLogger(f"oekaki.{stage}")
