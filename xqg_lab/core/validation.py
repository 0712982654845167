"""Typed config models (pydantic v2) and the one error shape of the toolkit.

Every config and parameter set of the toolkit is a :class:`ConfigModel`; :meth:`ConfigModel.parse`
validates a mapping into it and turns pydantic's errors into one :class:`~xqg_lab.core.config.ConfigError`
per problem, in the shape every message of the toolkit has::

    <where>: <field>: expected <what>, found <value>; <how to fix>

Unknown keys are refused with the closest valid key suggested ("did you mean"), which pydantic
does not do on its own.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any, ClassVar, Mapping

import numpy as np
import pydantic

from xqg_lab.core.errors import ConfigError


def expected(what: str, found: Any, fix: str = "") -> str:
    """The toolkit's error message: ``"expected <what>, found <found!r>[; <fix>]"``."""
    return f"expected {what}, found {found!r}" + (f"; {fix}" if fix else "")


def did_you_mean(name: str, valid) -> str:
    """``"did you mean 'x'?"`` for the closest of ``valid``, or a list of the valid names."""
    valid = sorted(map(str, valid))
    if not valid:
        return "remove it"
    close = difflib.get_close_matches(str(name), valid, n=1)
    return f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"


def unknown_key(key: Any, valid, *, where: str) -> str:
    """``"<where>: expected a known key, found 'x'; did you mean 'y'?"``."""
    return f"{where}: expected a known key, found {key!r}; {did_you_mean(key, valid)}"


def check_keys(given: Mapping[str, Any], allowed, *, where: str) -> None:
    """Refuse keys of ``given`` that are not in ``allowed`` (:class:`ConfigError` suggesting the
    closest), for mappings checked by hand rather than by a :class:`ConfigModel`."""
    for key in given:
        if key not in allowed:
            raise ConfigError(unknown_key(key, allowed, where=where))


# -- plain validators (library arguments) -----------------------------------------------------


class Choice(str, Enum):
    """A closed set of string options; :meth:`parse` names the valid values on error.

    Name the option in messages with a class keyword, ``class Backend(Choice, label="backend")``
    (default: the class name); override :meth:`error` where the exception is another
    ``ValueError`` subclass.
    """

    def __init_subclass__(cls, *, label: str | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if label is not None:
            cls._label = label

    @classmethod
    def parse(cls, value):
        try:
            return cls(value)
        except ValueError:
            raise cls.error(value) from None

    @classmethod
    def label(cls) -> str:
        """How messages name the option (the class keyword ``label``, else the class name)."""
        return getattr(cls, "_label", cls.__name__)

    @classmethod
    def valid(cls) -> str:
        """The valid values as messages list them: ``'a', 'b'``."""
        return ", ".join(repr(member.value) for member in cls)

    @classmethod
    def error(cls, value) -> ValueError:
        """The exception :meth:`parse` raises for the invalid ``value``."""
        return ValueError(expected(f"{cls.label()} to be one of {cls.valid()}", value))

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        """In a :class:`ConfigModel` field, validated by :meth:`parse` (same message)."""
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(lambda member: member.value)
        )


def check_choice(value: Any, valid: type[Enum] | Sequence[str], *, what: str) -> Any:
    """``value`` if it is one of ``valid`` (for an enum class: its member), else a ``ValueError``
    ``"expected <what> to be one of 'a', 'b', found 'x'"`` listing the valid values."""
    if isinstance(valid, type) and issubclass(valid, Enum):
        try:
            return valid(value)
        except ValueError:
            names = [member.value for member in valid]
    elif value in valid:
        return value
    else:
        names = list(valid)
    raise ValueError(expected(f"{what} to be one of {', '.join(map(repr, names))}", value))


