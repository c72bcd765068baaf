"""oekaki: how does an AI learn to draw? Stage logic as plain Python (no Prefect, no MLflow)."""
