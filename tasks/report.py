"""Prefect task of stage `report` (logic: `oekaki/report.py`)."""

from tasks.stage_task import make_stage_task

report = make_stage_task("report")
