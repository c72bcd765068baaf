"""The promotion gate's effect on the MLflow registry: moving `champion` as the promote stage decided.

The promote stage (oekaki/stages/promote/) only decides, into models/promote/decision.json. This
module applies the decision, the same way for both entry points: the Prefect flow after a run
without overrides, and `python -m oekaki repro` (`make run`) after `dvc repro` succeeded. It
imports no torch: a no-op `make run` stays short.
"""

from __future__ import annotations

import logging

from oekaki.core.io import read_json
from oekaki.core.paths import Paths

log = logging.getLogger("oekaki.gate")

PROMOTED_TAG = "oekaki.promoted"  # on the pipeline's MLflow run: the versions its gate made champion


def apply(decision: dict, registry) -> list[str]:
    """Move `champion` as decided; returns what moved ("<model> v<version>").

    `decision`: the decision file's content (models/promote/decision.json, `paths.promote_decision`).
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


def apply_decision(paths: Paths, pipeline_run_id: str) -> list[str]:
    """Apply the workspace's gate decision to the registry; tag what moved on the pipeline's MLflow run.

    The one function both entry points call once the whole run succeeded (the caller checks that
    the decision is the current one: the flow ran promote, `oekaki repro` finds it up to date).
    """
    from oekaki.pipeline.tracking import Registry, Tracker

    moved = apply(read_json(paths.promote_decision), Registry(paths))
    if moved:
        tracker = Tracker(paths)
        tracker.client.set_tag(tracker.pipeline_run(pipeline_run_id, {}), PROMOTED_TAG, ", ".join(moved))
    return moved
