"""Stage `diffusion` (dvc.yaml): `stage.run` does the work."""
