"""Prefect task of stage `cnn` (logic: `oekaki/cnn.py`)."""

from tasks.stage_task import make_stage_task

cnn = make_stage_task("cnn")
