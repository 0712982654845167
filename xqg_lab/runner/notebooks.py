"""Executing one notebook of a run with papermill: finding it and checking its parameters,
a kernel on IPC sockets, per-cell timeouts, the executed notebook saved atomically after each
cell, its HTML export, and the failures and warnings it reports."""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path

from xqg_lab.core.atomic import write_atomic
from xqg_lab.core.checksums import file_sha256
from xqg_lab.core.config import ConfigError, check_notebook_parameters
from xqg_lab.runner.provenance import changed_files, data_inputs, snapshot

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


TEMPLATES = Path(__file__).resolve().parents[1] / "present" / "templates"


DEFAULT_CELL_TIMEOUT = 1800
"""Seconds a cell may run without its kernel answering before the run fails (30 min).
papermill's default is no limit: nbclient then waits for the cell's ``execute_reply`` (and,
after the last cell, for ``kernel_info_reply``) forever, so a kernel that is alive but never
replies (idle with its reply lost, or stopped) hangs the run; the limit bounds both waits."""


KERNEL_START_TIMEOUT = 300
"""Seconds to wait for a kernel to start (generous: a loaded 2-core machine takes minutes)."""


IOPUB_TIMEOUT = 120
"""Seconds to wait for a cell's last output after its reply (nbclient's 4 s fails cells on a
loaded machine, as papermill turns that wait into an error)."""


KERNEL_ENV = {"TQDM_MININTERVAL": "2"}
"""Set in the kernels' environment unless already set: progress bars redraw at most every 2 s,
so they cannot flood the IOPub channel (ZeroMQ drops messages beyond its high-water mark)."""


def ipc_kernel_manager(folder: str | os.PathLike):
    """A Jupyter kernel manager class whose kernels talk over IPC sockets in ``folder``
    instead of TCP ports, so a run opens no network port. A Python kernel is started through
    :mod:`xqg_lab.runner.kernel`, which also drops ipykernel's loopback port for forked children."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = str(Path(folder) / "kernel")

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if cmd[1:3] == ["-m", "ipykernel_launcher"]:
                cmd[1:3] = ["-m", "xqg_lab.runner.kernel"]
            return cmd

    return IPCKernelManager


class RunFailed(RuntimeError):
    """A run could not complete; the message says why and where its output is."""


class NotebookFailed(RunFailed):
    """A notebook of the run raised, its kernel died or a cell timed out; the message names
    the notebook, the cell and the error (or the kernel's death or silence)."""


class NotebookWarning(UserWarning):
    """A warning that a notebook printed while the runner executed it (e.g. a damaged cache
    chunk that was rebuilt), repeated where the user running the config sees it."""


def find_notebook(name: str, *, allow_external: bool = False, where: str = "notebook") -> Path:
    """``notebooks/<name>.ipynb`` of the working folder or of the source checkout.

    A config file runs code, so a path leading outside those two ``notebooks/`` folders
    (``../elsewhere/x``, an absolute path, a symbolic link out) is refused unless
    ``allow_external`` is true.
    """
    folders = [(Path.cwd() / "notebooks").resolve(), NOTEBOOK_DIR]
    candidates = [Path(name)] if name.endswith(".ipynb") else []
    for folder in folders:
        candidates.append(folder / f"{name}.ipynb")
    for path in candidates:
        if path.is_file():
            resolved = path.resolve()
            if not allow_external and not any(f in resolved.parents for f in folders):
                raise ConfigError(
                    f"{where}: expected a notebook of {' or '.join(str(f) for f in dict.fromkeys(folders))}, "
                    f"found {name!r} at {resolved}; a config file runs the code of its notebooks, so to run one "
                    "from elsewhere set 'allow_external_notebooks: true' in the config or pass "
                    "--allow-external-notebooks"
                )
            return resolved
    available = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    raise ConfigError(f"{where}: notebook {name!r} not found; available notebooks: {', '.join(available)}")


def check_parameters(notebook: Path, parameters: dict, *, where: str) -> None:
    """Refuse parameters that the notebook's ``parameters`` cell does not declare, or whose
    value does not have the declared type (``k: "ten"`` for ``k: int = 100``)."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    check_notebook_parameters(parameters, declared, where=f"{where} ({notebook.name} parameters)")
    if "output_dir" in parameters:
        raise ConfigError(
            f"{where}: expected no 'output_dir' parameter, found {parameters['output_dir']!r}; "
            "the run writes every notebook's outputs into its run folder: remove it"
        )


def with_output_dir(notebook: Path, parameters: dict, folder: Path) -> dict:
    """``parameters`` plus ``output_dir=folder`` (absolute) when ``notebook`` declares it, so the
    notebook writes into the run folder instead of its interactive default."""
    import papermill

    if "output_dir" not in papermill.inspect_notebook(str(notebook)):
        return parameters
    return {**parameters, "output_dir": str(Path(folder).resolve())}


def export_html(notebook: Path, target: Path) -> None:
    """Write ``notebook`` as a self-contained HTML page (no CDN scripts)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="xqg_offline")
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    write_atomic(target, body.encode("utf-8"))


