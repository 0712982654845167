"""The store folder of a sharded corpus (:class:`ShardStore`, on the store format of
:mod:`xqg_lab.core.shard_folder`): its corpus index and memory-mapped readers (layout in
:mod:`xqg_lab.scale.shards`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xqg_lab.core.atomic import write_text_atomic
from xqg_lab.core.shard_folder import CORPUS_INDEX_FILE, ShardFolder
from xqg_lab.core.validation import Choice, expected
from xqg_lab.scale.shards.corpus import CorpusIndex, index_corpus

if TYPE_CHECKING:
    import pandas as pd


class StorageDtype(Choice, label="dtype"):
    """Floating-point type of stored passage embeddings."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"


class ShardStore(ShardFolder):
    """A store folder of a sharded corpus (layout in :mod:`xqg_lab.core.shard_folder` and
    :mod:`xqg_lab.scale.shards`): the corpus index and the readers of each kind of output.

    Parameters
    ----------
    root : the folder; created on first write.

    Readers (:meth:`passage_embeddings`, :meth:`query_sums`, ...) return memory-mapped
    arrays by default, so a search can stream over shards without loading the corpus.
    """

    @staticmethod
    def _sum_kind(name: str) -> str:
        if not name or any(c in name for c in "/\\. \t\n") or name != name.strip():
            raise ValueError(expected("a query-sum name that is a plain word (letters, digits, '-', '_')", name, "fix: rename it"))
        return f"qsum-{name}"

    # corpus index ---------------------------------------------------------------------

    def corpus_index(self) -> CorpusIndex | None:
        """The saved :class:`CorpusIndex`, or ``None``."""
        try:
            return CorpusIndex.from_json((self.root / CORPUS_INDEX_FILE).read_text(encoding="utf-8"))
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
        write_text_atomic(self.root / CORPUS_INDEX_FILE, index.to_json())
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
