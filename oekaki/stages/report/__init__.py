"""Stage `report` (dvc.yaml): `stage.run` does the work."""
