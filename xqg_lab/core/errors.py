"""Exceptions with one message shape: where, what was expected, what was found."""

from __future__ import annotations

from os import PathLike


class DataFormatError(ValueError):
    """A data file does not have the expected format.

    The message starts with ``path:line:`` (or ``path:`` when no line applies) so that
    editors and terminals can jump to the offending place.
    """

    def __init__(self, path: str | PathLike, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ModelNotFoundError(FileNotFoundError):
    """A model name that is neither a local folder nor reachable (hub offline, not cached)."""


class ConfigError(ValueError):
    """A config file or notebook parameter set is invalid."""
