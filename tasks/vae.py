"""Prefect task of stage `vae` (logic: `oekaki/vae.py`)."""

from tasks.stage_task import make_stage_task

vae = make_stage_task("vae")
