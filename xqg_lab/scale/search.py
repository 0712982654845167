"""Search over sharded passage embeddings, exact or approximate.

- :func:`search_sharded`: exact inner-product top-``k`` (FAISS ``IndexFlatIP``) shard by
  shard, with a streaming merge (:class:`TopK`) that keeps only ``(n_queries, k)``
  running arrays, so memory is one shard plus the results whatever the corpus size.
  Equals :func:`xqg_lab.search.index.search` on the concatenated passages.
- :func:`search_alpha_grid_sharded`: the xQG α grid (``p' = (1-α)·p + α·S``) on shards:
  :func:`xqg_lab.search.index.search_alpha_grid` (two searches + exact rescoring + threshold
  certificate) within each shard, then the same streaming merge per α. Exact, because
  the global top-``k`` is always among the per-shard top-``k`` lists.
- :func:`build_index` / :func:`search_index`: FAISS index-factory strings (``"IVF1024,Flat"``,
  ``"HNSW32"``, ``"IVF256,PQ16"``, ...) trained on a sample and filled shard by shard;
  :func:`recall_check` measures recall@k against exact flat search on a sample of queries,
  next to both speeds. Approximate indexes are for scale only (DESIGN.md): report the
  check with every result obtained from one.

Inputs are arrays (any float dtype; float16 shards are converted one at a time); pass
``ShardStore.iter_passage_embeddings()`` or a list of memory-mapped shards.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence

import numpy as np

from xqg_lab.core.validation import expected
from xqg_lab.search.index import as_matrix, search, search_alpha_grid


class TopK:
    """Running top-``k`` of score blocks streamed in, per query.

    Parameters
    ----------
    n_queries : rows of every block.
    k : results kept per query.

    After :meth:`push`, ``scores_`` (float32) and ``indices_`` (int64) of shape
    ``(n_queries, min(k, seen))`` hold the best entries so far in decreasing score order
    (ties: smaller index first); index ``-1`` marks an empty slot. Memory is
    ``O(n_queries · k)`` whatever the number of blocks.
    """

    def __init__(self, n_queries: int, *, k: int):
        if k < 1:
            raise ValueError(expected("k as a positive integer", k, "fix: e.g. k=100"))
        self.k = int(k)
        self.scores_ = np.empty((n_queries, 0), dtype=np.float32)
        self.indices_ = np.empty((n_queries, 0), dtype=np.int64)

    def push(self, scores: np.ndarray, indices: np.ndarray) -> TopK:
        """Merge a block: ``scores`` and global ``indices`` of shape ``(n_queries, m)``
        (any order; entries with index < 0 are ignored). Returns ``self``."""
        scores = np.asarray(scores, dtype=np.float32)
        indices = np.asarray(indices, dtype=np.int64)
        if scores.shape != indices.shape or scores.ndim != 2 or len(scores) != len(self.scores_):
            raise ValueError(
                f"expected scores and indices of shape ({len(self.scores_)}, m), "
                f"found {scores.shape} and {indices.shape}; fix: pass one row per query"
            )
        all_scores = np.concatenate([self.scores_, scores], axis=1)
        all_indices = np.concatenate([self.indices_, indices], axis=1)
        all_scores = np.where(all_indices < 0, -np.inf, all_scores)
        keep = min(self.k, all_scores.shape[1])
        order = np.lexsort((all_indices, -all_scores), axis=-1)[:, :keep]
        self.scores_ = np.take_along_axis(all_scores, order, 1)
        self.indices_ = np.take_along_axis(all_indices, order, 1)
        self.indices_[~np.isfinite(self.scores_)] = -1
        return self


def _shard_f32(shard: np.ndarray, name: str) -> np.ndarray:
    return as_matrix(name, np.asarray(shard, dtype=np.float32))


def search_sharded(
    query_embeddings: np.ndarray, passage_shards: Iterable[np.ndarray], *, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner-product search over passages given as consecutive shards.

    Returns ``(scores, indices)`` of shape ``(n_queries, min(k, n_passages))``, indices
    global (row of the concatenated shards), as :func:`xqg_lab.search.index.search` returns for
    the concatenation.
    """
    q = as_matrix("query_embeddings", query_embeddings)
    top = TopK(len(q), k=k)
    offset = 0
    for i, shard in enumerate(passage_shards):
        p = _shard_f32(shard, f"passage shard {i}")
        if len(p):
            scores, indices = search(q, p, k=min(k, len(p)))
            top.push(scores, indices + offset)
        offset += len(p)
    return top.scores_, top.indices_


