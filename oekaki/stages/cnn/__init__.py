"""Stage `cnn` (dvc.yaml): `stage.run` does the work."""
