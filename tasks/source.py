"""Prefect task of the freshness check (logic: `oekaki/sources.py`); never cached, it is cheap."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from oekaki import runner
from oekaki.config import Config
from oekaki.paths import project_paths


@task(name="source", cache_policy=NO_CACHE)
def source(cfg: Config, root: str) -> dict:
    return runner.run_source(cfg, project_paths(Path(root)), mint_pipeline_run=False)
