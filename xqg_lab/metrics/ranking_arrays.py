"""Ranking metrics straight from search arrays, for every α of a grid at once.

:func:`per_query_grid` scores the ``(scores, indices)`` arrays that
:func:`xqg_lab.search.index.search` and :func:`xqg_lab.search.index.search_alpha_grid` return, with array
operations only (no per-row Python), and gives the same frames as
``per_query(to_run(scores, indices, query_ids, doc_ids), qrels, measures)`` — the
``ir_measures`` path of :mod:`xqg_lab.metrics.ranking`, which stays the reference and scores
the measures this module does not cover.

Covered: ``R@k``, ``MRR``/``RR`` and ``nDCG`` (with or without ``@k``), ``P@k`` and ``Success@k``,
with trec_eval semantics: documents ranked by score descending, ties broken by ``doc_id``
descending (:func:`xqg_lab.search.index.trec_sorted`); a document is relevant when ``relevance >= 1``;
nDCG gains are the graded relevance, discounts ``log2(rank + 1)``, summed in rank order as
trec_eval sums them; a judged query absent from the run scores 0, a query in the run without
judgements is dropped with a warning. Everything else (``AP``) is
handed to ``ir_measures`` through :func:`xqg_lab.metrics.ranking.per_query`.

Costs: one pass over the ``(n_queries, k)`` arrays per α; judgements are looked up by
``searchsorted`` on ``query row · n_docs + doc row`` keys built once per grid.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from xqg_lab.metrics.ranking import MeasureFamily, _check_qrels, parse_measure

__all__ = ["FAST_FAMILIES", "per_query_arrays", "per_query_grid"]

FAST_FAMILIES = frozenset({MeasureFamily.R, MeasureFamily.MRR, MeasureFamily.RR, MeasureFamily.NDCG,
                           MeasureFamily.P, MeasureFamily.SUCCESS})  # fmt: skip
"""Families scored here (``R``, ``P`` and ``Success`` always have a cutoff, see :func:`parse_measure`)."""


def _split_name(name: str) -> tuple[MeasureFamily, int | None]:
    """``"nDCG@10"`` -> (NDCG, 10), validated by :func:`parse_measure`."""
    parse_measure(name)  # raises the project's message on a bad name
    family, _, k = name.strip().partition("@")
    return MeasureFamily(family), (int(k) if k else None)


def _is_fast(family: MeasureFamily, k: int | None) -> bool:
    return family in FAST_FAMILIES


class _Judgements:
    """The qrels laid out against the rows of a search: built once, used for every α.

    ``query_ids`` (n_queries,) name the rows of the search arrays, ``doc_ids`` (n_docs,)
    the passage rows its indices point to.
    """

    def __init__(self, query_ids, doc_ids, qrels: pd.DataFrame):
        qrels = _check_qrels(qrels)
        self.query_ids = np.asarray(query_ids, dtype=object).astype(str).astype(object)  # as to_run makes them
        self.doc_ids = np.asarray(doc_ids, dtype=object).astype(str).astype(object)
        query_index, doc_index = pd.Index(self.query_ids), pd.Index(self.doc_ids)
        if not query_index.is_unique:
            dup = query_index[query_index.duplicated()][0]
            raise ValueError(f"query_ids: expected each query id once (one search row each), found {dup!r} repeated; "
                             f"deduplicate the queries before searching")  # fmt: skip
        if not doc_index.is_unique:
            dup = doc_index[doc_index.duplicated()][0]
            raise ValueError(f"doc_ids: expected each doc id once (one passage row each), found {dup!r} repeated; "
                             f"deduplicate the passages before indexing")  # fmt: skip
        self.n_docs = len(self.doc_ids)
        self.qrel_ids = pd.Index(qrels["query_id"].unique()).sort_values()
        self.row_of = query_index.get_indexer(self.qrel_ids)  # (n_out,) search row of each judged query, -1 absent
        self.judged_row = np.zeros(len(self.query_ids), dtype=bool)
        self.judged_row[self.row_of[self.row_of >= 0]] = True

        out_of = self.qrel_ids.get_indexer(qrels["query_id"])
        relevance = qrels["relevance"].to_numpy(dtype=np.int64)
        self.n_relevant = np.bincount(out_of[relevance >= 1], minlength=len(self.qrel_ids))
        # ideal gains per judged query: positive grades, descending (trec_eval's ideal ranking)
        positive = relevance > 0
        order = np.lexsort((-relevance[positive], out_of[positive]))
        grp, gains = out_of[positive][order], relevance[positive][order]
        counts = np.bincount(grp, minlength=len(self.qrel_ids))
        width = int(counts.max()) if len(counts) and counts.max() > 0 else 0
        self.ideal = np.zeros((len(self.qrel_ids), width), dtype=np.float64)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        self.ideal[grp, np.arange(len(grp)) - starts[grp]] = gains
        # judgements of passages in the collection, keyed by (search row, passage row)
        rows = self.row_of[out_of]
        cols = doc_index.get_indexer(qrels["doc_id"])
        keep = (rows >= 0) & (cols >= 0)
        keys = rows[keep].astype(np.int64) * self.n_docs + cols[keep]
        order = np.argsort(keys, kind="stable")
        self.keys, self.grades = keys[order], relevance[keep][order]

    def grades_of(self, rows: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """Relevance of passage ``indices[i, j]`` for search row ``rows[i]``, int64 (len(rows), k);
        0 when unjudged or invalid (-1)."""
        n, k = indices.shape
        keys = rows.astype(np.int64)[:, None] * self.n_docs + indices
        if len(self.keys) == 0:
            return np.zeros((n, k), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = (self.keys[pos] == keys) & (indices >= 0)
        return np.where(found, self.grades[pos], 0)


def _discounts(width: int) -> np.ndarray:
    """``log2(rank + 1)`` for ranks 1..width, from the C library's log2 as trec_eval uses it."""
    return np.array([math.log2(i + 2) for i in range(width)], dtype=np.float64)


