"""Stage `download` (dvc.yaml): `stage.run` does the work."""
