"""Stage `evaluate` (dvc.yaml): `stage.run` does the work."""
