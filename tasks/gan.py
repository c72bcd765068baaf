"""Prefect task of stage `gan` (logic: `oekaki/gan.py`)."""

from tasks.stage_task import make_stage_task

gan = make_stage_task("gan")