def _dcg(gains: np.ndarray, cutoff: int | None) -> np.ndarray:
    """Discounted cumulative gain of each row of ``gains`` (n, width), summed left to right."""
    width = gains.shape[1] if cutoff is None else min(cutoff, gains.shape[1])
    if width == 0:
        return np.zeros(len(gains))
    terms = gains[:, :width].astype(np.float64) / _discounts(width)
    return np.cumsum(terms, axis=1)[:, -1]  # sequential, in rank order (as trec_eval adds)


def _score(grades: np.ndarray, judged: _Judgements, family: MeasureFamily, k: int | None) -> np.ndarray:
    """One measure for every judged query, float64 (n_out,); ``grades`` (n_out, depth) in rank order."""
    top = grades if k is None else grades[:, :k]
    hits = top >= 1
    if family is MeasureFamily.R:
        n_rel = judged.n_relevant
        return np.divide(hits.sum(1), n_rel, out=np.zeros(len(n_rel)), where=n_rel > 0)
    if family in (MeasureFamily.MRR, MeasureFamily.RR):
        first = hits.argmax(1) if top.shape[1] else np.zeros(len(top), dtype=np.int64)
        return np.where(hits.any(1), 1.0 / (first + 1.0), 0.0)
    if family is MeasureFamily.P:
        return hits.sum(1) / float(k)
    if family is MeasureFamily.SUCCESS:
        return hits.any(1).astype(np.float64)
    if family is MeasureFamily.NDCG:
        ideal = _dcg(judged.ideal, k)
        gains = np.maximum(top, 0)  # trec_eval: a negative grade gains nothing
        return np.divide(_dcg(gains, k), ideal, out=np.zeros(len(ideal)), where=ideal > 0)
    raise ValueError(f"measure family {family.value!r} is not scored from arrays; expected one of "
                     f"{sorted(f.value for f in FAST_FAMILIES)}")  # fmt: skip


def _check_distinct(indices: np.ndarray, key, query_ids: Sequence[str], doc_ids: Sequence) -> None:
    """ValueError when a row retrieves the same passage twice (a run holds each pair once);
    ``query_ids`` and ``doc_ids`` name the rows and passage rows in the message."""
    ordered = np.sort(indices, axis=1)
    dup = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if dup.any():
        row, col = map(int, np.argwhere(dup)[0])
        raise ValueError(f"run {key!r}: expected each passage at most once per query, found passage "
                         f"{doc_ids[ordered[row, col]]!r} twice for query {query_ids[row]!r}; "
                         f"deduplicate the search results")  # fmt: skip


