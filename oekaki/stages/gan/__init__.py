"""Stage `gan` (dvc.yaml): `stage.run` does the work."""