def check_langs(
    langs: Iterable[str] | str | None, valid: Sequence[str], *, what: str = "language", refuse_duplicates: bool = False
) -> tuple[str, ...]:
    """A language selection as a tuple in the given order: ``None`` = all of ``valid``, a str =
    one language; unknown or no languages are refused, a repeated one dropped (or refused with
    ``refuse_duplicates``)."""
    if langs is None:
        return tuple(valid)
    langs = [langs] if isinstance(langs, str) else list(langs)
    for lang in langs:
        check_choice(lang, valid, what=what)
    duplicated = sorted({lang for lang in langs if langs.count(lang) > 1})
    if duplicated and refuse_duplicates:
        raise ValueError(expected(f"distinct {what}s", duplicated, "list each language once"))
    if not langs:
        raise ValueError(
            f"expected some of: {', '.join(valid)} (or None for all), found an empty language selection; "
            "fix: list the languages to keep"
        )
    return tuple(dict.fromkeys(langs))


def check_positive_int(value: Any, name: str, *, minimum: int = 1, allow_none: bool = False) -> int | None:
    """``value`` as an int ``>= minimum`` (NumPy integers accepted, ``bool`` refused); ``None``
    passes through with ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(expected(f"{name} to be an int >= {minimum}{' or None' if allow_none else ''}", value))
    return int(value)


def check_frame(frame: Any, columns: Iterable[str], *, what: str, fix: str = "") -> None:
    """Refuse ``frame`` unless it is a pandas DataFrame holding every one of ``columns``
    (``TypeError`` / ``ValueError`` ``"expected <what> with the column(s) <missing>, found columns […]; <fix>"``)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected {what} as a pandas DataFrame, found {type(frame).__name__}; pass a DataFrame")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"expected {what} with the column(s) {', '.join(map(repr, missing))}, found columns {list(frame.columns)}; "
            + (fix or "add or rename them")
        )


# -- typed config models ----------------------------------------------------------------------


class ConfigModel(pydantic.BaseModel):
    """Base of the toolkit's typed configs: unknown keys refused, no silent coercion of
    ``"ten"`` or ``10.5`` to an int, values checked on assignment too."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=False, validate_assignment=True,
                                       frozen=False, arbitrary_types_allowed=True)
    where: ClassVar[str] = "config"
    """How error messages name the source (a file, a notebook's parameters)."""

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, *, where: str | None = None):
        """Validate ``data`` into this model (``None``: the defaults; an instance passes
        through); a :class:`ConfigError` names each bad field."""
        where = where or cls.where
        if isinstance(data, cls):
            return data
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: {expected('a mapping of keys to values', data, 'fix: write `key: value` pairs')}")
        try:
            return cls.model_validate(dict(data))
        except pydantic.ValidationError as error:
            raise ConfigError("\n".join(_messages(cls, error, where))) from None

    @classmethod
    def fix_hint(cls, field: str, found: Any) -> str:
        """The ``<how to fix>`` part of the message for a bad value of ``field``."""
        return "fix the value"


def _messages(model: type[ConfigModel], error: pydantic.ValidationError, where: str) -> list[str]:
    out = []
    for item in error.errors(include_url=False):
        loc = _location(item["loc"])
        at = f"{where}: {loc}" if loc else where
        kind, found = item["type"], item.get("input")
        if kind == "extra_forbidden":
            parent = _location(item["loc"][:-1])
            out.append(unknown_key(item["loc"][-1], _fields_at(model, item["loc"][:-1]),
                                   where=f"{where}: {parent}" if parent else where))
        elif kind == "missing":
            out.append(f"{at}: expected a value, found none; add `{loc}: ...`")
        else:
            what = item["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
            if what.startswith("expected "):  # a validator's own message, already in the shape
                out.append(f"{at}: {what}")
            elif "expected " in what and loc and what.startswith(f"{loc}: "):  # a nested config's message
                out.append(f"{where}: {what}")
            else:
                out.append(f"{at}: {expected(what, found, model.fix_hint(str(item['loc'][-1]) if item['loc'] else '', found))}")
    return out


def _location(loc: tuple) -> str:
    """``("notebooks", 0, "parameters")`` as ``notebooks[0].parameters``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f"{'.' if out else ''}{part}"
    return out


def _fields_at(model, loc) -> list[str]:
    """Field names of the (nested) model at ``loc``, for the "did you mean" hint."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        model = _model_in(getattr(field, "annotation", None))
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation):
    """The config model in a field's annotation (``Model``, ``tuple[Model, ...]``, ``Model | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
