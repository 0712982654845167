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
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from xqg_lab.core.atomic import write_atomic
from xqg_lab.core.checksums import file_sha256
from xqg_lab.core.config import ConfigError, RunConfig
from xqg_lab.core.paths import cache_dir
from xqg_lab.runner.folders import KERNEL_SOCKETS_PREFIX, remove_dead_kernel_folders, remove_dead_runs, swap_in
from xqg_lab.runner.index_page import write_index
from xqg_lab.runner.notebooks import (
    DEFAULT_CELL_TIMEOUT,
    KERNEL_ENV,
    NotebookFailed,
    RunFailed,
    check_parameters,
    execute_notebook,
    find_notebook,
    notebook_title,
)
from xqg_lab.runner.provenance import (
    carry_stores,
    changed_files,
    code_sha256,
    collect_provenance,
    environment,
    forced_notebooks,
    previous_manifest,
    reuse_outputs,
    snapshot,
    why_execute,
)


def run_config(
    config: RunConfig,
    *,
    reports_dir: str | os.PathLike = "reports",
    kernel_name: str | None = None,
    progress: bool = True,
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
    forced = forced_notebooks(force, [p.stem for p, _ in steps])
    timeout = cell_timeout if cell_timeout is not None else config.cell_timeout
    if timeout is None:
        timeout = DEFAULT_CELL_TIMEOUT
    if not timeout > 0:
        raise ConfigError(f"cell timeout: expected a positive number of seconds, found {timeout!r}")

    reports = Path(reports_dir)
    run_dir = reports / config.run
    reports.mkdir(parents=True, exist_ok=True)
    remove_dead_runs(reports, config.run)
    remove_dead_kernel_folders()
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
    previous = previous_manifest(run_dir)
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
    toolkit = {"version": manifest["environment"]["packages"].get("xqg_lab"), "code_sha256": code_sha256()}
    sockets = tempfile.mkdtemp(prefix=f"{KERNEL_SOCKETS_PREFIX}{os.getpid()}-")
    cache_root = cache_dir()
    cache_before = snapshot(cache_root)
    executed: str | None = None  # the first notebook of this run that was executed
    failure: BaseException | None = None
    try:
        for position, (path, params) in enumerate(steps):
            entry = {"notebook": path.stem, "title": notebook_title(path), "notebook_sha256": file_sha256(path, cached=False),
                     "parameters": params, "output": path.name, "html": f"{path.stem}.html"}
            entry["fingerprint"] = {
                "notebook_sha256": entry["notebook_sha256"], "parameters": params, "toolkit": toolkit,
                "python": manifest["environment"]["python"], "packages": manifest["environment"]["packages"],
                "kernel": kernel_name, "mirror": os.environ.get("XQG_LAB_MIRROR"), "cache": str(cache_root),
            }
            manifest["notebooks"].append(entry)
            old = (previous.get("notebooks") or [])[position] if position < len(previous.get("notebooks") or []) else None
            reason = why_execute(entry, old, run_dir, forced=forced, executed=executed)
            if reason is None:
                reuse_outputs(entry, old, run_dir, staging, reused_from=previous.get("started"))
                continue
            entry["executed_because"] = reason
            executed = executed or path.stem
            carry_stores(old, entry["notebook"], run_dir, staging)
            execute_notebook(entry, path, params, staging, sockets, kernel_name=kernel_name, progress=progress,
                     timeout=timeout)
    except BaseException as exc:  # noqa: BLE001 - also a Ctrl-C: record the partial run, then re-raise
        failure = exc
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    manifest["status"] = "ok" if failure is None else "failed"
    if failure is not None and not isinstance(failure, NotebookFailed):
        manifest["error"] = f"{type(failure).__name__}: {failure}"
    written = [f for f in changed_files(cache_before, snapshot(cache_root)) if not f.endswith(".lock")]
    manifest["cache"] = {
        "root": str(cache_root),
        "files_written": len(written),
        "bytes_written": sum((cache_root / f).stat().st_size for f in written if (cache_root / f).is_file()),
        "written": written[:50],
    }
    manifest["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    try:
        manifest["provenance"] = collect_provenance(staging)
        write_atomic(staging / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        write_index(staging, manifest)
        swap_in(staging, run_dir)
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
