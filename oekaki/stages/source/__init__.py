"""Stage `source` (dvc.yaml): `stage.run` does the work."""
