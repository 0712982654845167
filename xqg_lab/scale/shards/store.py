"""The store folder of per-shard outputs (:class:`ShardStore`): atomic writes sealed by
completion markers, the settings each kind of output was made with, and memory-mapped
readers (layout in :mod:`xqg_lab.scale.shards`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xqg_lab.core.atomic import save_npy_atomic, write_parquet_atomic, write_text_atomic
from xqg_lab.core.checksums import file_sha256
from xqg_lab.core.errors import Choice
from xqg_lab.scale.shards.corpus import STORE_FORMAT, CorpusIndex, index_corpus

if TYPE_CHECKING:
    import pandas as pd


class StorageDtype(Choice):
    """Floating-point type of stored passage embeddings."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"

    @classmethod
    def label(cls) -> str:
        return "dtype"


class ShardStore:
    """A folder of per-shard outputs (layout in :mod:`xqg_lab.scale.shards`).

    Parameters
    ----------
    root : the folder; created on first write.

    Readers (:meth:`passage_embeddings`, :meth:`query_sums`, ...) return memory-mapped
    arrays by default, so a search can stream over shards without loading the corpus.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # paths ----------------------------------------------------------------------------

    def path(self, index: int, suffix: str) -> Path:
        """``root/shard-<index:05d>.<suffix>``."""
        return self.root / f"shard-{int(index):05d}.{suffix}"

    @staticmethod
    def _sum_kind(name: str) -> str:
        if not name or any(c in name for c in "/\\. \t\n") or name != name.strip():
            raise ValueError(f"query-sum name must be a plain word (letters, digits, '-', '_'); got {name!r}")
        return f"qsum-{name}"

    # markers --------------------------------------------------------------------------

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

    # store-level settings -------------------------------------------------------------

    def check_settings(self, kind: str, settings: Mapping[str, Any]) -> None:
        """Record ``settings`` for ``kind`` in ``store.json``, or refuse when the store
        already holds ``kind`` outputs made with other settings."""
        path = self.root / "store.json"
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
            return json.loads((self.root / "store.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    # corpus index ---------------------------------------------------------------------

    def corpus_index(self) -> CorpusIndex | None:
        """The saved :class:`CorpusIndex`, or ``None``."""
        try:
            return CorpusIndex.from_json((self.root / "corpus-index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            return None

    def load_or_index(self, corpus: str | os.PathLike, *, shard_size: int) -> CorpusIndex:
        """The saved index when it still matches ``corpus`` and ``shard_size``; otherwise a
        fresh :func:`index_corpus`, saved."""
        index = self.corpus_index()
        if index is not None and index.matches(corpus, shard_size=shard_size):
            return index
        index = index_corpus(corpus, shard_size=shard_size)
        self.root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.root / "corpus-index.json", index.to_json())
        return index

    def shard_sizes(self) -> list[int]:
        """Passages per shard, from the corpus index (all shards, done or not)."""
        index = self.corpus_index()
        if index is None:
            raise FileNotFoundError(f"{self.root}: no corpus-index.json; encode the corpus into this store first")
        return [s.n for s in index.shards]

    def n_shards(self) -> int:
        return len(self.shard_sizes())

    def is_complete(self, kind: str = "passages") -> bool:
        """Whether every shard of the indexed corpus has a ``kind`` marker."""
        index = self.corpus_index()
        return index is not None and set(self.done(kind)) >= set(range(len(index.shards)))

    # readers --------------------------------------------------------------------------

    def _load(self, path: Path, mmap: bool) -> np.ndarray:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)

    def passage_embeddings(self, index: int, *, mmap: bool = True) -> np.ndarray:
        """Shard ``index``'s passage vectors, ``(n, dim)`` in the stored dtype."""
        return self._load(self.path(index, "passages.npy"), mmap)

    def doc_ids(self, index: int) -> list[str]:
        """Shard ``index``'s passage ids, in corpus order."""
        text = self.path(index, "ids.txt").read_text(encoding="utf-8")
        return text.split("\n")[:-1] if text else []

    def query_sums(self, index: int, *, name: str = "all", mmap: bool = True) -> np.ndarray:
        """Shard ``index``'s ``S`` (float32 ``(n, dim)``), the Σ of each passage's query vectors."""
        return self._load(self.path(index, f"{self._sum_kind(name)}.npy"), mmap)

    def query_counts(self, index: int, *, name: str = "all", mmap: bool = True) -> np.ndarray:
        """Shard ``index``'s query counts, int32 ``(n_langs, n)`` (languages in the marker)."""
        return self._load(self.path(index, f"qcount-{name}.npy"), mmap)

    def generated_queries(self, index: int) -> pd.DataFrame:
        """Shard ``index``'s generated queries (see :func:`generate_query_shards`)."""
        import pandas as pd

        return pd.read_parquet(self.path(index, "queries.parquet"))

    def require_complete(self, kind: str = "passages") -> list[int]:
        """All shard numbers, after checking every one has a ``kind`` marker."""
        index = self.corpus_index()
        if index is None:
            raise FileNotFoundError(f"{self.root}: no corpus-index.json; encode the corpus into this store first")
        missing = sorted(set(range(len(index.shards))) - set(self.done(kind)))
        if missing:
            raise ValueError(
                f"{self.root}: {len(missing)} of {len(index.shards)} shards have no '{kind}' output yet "
                f"(e.g. {missing[:5]}); run the missing shards first"
            )
        return list(range(len(index.shards)))

    def iter_passage_embeddings(self) -> Iterator[np.ndarray]:
        """Every shard's passage vectors in order (memory-mapped), for streaming search."""
        for i in self.require_complete("passages"):
            yield self.passage_embeddings(i)

    def iter_query_sums(self, *, name: str = "all") -> Iterator[np.ndarray]:
        """Every shard's ``S`` in order (memory-mapped)."""
        for i in self.require_complete(self._sum_kind(name)):
            yield self.query_sums(i, name=name)

    def iter_fusion_targets(self, *, name: str = "all", on_no_query: str = "keep") -> Iterator[np.ndarray]:
        """Every shard's ``S`` as the augmentation uses it (:func:`xqg_lab.augment.fusion_target`):
        a passage without queries holds its own vector (``"keep"``: ``p' = p``) or zeros
        (``"literal"``); memory-mapped where no passage lacks queries."""
        from xqg_lab.augment import fusion_target

        for i in self.require_complete(self._sum_kind(name)):
            n_queries = np.asarray(self.query_counts(i, name=name)).sum(axis=0)
            yield fusion_target(self.passage_embeddings(i), self.query_sums(i, name=name), n_queries,
                                on_no_query=on_no_query)  # fmt: skip

    def all_doc_ids(self) -> list[str]:
        """The ids of every passage, in corpus order (row ``r`` of the global index)."""
        out: list[str] = []
        for i in self.require_complete("passages"):
            out.extend(self.doc_ids(i))
        return out

    def status(self) -> pd.DataFrame:
        """Per shard: ``shard, n`` and one boolean column per kind of output (marker present)."""
        import pandas as pd

        sizes = self.shard_sizes()
        kinds = sorted(
            {p.name.split(".", 1)[1][: -len(".json")] for p in self.root.glob("shard-*.json")}
        )
        frame = pd.DataFrame({"shard": range(len(sizes)), "n": sizes})
        for kind in kinds:
            done = set(self.done(kind))
            frame[kind] = frame["shard"].isin(done)
        return frame
