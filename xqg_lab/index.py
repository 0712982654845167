"""Exact inner-product search with FAISS, and ranked runs as frames and TREC files."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

RUN_COLUMNS = ["query_id", "doc_id", "score", "rank"]


def _as_matrix(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (n, dim); got shape {x.shape}")
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

    q = _as_matrix("query_embeddings", query_embeddings)
    p = _as_matrix("passage_embeddings", passage_embeddings)
    if q.shape[1] != p.shape[1]:
        raise ValueError(
            f"query and passage embeddings must have the same dimension; "
            f"got {q.shape[1]} and {p.shape[1]}"
        )
    if k < 1:
        raise ValueError(f"k must be a positive integer; got {k}")
    index = faiss.IndexFlatIP(p.shape[1])
    index.add(p)
    scores, indices = index.search(q, min(k, len(p)))
    return scores, indices


def to_run(
    scores: np.ndarray,
    indices: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
) -> pd.DataFrame:
    """A ranked run frame ``query_id, doc_id, score, rank`` (rank from 1) from the output
    of :func:`search`; ids stay strings."""
    query_ids = np.asarray(query_ids, dtype=object)
    doc_ids = np.asarray(doc_ids, dtype=object)
    if len(query_ids) != len(scores):
        raise ValueError(f"{len(query_ids)} query ids for {len(scores)} rows of scores")
    n, k = indices.shape
    valid = indices >= 0
    return pd.DataFrame(
        {
            "query_id": np.repeat(query_ids, k)[valid.ravel()].astype(str),
            "doc_id": doc_ids[indices[valid]].astype(str),
            "score": scores[valid].astype(np.float64),
            "rank": np.tile(np.arange(1, k + 1), n)[valid.ravel()],
        },
        columns=RUN_COLUMNS,
    )


def write_trec_run(run: pd.DataFrame, path: str | os.PathLike, *, tag: str = "xqg_lab") -> None:
    """Write ``run`` in TREC format: ``query_id Q0 doc_id rank score tag`` per line."""
    missing = set(RUN_COLUMNS) - set(run.columns)
    if missing:
        raise ValueError(f"run frame lacks columns {sorted(missing)}; expected {RUN_COLUMNS}")
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"tag must be a non-empty word without spaces; got {tag!r}")
    lines = (
        run["query_id"].astype(str)
        + " Q0 "
        + run["doc_id"].astype(str)
        + " "
        + run["rank"].astype(str)
        + " "
        + run["score"].map(lambda s: f"{s:.6f}")
        + f" {tag}\n"
    )
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)


def read_trec_run(path: str | os.PathLike) -> pd.DataFrame:
    """Read a TREC run file into a run frame (ids as strings)."""
    from .errors import DataFormatError

    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise DataFormatError(
                    path, lineno, f"expected 6 fields 'qid Q0 docid rank score tag', found {len(parts)}"
                )
            try:
                rows.append((parts[0], parts[2], float(parts[4]), int(parts[3])))
            except ValueError:
                raise DataFormatError(path, lineno, "rank must be an integer and score a number") from None
    return pd.DataFrame(rows, columns=RUN_COLUMNS)
