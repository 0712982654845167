"""Proposed replacement for :func:`xqg_lab.index.search_alpha_grid` (measured by
``bench_alpha_grid.py`` next to the current one; not imported by the library).

Two changes, same algorithm and the same exactness certificate:

1. the candidates' two score terms are computed by FAISS's
   ``fvec_inner_products_by_idx`` (C++, OpenMP) instead of gathering ``(n_q, 2·depth,
   dim)`` copies of the rows for ``np.einsum`` -- 10-60× faster, no 300 MB temporaries;
2. the default depth is ``max(2k, 100)`` instead of ``max(4k, 100)``: each of the two
   searches is about as costly as one ``k``-deep search instead of 1.3-2×; queries whose
   certificate fails are still searched in full, so results stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def inner_products_by_idx(q: np.ndarray, x: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``out[i, j] = q[i] · x[ids[i, j]]``: float32 ``(n_q, m)`` (FAISS, no gathered copy)."""
    import faiss

    q = np.ascontiguousarray(q, dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    out = np.empty(ids.shape, dtype=np.float32)
    faiss.fvec_inner_products_by_idx(
        faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(x), faiss.swig_ptr(ids), q.shape[1], len(q), ids.shape[1]
    )
    return out


def search_alpha_grid(
    query_embeddings: np.ndarray,
    passage_embeddings: np.ndarray,
    query_sum: np.ndarray,
    alphas: Sequence[float],
    *,
    k: int,
    depth: int | None = None,
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    from xqg_lab.augment import check_alpha
    from xqg_lab.index import _as_matrix, search

    alphas = [check_alpha(a) for a in alphas]
    q = _as_matrix("query_embeddings", query_embeddings)
    p = _as_matrix("passage_embeddings", passage_embeddings)
    s = _as_matrix("query_sum", query_sum)
    if p.shape != s.shape:
        raise ValueError(f"passage embeddings {p.shape} and query sums {s.shape} must have the same shape")
    n_p = len(p)
    k = min(k, n_p)
    depth = min(max(depth or max(2 * k, 100), k), n_p)  # changed: was max(4 * k, 100)
    score_a, ids_a = search(q, p, k=depth)
    score_b, ids_b = search(q, s, k=depth)
    candidates = np.concatenate([ids_a, ids_b], axis=1)
    order = np.argsort(candidates, axis=1, kind="stable")
    sorted_ids = np.take_along_axis(candidates, order, 1)
    repeat = np.zeros_like(candidates, dtype=bool)
    np.put_along_axis(repeat, order[:, 1:], sorted_ids[:, 1:] == sorted_ids[:, :-1], 1)
    a = inner_products_by_idx(q, p, candidates)  # changed: was a chunked np.einsum over gathered rows
    b = inner_products_by_idx(q, s, candidates)
    results = {}
    for alpha in alphas:
        combined = np.where(repeat, -np.inf, (1 - alpha) * a + alpha * b)
        top = np.argpartition(-combined, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(combined, top, 1), axis=1, kind="stable"), 1)
        scores = np.take_along_axis(combined, top, 1)
        indices = np.take_along_axis(candidates, top, 1)
        if depth < n_p:
            bound = (1 - alpha) * score_a[:, -1] + alpha * score_b[:, -1]
            unsure = np.flatnonzero(scores[:, -1] < bound)
            if len(unsure):
                scores[unsure], indices[unsure] = search(q[unsure], (1 - alpha) * p + alpha * s, k=k)
        results[alpha] = (scores, indices)
    return results
