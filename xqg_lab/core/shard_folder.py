"""The toolkit's one on-disk store format: a folder of per-shard outputs, each written
atomically and sealed by a completion marker, plus the settings each kind of output was made
with. Generated queries (:func:`xqg_lab.generate.generate_store`,
:func:`xqg_lab.scale.shards.generate_query_shards`), passage embeddings and query sums
(:mod:`xqg_lab.scale.shards`) are all kept in it.

Layout of a store folder::

    store.json                   {"format": 1, "<kind>": {settings}}: checked on re-runs
    shard-00000.<suffix>         the files of shard 0's output of one kind, e.g.
                                 shard-00000.queries.parquet, shard-00000.passages.npy
    shard-00000.<kind>.json      completion marker: {"format", "kind", "shard", "files":
                                 {name: {"sha256", "size"}}, ...what the output was made from}
    corpus-index.json            (corpus-sharded stores) the shards of the corpus file

A marker is removed before its shard's files are rewritten and written after them, so a
marker never vouches for files it was not written with; a shard counts as done only when its
marker's files exist with the recorded sizes and (verified) SHA-256 checksums.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from xqg_lab.core.atomic import save_npy_atomic, write_parquet_atomic, write_text_atomic
from xqg_lab.core.checksums import file_sha256

STORE_FORMAT = 1
"""Version of the JSON files of a store (markers, settings, indexes)."""
SETTINGS_FILE = "store.json"
CORPUS_INDEX_FILE = "corpus-index.json"


class ShardFolder:
    """A store folder (layout in :mod:`xqg_lab.core.shard_folder`): paths, completion markers,
    locks and the settings of each kind of output.

    Parameters
    ----------
    root : the folder; created on first write.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, index: int, suffix: str) -> Path:
        """``root/shard-<index:05d>.<suffix>``."""
        return self.root / f"shard-{int(index):05d}.{suffix}"

    def marker(self, kind: str, index: int) -> dict | None:
        """The completion marker of shard ``index`` for ``kind`` (``"passages"``,
        ``"queries"``, ``"qsum-<name>"``), or ``None`` when there is none."""
        try:
            return json.loads(self.path(index, f"{kind}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def is_done(self, kind: str, index: int, *, verify: bool = True) -> bool:
        """Whether shard ``index`` has a complete, intact ``kind`` output: a marker whose
        files exist with the recorded sizes (and, with ``verify``, SHA-256 checksums)."""
        marker = self.marker(kind, index)
        if marker is None or not isinstance(marker.get("files"), dict):
            return False
        for name, info in marker["files"].items():
            path = self.root / name
            try:
                if path.stat().st_size != info["size"]:
                    return False
                if verify and file_sha256(path, cached=False) != info["sha256"]:
                    return False
            except (OSError, KeyError, TypeError):
                return False
        return True

    def lock(self, kind: str, index: int):
        """A file lock (``shard-<index>.<kind>.lock``, a ``filelock.FileLock``) for computing
        and writing shard ``index``'s ``kind`` output: a second process waits, then finds the
        marker and skips the shard. Locks hold between processes of one machine (and on
        shared file systems with working ``flock``)."""
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path(index, f"{kind}.lock")))

    def done(self, kind: str = "passages") -> list[int]:
        """Shard numbers with a ``kind`` marker (not verified), sorted."""
        suffix = f".{kind}.json"
        out = []
        for p in self.root.glob(f"shard-*{suffix}"):
            number = p.name[len("shard-") : -len(suffix)]
            if number.isdigit():
                out.append(int(number))
        return sorted(out)

    def write_outputs(self, kind: str, index: int, files: Mapping[str, Any], meta: Mapping[str, Any]) -> dict:
        """Write shard ``index``'s ``kind`` files atomically, then its marker.

        ``files`` maps suffixes to content: a NumPy array (saved as ``.npy``), a
        ``str`` (text) or a ``pyarrow.Table`` (Parquet). The old marker is removed first,
        so at no moment does a marker vouch for files it was not written with.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.path(index, f"{kind}.json").unlink(missing_ok=True)
        entries = {}
        for suffix, content in files.items():
            path = self.path(index, suffix)
            if isinstance(content, np.ndarray):
                save_npy_atomic(path, content)
            elif isinstance(content, str):
                write_text_atomic(path, content)
            else:
                write_parquet_atomic(path, content)
            entries[path.name] = {"sha256": file_sha256(path, cached=False), "size": path.stat().st_size}
        marker = {"format": STORE_FORMAT, "kind": kind, "shard": int(index), **meta, "files": entries}
        write_text_atomic(self.path(index, f"{kind}.json"), json.dumps(marker, indent=1, sort_keys=True))
        return marker

    def check_settings(self, kind: str, settings: Mapping[str, Any]) -> None:
        """Record ``settings`` for ``kind`` in ``store.json``, or refuse when the store
        already holds ``kind`` outputs made with other settings."""
        path = self.root / SETTINGS_FILE
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            recorded = {"format": STORE_FORMAT}
        settings = json.loads(json.dumps(settings, sort_keys=True))  # normalise tuples etc.
        if kind in recorded and recorded[kind] != settings:
            changed = sorted(
                k for k in set(settings) | set(recorded[kind]) if settings.get(k) != recorded[kind].get(k)
            )
            raise ValueError(
                f"{self.root}: the store holds '{kind}' outputs made with other settings "
                f"(differing: {', '.join(changed)}); use another output folder, or delete the "
                f"store's '{kind}' files to start over"
            )
        if kind not in recorded:
            self.root.mkdir(parents=True, exist_ok=True)
            recorded[kind] = settings
            write_text_atomic(path, json.dumps(recorded, indent=1, sort_keys=True))

    def settings(self) -> dict:
        """The contents of ``store.json`` (empty when nothing was written yet)."""
        try:
            return json.loads((self.root / SETTINGS_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