def search_alpha_grid_sharded(
    query_embeddings: np.ndarray,
    passage_shards: Iterable[np.ndarray],
    sum_shards: Iterable[np.ndarray],
    alphas: Sequence[float],
    *,
    k: int,
    depth: int | None = None,
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Exact top-``k`` of ``p' = (1-α)·p + α·S`` for every α, shard by shard.

    ``passage_shards`` and ``sum_shards`` are aligned (same rows); each pair goes through
    :func:`xqg_lab.search.index.search_alpha_grid` (``depth`` as there) and the per-α results
    are merged with :class:`TopK`. Returns ``{α: (scores, indices)}`` equal to
    ``search_alpha_grid`` on the concatenated arrays.
    """
    q = as_matrix("query_embeddings", query_embeddings)
    alphas = [float(a) for a in alphas]
    tops = {a: TopK(len(q), k=k) for a in alphas}
    offset = 0
    sums = iter(sum_shards)
    for i, shard in enumerate(passage_shards):
        try:
            s = _shard_f32(next(sums), f"query-sum shard {i}")
        except StopIteration:
            raise ValueError(f"fewer query-sum shards than passage shards (no shard {i})") from None
        p = _shard_f32(shard, f"passage shard {i}")
        if p.shape != s.shape:
            raise ValueError(f"shard {i}: passages {p.shape} and query sums {s.shape} differ in shape")
        if len(p):
            for alpha, (scores, indices) in search_alpha_grid(q, p, s, alphas, k=k, depth=depth).items():
                tops[alpha].push(scores, indices + offset)
        offset += len(p)
    if next(sums, None) is not None:
        raise ValueError("more query-sum shards than passage shards")
    return {a: (t.scores_, t.indices_) for a, t in tops.items()}


# -- approximate search ---------------------------------------------------------------------


def _as_shard_list(passages) -> list[np.ndarray]:
    if isinstance(passages, np.ndarray):
        return [passages]
    return list(passages)


def _sample_rows(shards: list[np.ndarray], n: int, seed: int) -> np.ndarray:
    sizes = np.array([len(s) for s in shards])
    total = int(sizes.sum())
    rows = np.sort(np.random.default_rng(seed).choice(total, size=min(n, total), replace=False))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    parts = []
    for i, shard in enumerate(shards):
        mine = rows[(rows >= starts[i]) & (rows < starts[i + 1])] - starts[i]
        if len(mine):
            parts.append(np.asarray(shard[mine], dtype=np.float32))
    return np.ascontiguousarray(np.concatenate(parts))


def build_index(
    passages,
    factory: str,
    *,
    train_size: int = 100_000,
    seed: int = 0,
    params: str | None = None,
):
    """A FAISS inner-product index from an index-factory string, filled shard by shard.

    Parameters
    ----------
    passages : an array ``(n, dim)`` or a sequence of shard arrays (re-read once to train
        and once to add).
    factory : e.g. ``"Flat"`` (exact), ``"IVF1024,Flat"``, ``"HNSW32"``, ``"IVF256,PQ16"``
        (see the FAISS wiki "The index factory").
    train_size : rows sampled uniformly (``seed``) to train indexes that need training.
    params : search-time parameters, e.g. ``"nprobe=16"`` or ``"efSearch=128"``.
    """
    import faiss

    shards = _as_shard_list(passages)
    if not shards:
        raise ValueError("no passages to index")
    dim = int(shards[0].shape[1])
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ValueError(
            f"invalid FAISS index factory string {factory!r} ({str(exc).strip().splitlines()[-1]}); "
            "examples: 'Flat', 'IVF1024,Flat', 'HNSW32', 'IVF256,PQ16'"
        ) from None
    if not index.is_trained:
        index.train(_sample_rows(shards, train_size, seed))
    for i, shard in enumerate(shards):
        index.add(_shard_f32(shard, f"passage shard {i}"))
    if params:
        set_search_params(index, params)
    return index


def set_search_params(index, params: str) -> None:
    """Set search-time parameters on ``index`` (``"nprobe=16"``, ``"efSearch=128"``,
    comma-separated), through ``faiss.ParameterSpace``."""
    import faiss

    try:
        faiss.ParameterSpace().set_index_parameters(index, params)
    except RuntimeError as exc:
        raise ValueError(f"cannot set {params!r} on this index: {str(exc).strip().splitlines()[-1]}") from None


def search_index(index, query_embeddings: np.ndarray, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``index`` for the queries: ``(scores, indices)`` of shape
    ``(n_queries, k)``; an approximate index may return index ``-1`` in empty slots."""
    q = as_matrix("query_embeddings", query_embeddings)
    if k < 1:
        raise ValueError(expected("k as a positive integer", k, "fix: e.g. k=100"))
    return index.search(q, min(k, index.ntotal))


def recall_at_k(approx_indices: np.ndarray, exact_indices: np.ndarray, *, k: int) -> np.ndarray:
    """Per query, the fraction of the exact top-``k`` that the approximate top-``k``
    contains: float64 ``(n_queries,)`` in [0, 1]."""
    approx = np.asarray(approx_indices)[:, :k]
    exact = np.asarray(exact_indices)[:, :k]
    if len(approx) != len(exact):
        raise ValueError(f"{len(approx)} approximate rows for {len(exact)} exact rows")
    out = np.empty(len(exact))
    for i, (a, e) in enumerate(zip(approx, exact)):
        e = e[e >= 0]
        out[i] = np.isin(e, a[a >= 0]).mean() if len(e) else 1.0
    return out


@dataclasses.dataclass(frozen=True)
class RecallCheck:
    """An approximate index checked against exact flat search on a query sample.

    Attributes
    ----------
    factory, params : the index and its search parameters.
    k : depth of the recall.
    n_queries : size of the query sample.
    recall : mean recall@k over the sample, in [0, 1] (1.0 = same top-k as flat).
    approx_qps, exact_qps : queries per second of the index and of sharded flat search.
    """

    factory: str
    params: str | None
    k: int
    n_queries: int
    recall: float
    approx_qps: float
    exact_qps: float

    @property
    def speedup(self) -> float:
        return self.approx_qps / self.exact_qps


def recall_check(
    index,
    query_sample: np.ndarray,
    passages,
    *,
    k: int = 100,
    factory: str = "",
    params: str | None = None,
) -> RecallCheck:
    """Recall@``k`` of ``index`` against exact flat search over ``passages`` (an array or
    shard sequence), on ``query_sample``, with the speed of both."""
    q = as_matrix("query_sample", query_sample)
    if params:
        set_search_params(index, params)
    start = time.perf_counter()
    _, approx = search_index(index, q, k=k)
    approx_s = time.perf_counter() - start
    start = time.perf_counter()
    _, exact = search_sharded(q, _as_shard_list(passages), k=k)
    exact_s = time.perf_counter() - start
    return RecallCheck(
        factory=factory,
        params=params,
        k=k,
        n_queries=len(q),
        recall=float(recall_at_k(approx, exact, k=k).mean()),
        approx_qps=len(q) / max(approx_s, 1e-9),
        exact_qps=len(q) / max(exact_s, 1e-9),
    )
