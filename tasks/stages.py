"""Prefect tasks: one per dvc.yaml stage, all the same thin wrapper over `oekaki.pipeline.runner`.

The list of stages is dvc.yaml's (`runner.stage_names`), so a new stage needs no task code.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from oekaki.core.config import Config
from oekaki.core.paths import Paths, project_paths
from oekaki.pipeline import fingerprint, runner


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


@task(name="source", cache_policy=NO_CACHE)
def source(cfg: Config, root: str) -> dict:
    """The freshness check (oekaki/stages/source); never cached, it is cheap."""
    return runner.run_source(cfg, project_paths(Path(root)), mint_pipeline_run=False)


@task(name="contributions", cache_policy=NO_CACHE)
def contributions(cfg: Config, root: str, home: str | None = None) -> dict:
    """The contributions snapshot (oekaki/stages/contributions); never cached: it reads the store, which DVC cannot see."""
    manifest = runner.run_contributions(cfg, Paths(Path(root).resolve(), home=Path(home) if home else None))
    return {k: manifest[k] for k in ("digest", "n", "newest_id", "counts")}


STAGE_TASKS = {name: make_stage_task(name) for name in runner.stage_names() if name not in runner.CHECK_STAGES}
