"""One exception type per kind of user error; each message says what is wrong and what is right."""

from __future__ import annotations


class RunnerError(Exception):
    """Base of every error a user can cause; run.py prints its message and exits non-zero."""

    exit_code: int = 2


class ConfigError(RunnerError):
    """A config value is invalid (wrong range, unknown choice, bad name)."""


class DataError(RunnerError):
    """A data source is missing, unreadable or corrupt."""


class TaskError(RunnerError):
    """The task script failed; the message carries its own error line or the tail of its log."""

    exit_code = 1


class RegistryError(RunnerError):
    """The local model registry could not take or read an entry."""


class SubmissionError(RunnerError):
    """An Azure ML workspace, compute target or submission could not be used."""


class JobSkipped(RunnerError):
    """A sweep job did not run because an earlier one failed under ``sweep.fail_fast``."""
