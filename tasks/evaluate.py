"""Prefect task of stage `evaluate` (logic: `oekaki/evaluate.py`)."""

from tasks.stage_task import make_stage_task

evaluate = make_stage_task("evaluate")
