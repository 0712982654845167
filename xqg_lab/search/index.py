"""Exact inner-product search with FAISS, and ranked runs as frames and TREC files."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from xqg_lab.core.validation import expected

RUN_COLUMNS = ["query_id", "doc_id", "score", "rank"]


def as_matrix(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected {name} as a 2-d array (n, dim), found shape {x.shape}; fix: stack the vectors into one matrix")
    if not np.isfinite(x).all():
        rows = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise ValueError(f"{name} has NaN or inf values in rows {rows[:5].tolist()}")
    return np.ascontiguousarray(x, dtype=np.float32)


def search(
    query_embeddings: np.ndarray, passage_embeddings: np.ndarray, *, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner-product search (FAISS ``IndexFlatIP``).

    Returns ``(scores, indices)``, each of shape ``(n_queries, min(k, n_passages))``;
    ``scores[i, j]`` is the inner product of query ``i`` with passage ``indices[i, j]``,
    in decreasing order.
    """
    import faiss

    q = as_matrix("query_embeddings", query_embeddings)
    p = as_matrix("passage_embeddings", passage_embeddings)
    if q.shape[1] != p.shape[1]:
        raise ValueError(
            f"expected query and passage embeddings of the same dimension, found {q.shape[1]} and {p.shape[1]}; "
            "fix: encode both with the same model"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"expected k to be a positive int, found {k!r}; fix: e.g. k=100")
    index = faiss.IndexFlatIP(p.shape[1])
    index.add(p)
    scores, indices = index.search(q, min(k, len(p)))
    return scores, indices


