"""Stage `gmm` (dvc.yaml): `stage.run` does the work."""
