"""Prefect tasks: one generic task per dvc.yaml stage (tasks/stages.py), thin wrappers over `oekaki.pipeline.runner`."""

from oekaki.core.paths import project_paths
from oekaki.pipeline.env import apply_tool_defaults

# Prefect reads its settings (PREFECT_HOME...) when it is first imported: set them first.
apply_tool_defaults(project_paths())
