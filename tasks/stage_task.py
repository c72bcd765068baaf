"""The one Prefect wrapper every stage task uses (a stage's logic lives in `oekaki/`)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from oekaki import fingerprint, runner
from oekaki.config import Config
from oekaki.paths import Paths


def make_stage_task(stage: str):
    """A Prefect task that runs `stage` and returns a JSON-able summary, outputs' digest included.

    Caching: the flow passes `cache_key_fn` (the stage's DVC fingerprint) per call; results
    are stored as JSON, so a cached record can never run code when it is read back.
    """

    @task(name=stage, persist_result=True, result_serializer="json", task_run_name=stage)
    def run(cfg: Config, root: str, ctx: runner.RunContext) -> dict:
        paths = Paths(Path(root).resolve(), home=Path(ctx.home) if ctx.home else None)
        summary = runner.run_stage(stage, cfg, paths, ctx)
        return {**summary, "outs": fingerprint.outs_digest(paths, stage)}

    return run
