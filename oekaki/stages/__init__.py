"""One folder per dvc.yaml stage: its `run` in stage.py and its figures."""
