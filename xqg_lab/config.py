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

import dataclasses
import difflib
import os
import re
from pathlib import Path
from typing import Any

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ConfigError(ValueError):
    """A config file or notebook parameter set is invalid."""


def check_keys(given: dict, allowed: list[str], *, where: str) -> None:
    """Refuse keys of ``given`` that are not in ``allowed``, suggesting the closest one."""
    for key in given:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown key {key!r}{hint} (valid keys: {', '.join(allowed)})"
            )


@dataclasses.dataclass(frozen=True)
class NotebookStep:
    """One notebook to run, by name (``notebooks/<notebook>.ipynb``)."""

    notebook: str
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A parsed config file."""

    run: str
    notebooks: tuple[NotebookStep, ...]
    title: str = ""
    mirror: str | None = None
    source: str = ""
    cell_timeout: float | None = None
    allow_external_notebooks: bool = False

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "<config>") -> RunConfig:
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level, found {type(raw).__name__}")
        check_keys(raw, ["run", "title", "data", "notebooks", "cell_timeout", "allow_external_notebooks"], where=source)
        for required in ("run", "notebooks"):
            if required not in raw:
                raise ConfigError(f"{source}: missing required key {required!r}")
        run = str(raw["run"])
        if not _RUN_NAME.match(run):
            raise ConfigError(
                f"{source}: run {run!r} must be a plain folder name "
                "(letters, digits, '.', '_', '-'; no '/' or '..')"
            )
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: 'data' must be a mapping")
        check_keys(data, ["mirror"], where=f"{source}: data")
        mirror = data.get("mirror")
        if mirror is not None:
            mirror = str(mirror)
            base = Path(source).parent if source != "<config>" else Path.cwd()
            mirror = str((base / Path(mirror).expanduser()).resolve())
        steps = raw["notebooks"]
        if not isinstance(steps, list) or not steps:
            raise ConfigError(f"{source}: 'notebooks' must be a non-empty list")
        parsed = []
        for i, step in enumerate(steps):
            where = f"{source}: notebooks[{i}]"
            if not isinstance(step, dict):
                raise ConfigError(f"{where}: expected a mapping with 'notebook' and 'parameters'")
            check_keys(step, ["notebook", "parameters"], where=where)
            if "notebook" not in step:
                raise ConfigError(f"{where}: missing required key 'notebook'")
            params = step.get("parameters") or {}
            if not isinstance(params, dict):
                raise ConfigError(f"{where}: 'parameters' must be a mapping")
            parsed.append(NotebookStep(notebook=str(step["notebook"]), parameters=dict(params)))
        cell_timeout = raw.get("cell_timeout")
        if cell_timeout is not None and (
            isinstance(cell_timeout, bool) or not isinstance(cell_timeout, (int, float)) or not cell_timeout > 0
        ):
            raise ConfigError(
                f"{source}: cell_timeout: expected a positive number of seconds, found {cell_timeout!r}; "
                "fix: e.g. 'cell_timeout: 1800'"
            )
        allow_external = raw.get("allow_external_notebooks", False)
        if not isinstance(allow_external, bool):
            raise ConfigError(
                f"{source}: allow_external_notebooks: expected true or false, found {allow_external!r}"
            )
        return cls(
            run=run,
            notebooks=tuple(parsed),
            title=str(raw.get("title", "")),
            mirror=mirror,
            source=source,
            cell_timeout=cell_timeout,
            allow_external_notebooks=allow_external,
        )


def read_yaml(path: str | os.PathLike):
    """The parsed content of a YAML file; errors name the file and line."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read and validate a YAML config file."""
    return RunConfig.from_dict(read_yaml(path), source=str(path))
