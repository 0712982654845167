"""Run configurations: which notebooks to execute, with which parameters.

A config file is YAML::

    run: demo                     # report folder: reports/<run>/
    title: ...                    # optional, shown on the report's index page
    data:
      mirror: ../shared/data      # optional offline mirror (else $XQG_LAB_MIRROR)
    cell_timeout: 1800            # optional: seconds a cell may run without an answer
    allow_external_notebooks: false  # optional: true to run notebooks outside notebooks/
    notebooks:
      - notebook: retrieval_eval  # a notebook of notebooks/ (without .ipynb)
        parameters: {dataset: xquad, k: 100}

Unknown keys are refused with the closest valid key suggested. A config file runs the code
of its notebooks: only notebooks of ``notebooks/`` unless ``allow_external_notebooks``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pydantic

from xqg_lab.core.errors import ConfigError
from xqg_lab.core.validation import ConfigModel, expected

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_RUN_NAME = 100
"""Longest run name (characters): file systems allow 255 bytes per name, and the run folder
also gets staging and file suffixes."""


class NotebookStep(ConfigModel):
    """One notebook to run, by name (``notebooks/<notebook>.ipynb``), with its parameters."""

    model_config = pydantic.ConfigDict(frozen=True, validate_assignment=False, coerce_numbers_to_str=True)
    notebook: str
    parameters: dict[str, Any] = {}

    @pydantic.field_validator("parameters", mode="before")
    @classmethod
    def _no_parameters(cls, value):
        return {} if value is None else value


class DataSection(ConfigModel):
    """The ``data`` section: ``mirror``, an offline mirror folder (relative to the config file)."""

    model_config = pydantic.ConfigDict(frozen=True, validate_assignment=False, coerce_numbers_to_str=True)
    mirror: str | None = None


class RunConfig(ConfigModel):
    """A parsed config file; :meth:`parse` (or :func:`load_config`) builds it."""

    model_config = pydantic.ConfigDict(frozen=True, validate_assignment=False)
    run: str
    notebooks: tuple[NotebookStep, ...]
    title: str = ""
    data: DataSection = DataSection()
    cell_timeout: float | None = None
    allow_external_notebooks: bool = False
    _source: str = pydantic.PrivateAttr("")
    _mirror: str | None = pydantic.PrivateAttr(None)

    @pydantic.field_validator("run", mode="before")
    @classmethod
    def _run_name(cls, run):
        return check_run_name(run)

    @pydantic.field_validator("notebooks", mode="before")
    @classmethod
    def _some_notebooks(cls, steps):
        if not isinstance(steps, list) or not steps:
            raise ValueError(expected("a non-empty list of notebooks", steps, "fix: e.g. 'notebooks: [{notebook: retrieval_eval}]'"))
        return steps

    @pydantic.field_validator("title", mode="before")
    @classmethod
    def _title(cls, title):
        return "" if title is None else str(title)

    @pydantic.field_validator("data", mode="before")
    @classmethod
    def _no_data(cls, value):
        return {} if value is None else value

    @pydantic.field_validator("cell_timeout", mode="before")
    @classmethod
    def _seconds(cls, value):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
            raise ValueError(expected("a positive number of seconds", value, "fix: e.g. 'cell_timeout: 1800'"))
        return value

    @pydantic.field_validator("allow_external_notebooks", mode="before")
    @classmethod
    def _flag(cls, value):
        if not isinstance(value, bool):
            raise ValueError(expected("true or false", value, "fix: e.g. 'allow_external_notebooks: true'"))
        return value

    @classmethod
    def parse(cls, data: Any, *, where: str | None = None) -> RunConfig:
        """Validate a config mapping; ``where`` (the file) names it in errors and anchors
        ``data.mirror``."""
        source = where or "<config>"
        config = super().parse(data, where=source)
        config._source = source
        if config.data.mirror is not None:
            base = Path(source).parent if source != "<config>" else Path.cwd()
            config._mirror = str((base / Path(config.data.mirror).expanduser()).resolve())
        return config

    @property
    def source(self) -> str:
        """The config file (``"<config>"`` for a mapping parsed without ``where``)."""
        return self._source

    @property
    def mirror(self) -> str | None:
        """``data.mirror`` as an absolute path (relative paths are read from the config's folder)."""
        return self._mirror


def check_run_name(run: Any) -> str:
    """``run`` as a plain folder name (a YAML integer such as ``2024`` is read as text);
    anything else, ``null`` included, is refused rather than written to ``reports/None/``."""
    if isinstance(run, bool) or not isinstance(run, (str, int)):
        found = "null" if run is None else f"{type(run).__name__} {run!r}"
        raise ValueError(f"expected 'run' to be a folder name, found {found}; fix: write e.g. 'run: my_study'")
    run = str(run)
    if not _RUN_NAME.match(run):
        raise ValueError(expected(
            "a plain folder name (letters, digits, '.', '_', '-'; no '/' or '..')", run, "fix: rename 'run'"
        ))
    if len(run) > MAX_RUN_NAME:
        raise ValueError(
            f"expected a run name of at most {MAX_RUN_NAME} characters, found {len(run)} ({run[:20]}...); "
            "fix: shorten 'run' (it names the report folder)"
        )
    return run


class NotebookParameters(ConfigModel):
    """Base of the model :func:`check_notebook_parameters` builds from a notebook's ``parameters`` cell."""

    @classmethod
    def fix_hint(cls, field: str, found: Any) -> str:
        """The hint for a value of the wrong type: the declared type and default, as YAML."""
        info = cls.model_fields.get(field)
        kind = getattr(info, "description", None) or ""
        default = getattr(info, "default", None)
        if kind == "int" and isinstance(found, float):
            return f"fix: write a whole number, e.g. {field}: {int(found)}"
        if kind == "list" and isinstance(found, str):
            return f"fix: write a YAML list, e.g. {field}: [{found}]"
        if kind == "float" and isinstance(found, str):
            return ("fix: write a number without quotes, with a dot before any exponent (YAML reads 3e-5 as text, "
                    f"3.0e-5 as a number), e.g. {field}: {default}")
        return f"fix: write {'an' if kind[:1] in tuple('aeiou') else 'a'} {kind} value, e.g. {field}: {default}"


_PARAMETER_TYPES: dict[str, Any] = {
    "int": pydantic.StrictInt, "float": pydantic.StrictFloat, "str": pydantic.StrictStr,
    "bool": pydantic.StrictBool, "list": list, "dict": dict,
}


def check_notebook_parameters(parameters: dict, declared: dict[str, dict], *, where: str) -> None:
    """Refuse a notebook parameter that the notebook's ``parameters`` cell does not declare
    (suggesting the closest name) or whose YAML value does not have the declared type
    (``k: int = 100``), e.g. ``k: "ten"``, ``k: 10.5`` or ``langs: "en"`` (which a notebook
    would read as the languages ``e`` and ``n``).

    ``declared`` is ``papermill.inspect_notebook(...)``: ``{name: {"inferred_type_name",
    "default", ...}}``. An ``int`` is accepted for a ``float``; ``bool`` is never an ``int``.
    """
    fields = {}
    for name, info in declared.items():
        kind = (info or {}).get("inferred_type_name")
        fields[name] = (_PARAMETER_TYPES.get(kind, Any),
                        pydantic.Field((info or {}).get("default"), description=kind, validate_default=False))
    model = pydantic.create_model("Parameters", __base__=NotebookParameters, **fields)
    model.parse(parameters, where=where)


def _unique_key_loader():
    """A PyYAML ``SafeLoader`` that refuses a key repeated in one mapping (PyYAML keeps the
    last value silently) naming the line of both; ``<<`` merge keys may still be overridden."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.get(key)
                    except TypeError:  # an unhashable key: the base class reports it
                        continue
                    if first is None:
                        seen[key] = key_node.start_mark.line + 1
                    else:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"expected each key once per mapping, found {key!r} again (first on "
                            f"line {first}; YAML would keep the last value silently); fix: keep one of them",
                            key_node.start_mark,
                        )
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def read_yaml(path: str | os.PathLike):
    """The parsed content of a YAML file; errors name the file and line (invalid YAML, a
    repeated key, a folder or a binary file instead of a YAML text file)."""
    import yaml

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: expected a YAML config file, found a folder; fix: pass a file, e.g. {path / 'demo.yaml'}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: expected a UTF-8 YAML text file, found a byte {exc.object[exc.start:exc.start + 1]!r} that is not "
            f"UTF-8 at offset {exc.start} (a binary file?); fix: pass the YAML config file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: expected a readable YAML config file, found {exc.strerror}; fix: check the path") from None
    try:
        loader = _unique_key_loader()(text)  # a SafeLoader subclass
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a YAML config file."""
    return RunConfig.parse(read_yaml(path), where=str(path))
