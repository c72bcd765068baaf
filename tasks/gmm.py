"""Prefect task of stage `gmm` (logic: `oekaki/gmm.py`)."""

from tasks.stage_task import make_stage_task

gmm = make_stage_task("gmm")
