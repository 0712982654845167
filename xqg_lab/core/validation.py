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
from typing import Any, ClassVar, Mapping

import pydantic

from xqg_lab.core.config import ConfigError


def expected(what: str, found: Any, fix: str = "") -> str:
    """The toolkit's error message: ``"expected <what>, found <found!r>[; <fix>]"``."""
    return f"expected {what}, found {found!r}" + (f"; {fix}" if fix else "")


def did_you_mean(name: str, valid) -> str:
    """``"did you mean 'x'?"`` for the closest of ``valid``, or a list of the valid names."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    return f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"


class ConfigModel(pydantic.BaseModel):
    """Base of the toolkit's typed configs: unknown keys refused, no silent coercion of
    ``"ten"`` or ``10.5`` to an int, values checked on assignment too."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=False, validate_assignment=True,
                                       frozen=False, arbitrary_types_allowed=True)
    where: ClassVar[str] = "config"
    """How error messages name the source (a file, a notebook's parameters)."""

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, *, where: str | None = None):
        """Validate ``data`` into this model; a :class:`ConfigError` names each bad field."""
        where = where or cls.where
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: {expected('a mapping of keys to values', data)}")
        try:
            return cls.model_validate(dict(data))
        except pydantic.ValidationError as error:
            raise ConfigError("\n".join(_messages(cls, error, where))) from None


def _messages(model: type[pydantic.BaseModel], error: pydantic.ValidationError, where: str) -> list[str]:
    out = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(part) for part in item["loc"]) or "(top level)"
        kind, found = item["type"], item.get("input")
        if kind == "extra_forbidden":
            fields = _fields_at(model, item["loc"][:-1])
            hint = did_you_mean(item["loc"][-1], fields) if fields else "remove it"
            out.append(f"{where}: {loc}: expected a known key, found {item['loc'][-1]!r}; {hint}")
        elif kind == "missing":
            out.append(f"{where}: {loc}: expected a value, found none; add `{loc}: ...`")
        else:
            what = item["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
            out.append(f"{where}: {loc}: {expected(what, found, 'fix the value')}")
    return out


def _fields_at(model, loc) -> list[str]:
    """Field names of the (nested) model at ``loc``, for the "did you mean" hint."""
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)):
            return []
        model = annotation
    return list(getattr(model, "model_fields", {}))
