"""Stage `vae` (dvc.yaml): `stage.run` does the work."""
