"""Exceptions with one message shape: where, what was expected, what was found."""

from __future__ import annotations

from enum import Enum
from os import PathLike
from typing import Any


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


class Choice(str, Enum):
    """A closed set of string options; :meth:`parse` names the valid values on error.

    Subclasses override :meth:`label` to name the option in the message
    ``"<label> must be one of ...; got ..."``, and :meth:`error` where the message has
    another shape or the exception another ``ValueError`` subclass.
    """

    @classmethod
    def parse(cls, value):
        try:
            return cls(value)
        except ValueError:
            raise cls.error(value) from None

    @classmethod
    def label(cls) -> str:
        return cls.__name__

    @classmethod
    def valid(cls) -> str:
        """The valid values as messages list them: ``'a', 'b'``."""
        return ", ".join(repr(member.value) for member in cls)

    @classmethod
    def error(cls, value) -> ValueError:
        """The exception :meth:`parse` raises for the invalid ``value``."""
        return ValueError(f"{cls.label()} must be one of {cls.valid()}; got {value!r}")


def check_choice(enum_cls: type[Enum], value: Any, name: str) -> Any:
    """``enum_cls(value)``, or a ``ValueError`` saying ``expected <name> to be one of ...,
    found ...`` with the valid values taken from the enum itself (for enums whose message
    names the option per call site)."""
    try:
        return enum_cls(value)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in enum_cls)
        raise ValueError(f"expected {name} to be one of {valid}, found {value!r}") from None
