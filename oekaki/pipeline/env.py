"""Defaults for the tools' environment, applied before Prefect or MLflow is imported.

Everything stays inside the project (PREFECT_HOME, the MLflow SQLite store) unless the
user's environment already says otherwise (PREFECT_API_URL, MLFLOW_TRACKING_URI, ...).
Telemetry of Prefect, MLflow and DVC is off.
"""

from __future__ import annotations

import os

from oekaki.core.paths import Paths


def apply_tool_defaults(paths: Paths) -> None:
    defaults = {
        "PREFECT_HOME": str(paths.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # A fresh ephemeral Prefect server can take 20-30 s to start here (fresh database).
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "DVC_NO_ANALYTICS": "1",
        "DO_NOT_TRACK": "true",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
