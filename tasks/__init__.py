"""Prefect tasks: one module per stage, each a thin wrapper over `oekaki.runner`."""

from oekaki.env import apply_tool_defaults
from oekaki.paths import project_paths

# Prefect reads its settings (PREFECT_HOME...) when it is first imported: set them first.
apply_tool_defaults(project_paths())