def per_query_grid(
    grid: Mapping[float, tuple[np.ndarray, np.ndarray]],
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    qrels: pd.DataFrame,
    measures: Sequence[str],
    *,
    progress: bool = False,
) -> dict[float, pd.DataFrame]:
    """Per-query measures of every run of a grid, from the search arrays.

    Parameters
    ----------
    grid : ``{key: (scores, indices)}`` as :func:`xqg_lab.search.index.search_alpha_grid` returns (keys
        are usually α); ``scores`` float (n_queries, k), ``indices`` int (n_queries, k), rows of
        ``doc_ids``, ``-1`` for no passage.
    query_ids : (n_queries,) id of each row of the arrays, each once.
    doc_ids : (n_docs,) id of each passage row, each once.
    qrels : ``query_id, doc_id, relevance`` (as :func:`xqg_lab.metrics.ranking.per_query`).
    measures : names such as ``["MRR@10", "R@100", "nDCG@10"]``.
    progress : show a (coarse) progress bar over the grid.

    Returns
    -------
    ``{key: frame}``, each frame exactly as ``per_query(to_run(scores, indices, query_ids,
    doc_ids), qrels, measures)`` returns it: one row per judged query id (sorted), one float
    column per measure in [0, 1].
    """
    from xqg_lab.core.progress import tqdm

    from xqg_lab.search.index import to_run, trec_sorted
    from xqg_lab.metrics.ranking import per_query

    if isinstance(measures, str):
        measures = [measures]
    names = [str(m) for m in measures]
    if not names:
        raise ValueError("expected at least one measure name, e.g. ['MRR@10', 'R@100'], found none")
    split = {n: _split_name(n) for n in names}
    fast = [n for n in names if _is_fast(*split[n])]
    slow = [n for n in names if n not in fast]
    seen: dict = {}
    for n in names:
        m = parse_measure(n)
        if m in seen:
            raise ValueError(f"measures {seen[m]!r} and {n!r} are the same measure ({m}); keep one")
        seen[m] = n
    judged = _Judgements(query_ids, doc_ids, qrels)

    out = {}
    warned = False
    for key, (scores, indices) in tqdm(grid.items(), desc="scoring", unit="run", disable=not progress):
        scores, indices = np.asarray(scores), np.asarray(indices)
        if scores.shape != indices.shape or indices.ndim != 2 or len(indices) != len(judged.query_ids):
            raise ValueError(f"run {key!r}: expected scores and indices of shape ({len(judged.query_ids)}, k), "
                             f"found {scores.shape} and {indices.shape}; pass the arrays of one search over "
                             f"the given query_ids")  # fmt: skip
        if indices.size and indices.max() >= judged.n_docs:
            raise ValueError(f"run {key!r}: indices name passage row {int(indices.max())}, but only "
                             f"{judged.n_docs} doc ids were given; pass the doc ids of the searched passages")  # fmt: skip
        _check_distinct(indices, key, judged.query_ids, judged.doc_ids)
        _, ranked = trec_sorted(scores, indices, judged.doc_ids)
        unjudged = ~judged.judged_row & (ranked >= 0).any(1)
        if unjudged.any() and not warned:
            examples = sorted(judged.query_ids[unjudged])[:5]
            warnings.warn(f"run: dropped {int(unjudged.sum())} queries that have no qrels (e.g. {examples}); "
                          f"they are not scored", UserWarning, stacklevel=2)  # fmt: skip
            warned = True
        grades = np.zeros((len(judged.row_of), ranked.shape[1]), dtype=np.int64)
        present = judged.row_of >= 0
        rows = judged.row_of[present]
        grades[present] = judged.grades_of(rows, ranked[rows])
        frame = pd.DataFrame({"query_id": judged.qrel_ids.astype(object)})
        for n in fast:
            frame[n] = _score(grades, judged, *split[n])
        if slow:
            run = to_run(scores, indices, judged.query_ids, judged.doc_ids)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the unjudged queries were reported above
                reference = per_query(run, qrels, slow)
            for n in slow:
                frame[n] = reference[n].to_numpy()
        out[key] = frame[["query_id", *names]]
    return out


def per_query_arrays(
    scores: np.ndarray,
    indices: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    qrels: pd.DataFrame,
    measures: Sequence[str],
) -> pd.DataFrame:
    """Per-query measures of one search's ``(scores, indices)``; see :func:`per_query_grid`."""
    return per_query_grid({0: (scores, indices)}, query_ids, doc_ids, qrels, measures)[0]
