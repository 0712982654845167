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
MAX_RUN_NAME = 100
"""Longest run name (characters): file systems allow 255 bytes per name, and the run folder
also gets staging and file suffixes."""


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
        run = check_run_name(raw["run"], where=source)
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


def check_run_name(run: Any, *, where: str) -> str:
    """``run`` as a plain folder name (a YAML integer such as ``2024`` is read as text);
    anything else, ``null`` included, is refused rather than written to ``reports/None/``."""
    if isinstance(run, bool) or not isinstance(run, (str, int)):
        found = "null" if run is None else f"{type(run).__name__} {run!r}"
        raise ConfigError(f"{where}: expected 'run' to be a folder name, found {found}; fix: write e.g. 'run: my_study'")
    run = str(run)
    if not _RUN_NAME.match(run):
        raise ConfigError(
            f"{where}: run {run!r} must be a plain folder name "
            "(letters, digits, '.', '_', '-'; no '/' or '..')"
        )
    if len(run) > MAX_RUN_NAME:
        raise ConfigError(
            f"{where}: expected a run name of at most {MAX_RUN_NAME} characters, found {len(run)} "
            f"({run[:20]}...); fix: shorten 'run' (it names the report folder)"
        )
    return run


_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list": (list,), "dict": (dict,),
}


def check_parameter_types(parameters: dict, declared: dict[str, dict], *, where: str) -> None:
    """Refuse a notebook parameter whose YAML value does not have the type that the notebook's
    ``parameters`` cell declares (``k: int = 100``), e.g. ``k: "ten"``, ``k: 10.5`` or
    ``langs: "en"`` (which a notebook would read as the languages ``e`` and ``n``).

    ``declared`` is ``papermill.inspect_notebook(...)``: ``{name: {"inferred_type_name",
    "default", ...}}``. An ``int`` is accepted for a ``float``; ``bool`` is never an ``int``.
    """
    for name, value in parameters.items():
        info = declared.get(name) or {}
        kind = info.get("inferred_type_name")
        allowed = _PARAMETER_TYPES.get(kind)
        if allowed is None:
            continue
        if isinstance(value, allowed) and not (isinstance(value, bool) and kind != "bool"):
            continue
        found = "null" if value is None else f"{type(value).__name__} {value!r:.60}"
        if kind == "int" and isinstance(value, float):
            fix = f"write a whole number, e.g. {name}: {int(value)}"
        elif kind == "list" and isinstance(value, str):
            fix = f"write a YAML list, e.g. {name}: [{value}]"
        elif kind == "float" and isinstance(value, str):
            fix = f"write a number without quotes, with a dot before any exponent (YAML reads 3e-5 as text, 3.0e-5 as a number), e.g. {name}: {info.get('default')}"
        else:
            fix = f"write {'an' if kind[0] in 'aeiou' else 'a'} {kind} value, e.g. {name}: {info.get('default')}"
        raise ConfigError(f"{where}: expected parameter {name!r} to be {kind}, found {found}; fix: {fix}")


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
    return RunConfig.from_dict(read_yaml(path), source=str(path))
