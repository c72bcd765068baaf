"""Prefect task of stage `download` (logic: `oekaki/download.py`)."""

from tasks.stage_task import make_stage_task

download = make_stage_task("download")
