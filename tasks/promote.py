"""Prefect task of stage `promote` (logic: `oekaki/promote.py`)."""

from tasks.stage_task import make_stage_task

promote = make_stage_task("promote")
