"""The machinery that runs stages: runner, DVC fingerprints, isolation, lock, MLflow tracking, servers, alerts."""