def execute_notebook(entry: dict, path: Path, params: dict, staging: Path, sockets: str, *, kernel_name, progress,
             timeout: float) -> None:
    """Run one notebook with papermill into ``staging``; fill ``entry`` (status, seconds,
    outputs and their hashes, data inputs, warnings). Raises :class:`NotebookFailed`."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    _register_atomic_io()
    out = staging / path.name
    start = time.perf_counter()
    before = snapshot(staging)
    error = message = None
    try:
        papermill.execute_notebook(
            str(path), ATOMIC_SCHEME + str(out), parameters=with_output_dir(path, params, staging), cwd=str(staging),
            kernel_name=kernel_name, progress_bar=progress, kernel_manager_class=ipc_kernel_manager(sockets),
            execution_timeout=timeout, start_timeout=KERNEL_START_TIMEOUT, iopub_timeout=IOPUB_TIMEOUT,
        )  # fmt: skip
    except PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
        message = f"notebook {path.name} failed in cell {exc.exec_count}: {error}"
    except CellTimeoutError:
        cell = running_cell(out)
        error = f"cell {cell} timed out: no answer from the kernel for {timeout:g} s"
        message = (
            f"notebook {path.name}: cell {cell} gave no answer within the cell timeout of {timeout:g} s (the kernel "
            "stopped replying, or the cell needs longer); the run was stopped. If the cell is just slow, raise "
            "'cell_timeout' in the config or pass --cell-timeout SECONDS"
        )
    except DeadKernelError:
        cell = running_cell(out)
        error = f"kernel died in cell {cell} (killed — out of memory?)"
        message = (
            f"notebook {path.name}: the kernel died while running cell {cell} "
            "(killed by the system — out of memory?); run it with less data or more memory"
        )
    except OSError as exc:  # the executed notebook itself could not be saved (full disk, ...)
        error = f"{type(exc).__name__}: {exc}"
        message = f"notebook {path.name}: {exc}"
    entry.update(status="ok" if error is None else "failed", seconds=round(time.perf_counter() - start, 1))
    if error is not None:
        entry["error"] = error
    try:
        if out.is_file():
            export_html(out, staging / entry["html"])
    finally:
        entry["outputs"] = changed_files(before, snapshot(staging))
        entry["output_sha256"] = {f: file_sha256(staging / f, cached=False) for f in entry["outputs"] if (staging / f).is_file()}
        entry["data_inputs"] = data_inputs(staging, entry["outputs"])
        entry["warnings"] = notebook_warnings(out)
        for w in entry["warnings"]:
            warnings.warn(f"notebook {path.name}, cell {w['cell']}: {w['text']}", NotebookWarning, stacklevel=3)
    if message is not None:
        raise NotebookFailed(
            f"{message}\npartial output kept in {out} and {staging / entry['html']}"
        )


WARNING_LINE = re.compile(r"\b\w*Warning: ")


MAX_WARNINGS = 20


def notebook_warnings(notebook: Path) -> list[dict]:
    """Warnings the executed ``notebook`` printed (stderr lines with ``…Warning: ``), at most
    :data:`MAX_WARNINGS`, each once: ``[{"cell": position, "text": line}]``."""
    import nbformat

    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except (OSError, ValueError):
        return []
    found, seen = [], set()
    for position, cell in enumerate(cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "stream" or output.get("name") != "stderr":
                continue
            for line in output.get("text", "").splitlines():
                match = WARNING_LINE.search(line)
                text = line[match.start():].strip() if match else None
                if text and text not in seen and len(found) < MAX_WARNINGS:
                    seen.add(text)
                    found.append({"cell": position, "text": text})
    return found


ATOMIC_SCHEME = "xqg-atomic://"
"""Prefix of an output path that papermill saves through :func:`write_atomic`."""


class _AtomicLocalHandler:
    """papermill I/O for ``xqg-atomic://<path>``: every save of the executed notebook
    replaces the file whole, so a kill or a full disk leaves the last complete save."""

    @staticmethod
    def read(path):
        return Path(path[len(ATOMIC_SCHEME):]).read_text(encoding="utf-8")

    @staticmethod
    def write(buf, path):
        write_atomic(path[len(ATOMIC_SCHEME):], buf.encode("utf-8"))

    @staticmethod
    def listdir(path):
        return [os.path.join(path, n) for n in os.listdir(path[len(ATOMIC_SCHEME):])]

    @staticmethod
    def pretty_path(path):
        return path[len(ATOMIC_SCHEME):]


def _register_atomic_io() -> None:
    from papermill.iorw import papermill_io

    if not any(scheme == ATOMIC_SCHEME for scheme, _ in papermill_io._handlers):
        papermill_io.register(ATOMIC_SCHEME, _AtomicLocalHandler)


def running_cell(notebook: Path) -> int | str:
    """Position (1-based, among all cells) of the last cell papermill started in ``notebook``."""
    import nbformat

    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except (OSError, ValueError):
        return "?"
    started = [i for i, c in enumerate(cells, start=1) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    return started[-1] if started else "?"


def notebook_title(path: Path) -> str:
    """The first Markdown heading of a notebook (its stem when there is none)."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem
