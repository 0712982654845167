"""Per-passage sums of generated-query vectors, shard by shard: where the queries come
from (:class:`QuerySource` and its variants), the worker that encodes and sums one shard's
queries, and the driver."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from xqg_lab.core.errors import DataFormatError
from xqg_lab.scale.shards._common import _Factory, _settings_of, _summary, build_encoder, run_once
from xqg_lab.scale.shards.corpus import select_shards
from xqg_lab.scale.shards.store import ShardStore

if TYPE_CHECKING:
    import pandas as pd


class QuerySource(Protocol):
    """Where the generated queries of a shard come from."""

    def iter_chunks(self, shard: int, doc_ids: Sequence[str], *, chunk_size: int) -> Iterator[pd.DataFrame]:
        """Frames of at most ``chunk_size`` rows ``doc_id, lang, text`` for the passages
        ``doc_ids`` of shard ``shard``, in a deterministic order."""
        ...


@dataclasses.dataclass(frozen=True)
class StoreQueries:
    """The generated queries kept in a store cut like the corpus (:func:`generate_query_shards`, or
    :func:`xqg_lab.generate.generate_store` over the corpus in file order with the same shard size)."""

    root: str

    def iter_chunks(self, shard, doc_ids, *, chunk_size):
        import pyarrow.parquet as pq

        path = ShardStore(self.root).path(shard, "queries.parquet")
        if not ShardStore(self.root).is_done("queries", shard, verify=False):
            raise FileNotFoundError(f"{path}: shard {shard} has no generated queries yet; generate them first")
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size, columns=["doc_id", "lang", "text"]):
            yield batch.to_pandas()


@dataclasses.dataclass(frozen=True)
class ParquetQueries:
    """Generated queries in Parquet with ``doc_id, lang, text`` columns: one file, or a
    folder whose ``*.parquet`` files (recursively, in name order) are read -- e.g. a store
    of :func:`xqg_lab.generate.generate_store` (either layout). Each shard reads
    only the rows of its passages. ``only_in_target_language`` keeps the rows whose
    ``in_target_language`` column is true (that store's language check)."""

    path: str
    only_in_target_language: bool = False

    def files(self) -> list[str]:
        path = Path(self.path)
        if path.is_dir():
            files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
            if not files:
                raise FileNotFoundError(f"{path}: no .parquet files of generated queries")
            return files
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}; expected Parquet generated queries")
        return [str(path)]

    def iter_chunks(self, shard, doc_ids, *, chunk_size):
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        dataset = ds.dataset(self.files(), format="parquet")
        columns = ["doc_id", "lang", "text"]
        missing = set(columns) - set(dataset.schema.names)
        if self.only_in_target_language:
            columns.append("in_target_language")
            missing |= {"in_target_language"} - set(dataset.schema.names)
        if missing:
            raise DataFormatError(self.path, None, f"generated queries lack columns {sorted(missing)}")
        condition = pc.field("doc_id").cast(pa.string()).isin(pa.array(list(doc_ids), type=pa.string()))
        if self.only_in_target_language:
            condition = condition & pc.field("in_target_language")
        scanner = dataset.scanner(
            columns=columns[:3], filter=condition, batch_size=chunk_size,
            use_threads=False,  # keep the row order deterministic
            # memory: about one row group whatever the file size (pre-buffering reads ahead
            # the column chunks of the whole file: 60 MB per 1.4M queries)
            batch_readahead=1, fragment_readahead=1,
            fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
        )
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield batch.to_pandas()


@dataclasses.dataclass(frozen=True)
class FrameQueries:
    """Generated queries in memory (a ``doc_id, lang, text`` frame): small data, tests."""

    frame: pd.DataFrame

    def iter_chunks(self, shard, doc_ids, *, chunk_size):
        mine = self.frame[self.frame["doc_id"].astype(str).isin(set(doc_ids))]
        for start in range(0, len(mine), chunk_size):
            yield mine.iloc[start : start + chunk_size]


class QuerySumShardWorker:
    """Encodes each shard's generated queries with the **query** encoder and stores, per
    passage, ``S = Σ_j q_j`` over the queries of ``langs`` (float64 accumulation, stored
    float32 ``(n, dim)``) and their counts per language (int32 ``(n_langs, n)``).
    Memory: one shard's sums plus one chunk of queries, whatever the number of queries.
    Each shard is summed under :meth:`ShardStore.lock`.
    """

    def __init__(self, root, source: QuerySource, encoder, *, langs: Sequence[str], name: str = "all",
                 chunk_size: int = 8192, verify: bool = True):
        self.store = ShardStore(root)
        self.kind = ShardStore._sum_kind(name)
        self.name = name
        self.source = source
        self.encoder = build_encoder(encoder)
        self.langs = tuple(langs)
        self.chunk_size = chunk_size
        self.verify = verify

    def __call__(self, task: Mapping[str, Any]) -> dict:
        index = int(task["index"])
        passages = self.store.marker("passages", index)
        if passages is None:
            raise FileNotFoundError(f"{self.store.root}: shard {index} has no passages yet; encode the corpus first")
        return run_once(
            self.store, self.kind, index, n=passages["n"], key="passages_sha256", expected=passages["content_sha256"],
            verify=self.verify, work=lambda: self.encode_shard(index),
        )  # fmt: skip

    def encode_shard(self, index: int) -> dict:
        start = time.perf_counter()
        doc_ids = self.store.doc_ids(index)
        row_of = {d: i for i, d in enumerate(doc_ids)}
        lang_of = {lang: i for i, lang in enumerate(self.langs)}
        sums: np.ndarray | None = None
        counts = np.zeros((len(self.langs), len(doc_ids)), dtype=np.int32)
        n_queries = 0
        for chunk in self.source.iter_chunks(index, doc_ids, chunk_size=self.chunk_size):
            chunk = chunk[chunk["lang"].isin(self.langs)]
            if chunk.empty:
                continue
            rows = chunk["doc_id"].astype(str).map(row_of)
            if rows.isna().any():
                unknown = chunk["doc_id"][rows.isna()].astype(str).unique()[:5].tolist()
                raise ValueError(f"shard {index}: generated queries name passages not in the shard, e.g. {unknown}")
            rows = rows.to_numpy(dtype=np.int64)
            vectors = np.asarray(self.encoder.encode_queries(chunk["text"].tolist()), dtype=np.float32)
            if sums is None:
                sums = np.zeros((len(doc_ids), vectors.shape[1]), dtype=np.float64)
            np.add.at(sums, rows, vectors)
            np.add.at(counts, (chunk["lang"].map(lang_of).to_numpy(), rows), 1)
            n_queries += len(chunk)
        if sums is None:
            dim = int(self.store.passage_embeddings(index).shape[1])
            sums = np.zeros((len(doc_ids), dim), dtype=np.float64)
        passages = self.store.marker("passages", index)
        return self.store.write_outputs(
            self.kind,
            index,
            {f"{self.kind}.npy": sums.astype(np.float32), f"qcount-{self.name}.npy": counts},
            {
                "n": len(doc_ids),
                "dim": int(sums.shape[1]),
                "dtype": "float32",
                "langs": list(self.langs),
                "n_queries": int(n_queries),
                "encoder": self.encoder.settings("query"),
                "passages_sha256": passages["content_sha256"],
                "seconds": round(time.perf_counter() - start, 3),
            },
        )


def encode_query_sum_shards(
    out_dir: str | os.PathLike,
    queries,
    *,
    encoder,
    langs: Sequence[str],
    name: str = "all",
    shard_index: int = 0,
    num_shards: int = 1,
    chunk_size: int = 8192,
    backend: str = "local",
    ray_options=None,
    verify: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Per shard, encode the generated queries of the passages and store their sum.

    Parameters
    ----------
    out_dir : a store whose passage shards are encoded.
    queries : a :class:`QuerySource`, a path to Parquet (file or folder, ``doc_id, lang,
        text``), a ``doc_id, lang, text`` frame, or ``"store"`` for the queries written by
        :func:`generate_query_shards` into the same store.
    encoder : as for :func:`encode_passage_shards`; its **query** settings are used.
    langs : languages summed into ``S`` (the paper: all 7 XOR-TyDi languages).
    name : name of this sum (``qsum-<name>``), e.g. ``"all"`` or ``"ar"`` for a
        per-language ablation.

    ``S`` matches :meth:`xqg_lab.augment.QuerySums.fused` (rule ``"sum"``) of the same
    queries to float32 rounding. Returns ``shard, n, status, seconds``.
    """
    import pandas as pd

    from xqg_lab.scale import run_shard_tasks

    store = ShardStore(out_dir)
    kind = ShardStore._sum_kind(name)
    langs = tuple(langs)
    if not langs:
        raise ValueError("langs must name at least one language")
    if isinstance(queries, str) and queries == "store":
        source: QuerySource = StoreQueries(str(store.root))
    elif isinstance(queries, (str, os.PathLike)):
        source = ParquetQueries(str(queries))
    elif isinstance(queries, pd.DataFrame):
        source = FrameQueries(queries)
    else:
        source = queries
    store.check_settings(kind, {"langs": list(langs), "encoder": _settings_of(encoder, "query")})
    shards = store.require_complete("passages")
    selected = select_shards(shards, shard_index=shard_index, num_shards=num_shards)
    sizes = dict(enumerate(store.shard_sizes()))
    hashes = {i: (store.marker("passages", i) or {}).get("content_sha256") for i in selected}
    pending = []
    for i in selected:
        marker = store.marker(kind, i)
        if marker is not None and marker.get("passages_sha256") == hashes[i] and store.is_done(kind, i, verify=verify):
            continue
        pending.append(i)
    skipped = [i for i in selected if i not in set(pending)]
    factory = _Factory(
        QuerySumShardWorker,
        (str(store.root), source, encoder),
        {"langs": langs, "name": name, "chunk_size": chunk_size, "verify": verify},
    )
    rows = run_shard_tasks(
        [{"index": i} for i in pending], factory, backend=backend, ray_options=ray_options,
        progress=progress, description="encoding generated queries",
    )
    return _summary(rows, skipped, sizes)