def trec_sorted(scores: np.ndarray, indices: np.ndarray, doc_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, indices)`` with each row in trec_eval order: score descending, equal scores
    by ``doc_ids[index]`` descending (code-point order, as trec_eval's ``strcmp``), invalid
    entries (index ``-1``) last. Shapes ``(n_queries, k)`` as :func:`search` returns them.

    Only rows that are not already strictly decreasing are sorted, and only the doc ids of
    those rows are compared, so a search without ties costs one pass over the arrays.
    """
    scores, indices = np.asarray(scores), np.asarray(indices)
    if np.isnan(scores[indices >= 0]).any():
        raise ValueError("scores: expected finite values, found NaN; drop or fill those rows")
    valid = indices >= 0
    # a row is in order when valid entries come first with strictly decreasing scores
    ordered = ~(valid[:, 1:] & ~valid[:, :-1]) & (~valid[:, 1:] | (scores[:, 1:] < scores[:, :-1]))
    rows = np.flatnonzero(~ordered.all(axis=1))
    if len(rows) == 0:
        return scores, indices
    sub, sub_valid = indices[rows], valid[rows]
    used = np.unique(sub[sub_valid])
    doc_text = np.asarray(doc_ids, dtype=object)[used].astype(str)
    code = np.empty(len(used), dtype=np.int64)
    code[np.argsort(doc_text, kind="stable")] = np.arange(len(used))  # ascending code-point order
    tie = np.zeros(sub.shape, dtype=np.int64)
    tie[sub_valid] = code[np.searchsorted(used, sub[sub_valid])]
    key_score = np.where(sub_valid, -scores[rows].astype(np.float64), 0.0)
    order = np.lexsort((-tie, key_score, ~sub_valid), axis=1)
    scores, indices = scores.copy(), indices.copy()
    scores[rows] = np.take_along_axis(scores[rows], order, 1)
    indices[rows] = np.take_along_axis(sub, order, 1)
    return scores, indices


def to_run(
    scores: np.ndarray,
    indices: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
) -> pd.DataFrame:
    """A ranked run frame ``query_id, doc_id, score, rank`` (rank from 1) from the output
    of :func:`search`; ids stay strings. Passages with equal scores are ranked as trec_eval
    ranks them (doc_id descending, :func:`trec_sorted`), so the ``rank`` column, the TREC
    file and the metrics agree."""
    query_ids = np.asarray(query_ids, dtype=object)
    doc_ids = np.asarray(doc_ids, dtype=object)
    scores, indices = np.asarray(scores), np.asarray(indices)
    if len(query_ids) != len(scores):
        raise ValueError(f"{len(query_ids)} query ids for {len(scores)} rows of scores")
    n, k = indices.shape
    if indices.size and indices.max() >= len(doc_ids):
        raise ValueError(
            f"indices name passage row {int(indices.max())}, but only {len(doc_ids)} doc ids were given; "
            "pass the doc ids of the searched passage embeddings, in their row order"
        )
    scores, indices = trec_sorted(scores, indices, doc_ids)
    valid = (indices >= 0).ravel()
    flat = indices.ravel()[valid]
    return pd.DataFrame(
        {
            "query_id": pd.array(np.repeat(query_ids.astype(str).astype(object), k)[valid], dtype="str"),
            "doc_id": pd.array(doc_ids.astype(str).astype(object)[flat], dtype="str"),
            "score": scores.ravel()[valid].astype(np.float64),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), n)[valid],
        }
    )


def write_trec_run(run: pd.DataFrame, path: str | os.PathLike, *, tag: str = "xqg_lab") -> None:
    """Write ``run`` in TREC format: ``query_id Q0 doc_id rank score tag`` per line, atomically
    (a kill or a full disk leaves the previous file, never a file cut mid-line)."""
    missing = set(RUN_COLUMNS) - set(run.columns)
    if missing:
        raise ValueError(f"run frame lacks columns {sorted(missing)}; expected {RUN_COLUMNS}")
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(expected("tag as a non-empty word without spaces", tag, "fix: e.g. tag='xqg'"))
    import pyarrow as pa
    import pyarrow.compute as pc

    from xqg_lab.core.atomic import write_atomic

    fields = [pa.array(run[c].astype(str), pa.string()) for c in ("query_id", "doc_id")]
    lines = pc.binary_join_element_wise(
        fields[0], "Q0", fields[1], pc.cast(pa.array(run["rank"].to_numpy()), pa.string()),
        fixed_6(run["score"].to_numpy(dtype=np.float64)), f"{tag}\n", " ",
    )  # fmt: skip
    whole_file = pc.binary_join(pa.ListArray.from_arrays([0, len(lines)], lines), "")[0]
    write_atomic(path, whole_file.as_buffer())  # the UTF-8 bytes as Arrow holds them, no copy through str


def fixed_6(values: np.ndarray):
    """``f"{v:.6f}"`` of every float64 in ``values`` (an Arrow string array), computed in
    integers: ``rint(v · 10⁶)`` is the correctly rounded value unless the product lands within
    a few ulps of a half (float rounding of the product could then pick the other neighbour),
    is too large for exact integers, or is not finite; those few go through Python's format."""
    import pyarrow as pa
    import pyarrow.compute as pc

    scaled = values * 1e6
    rounded = np.rint(scaled)
    with np.errstate(invalid="ignore"):  # inf - inf: those go through Python anyway
        near_half = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) <= 4 * np.spacing(np.abs(scaled))
    by_python = ~np.isfinite(scaled) | (np.abs(scaled) >= 2.0**52) | near_half
    units = np.abs(np.where(by_python, 0.0, rounded)).astype(np.int64)
    whole = pc.cast(pa.array(units // 10**6), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(units % 10**6), pa.string()), width=6, padding="0")
    sign = pa.array(np.where(np.signbit(values), "-", ""), pa.string())
    text = pc.binary_join_element_wise(sign, whole, ".", fraction, "")
    if by_python.any():
        exact = pa.array([f"{v:.6f}" for v in values[by_python].tolist()], pa.string())
        text = pc.replace_with_mask(text, pa.array(by_python), exact)
    return text


def read_trec_run(path: str | os.PathLike) -> pd.DataFrame:
    """Read a TREC run file into a run frame (ids as strings)."""
    from xqg_lab.data.common import iter_lines
    from xqg_lab.core.errors import DataFormatError

    rows = []
    for lineno, line in iter_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise DataFormatError(
                path, lineno, f"expected 6 fields 'qid Q0 docid rank score tag', found {len(parts)}"
            )
        try:
            score, rank = float(parts[4]), int(parts[3])
        except ValueError:
            raise DataFormatError(
                path, lineno, f"expected an integer rank and a numeric score, found {parts[3]!r} and {parts[4]!r}; "
                "fix columns 4 (rank) and 5 (score) of the run file"
            ) from None
        if not np.isfinite(score):
            raise DataFormatError(path, lineno, expected("a finite score", parts[4], "replace NaN/inf scores in the run file"))
        rows.append((parts[0], parts[2], score, rank))
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _inner_products_by_idx(q: np.ndarray, x: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``out[i, j] = q[i] · x[ids[i, j]]``: float32 ``(n_q, m)`` for ``ids`` int ``(n_q, m)``
    of valid rows of ``x``, computed by FAISS without gathering copies of the rows."""
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
    """Exact top-``k`` search of the augmented passages ``p' = (1-α)·p + α·S`` for every
    α of ``alphas``, at about the cost of two searches.

    Scores are linear in α: ``q·p' = (1-α)·q·p + α·q·S``. One search over ``p`` and one
    over ``S`` (each ``depth`` deep, default ``max(2k, 100)``) give candidates whose two
    score terms are recomputed exactly (FAISS ``fvec_inner_products_by_idx``, no gathered
    copies of the rows); the k best per α are exact whenever the k-th score beats
    ``(1-α)·a_depth + α·b_depth``, the best score any passage outside both candidate
    lists can reach (Fagin's threshold argument). Queries where that bound is not met
    are searched in full for that α. Returns ``{α: (scores, indices)}`` with arrays of
    shape ``(n_queries, k)``, as :func:`search` gives for each α.
    """
    from xqg_lab.augment import check_alpha

    alphas = [check_alpha(a) for a in alphas]
    q = as_matrix("query_embeddings", query_embeddings)
    p = as_matrix("passage_embeddings", passage_embeddings)
    s = as_matrix("query_sum", query_sum)
    if p.shape != s.shape:
        raise ValueError(f"passage embeddings {p.shape} and query sums {s.shape} must have the same shape")
    n_p = len(p)
    k = min(k, n_p)
    depth = min(max(depth or max(2 * k, 100), k), n_p)
    score_a, ids_a = search(q, p, k=depth)
    score_b, ids_b = search(q, s, k=depth)
    candidates = np.concatenate([ids_a, ids_b], axis=1)  # (n_q, 2·depth), may repeat ids
    # A passage found by both searches is kept once: mask its second occurrence.
    order = np.argsort(candidates, axis=1, kind="stable")
    sorted_ids = np.take_along_axis(candidates, order, 1)
    repeat = np.zeros_like(candidates, dtype=bool)
    np.put_along_axis(repeat, order[:, 1:], sorted_ids[:, 1:] == sorted_ids[:, :-1], 1)
    a = _inner_products_by_idx(q, p, candidates)
    b = _inner_products_by_idx(q, s, candidates)
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
