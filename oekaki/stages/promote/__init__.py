"""Stage `promote` (dvc.yaml): `stage.run` does the work."""
