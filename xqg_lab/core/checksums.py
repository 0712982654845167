"""SHA-256 of files and folders, the toolkit's one hash helper: manifests of cached folders
(converted models, fine-tuned checkpoints), completion markers of stores and caches, and run
provenance, so that a damaged or truncated file is detected and rebuilt instead of read."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path


def file_sha256(path: str | os.PathLike, *, cached: bool = True) -> str:
    """Hex SHA-256 of a file's bytes. ``cached``: remembered within the process per (resolved
    path, size, modification time in ns), so a file that is rewritten is hashed again; pass
    ``False`` to verify files that may be damaged in place within one clock tick (always read)."""
    path = Path(path).resolve()
    if not cached:
        return _read_sha256(str(path))
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return _read_sha256(path)


def _read_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def folder_digests(folder: str | os.PathLike, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """``{path relative to folder: sha256}`` of every file under ``folder`` but ``exclude``."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() not in exclude
    }


def damaged_files(folder: str | os.PathLike, digests: dict[str, str]) -> list[str]:
    """Files of ``digests`` that are missing under ``folder`` or whose bytes changed."""
    folder = Path(folder)
    return [name for name, digest in digests.items()
            if not (folder / name).is_file() or file_sha256(folder / name) != digest]  # fmt: skip
