"""Every error that means "fix your input", in one small module that every layer may import.

The command lines (`python -m oekaki`, `python -m flows.pipeline`) print these as one line
and exit 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A params file or an override that the pipeline cannot use."""


class DataError(RuntimeError):
    """Images or labels that cannot be used; the message names the file."""


class IdxError(ValueError):
    """A file that is not a valid IDX file; the message names the file."""


class SourceError(RuntimeError):
    """No usable source for the requested dataset; the message says how to get one."""


class CheckpointError(RuntimeError):
    """A checkpoint that is corrupt, foreign, or not plain data."""


class TrainingError(RuntimeError):
    """Params the model cannot use with this data, or a run that diverged."""


class ReportError(ValueError):
    """Stage outputs the report needs are missing or hold invalid numbers."""


class ProjectBusy(RuntimeError):
    """Another pipeline run holds this project's lock (and kept it past the wait)."""


class MissingInputError(FileNotFoundError):
    """An upstream output a stage needs is not there."""


class NoSuchModel(LookupError):
    """A registered model, version or alias that is not in the registry."""


# What the command lines report without a traceback (FileNotFoundError: a named input file is missing).
USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    DataError,
    IdxError,
    SourceError,
    CheckpointError,
    TrainingError,
    ReportError,
    ProjectBusy,
    FileNotFoundError,
)
