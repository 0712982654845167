"""Standard ranking metrics (Recall@k, MRR@k, nDCG@k, ...) per query, computed by ``ir_measures``.

Frames use the project's column names:

- run: ``query_id`` (str), ``doc_id`` (str), ``score`` (float) and/or ``rank`` (int, 1-based);
- qrels: ``query_id`` (str), ``doc_id`` (str), ``relevance`` (int; a document counts as
  relevant for R/MRR/P/AP/Success when ``relevance >= 1``; nDCG uses the graded value as gain);
- queries (for grouping): ``query_id`` plus the grouping column, e.g. ``lang``.

Ordering and ties follow trec_eval: documents are ranked by ``score`` descending and
**equal scores are broken by ``doc_id`` in descending string order** (trec_eval compares
docnos with ``strcmp``), not by the run's ``rank`` column. ``ir_measures`` itself does not
apply one rule everywhere (its pytrec_eval provider, used for R@k and nDCG@k, breaks ties by
``doc_id`` descending; its msmarco provider, used for RR@k, by ``doc_id`` ascending), so the run
is handed to it with strictly decreasing scores already in trec_eval order, which makes every
measure see the same ranking. To evaluate in the order of the ``rank`` column instead, pass
``run.assign(score=-run["rank"])``.

Values are fractions in [0, 1] (not percent).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from enum import Enum

import numpy as np
import pandas as pd

__all__ = ["MeasureFamily", "parse_measure", "check_depth", "per_query", "aggregate"]


class MeasureFamily(str, Enum):
    """Measure families accepted in names such as ``"R@100"``, ``"MRR@10"`` or ``"nDCG@10"``.

    ``MRR`` and ``RR`` are the same per-query reciprocal rank (its mean is the MRR).
    A name without ``@k`` evaluates the whole ranking (``MRR``, ``RR``, ``nDCG``, ``AP`` only;
    ``R``, ``P`` and ``Success`` need a cutoff).
    """

    R = "R"
    MRR = "MRR"
    RR = "RR"
    NDCG = "nDCG"
    P = "P"
    AP = "AP"
    SUCCESS = "Success"


# our family name -> ir_measures measure name
_IR_MEASURES_NAME = {
    MeasureFamily.R: "R",
    MeasureFamily.MRR: "RR",
    MeasureFamily.RR: "RR",
    MeasureFamily.NDCG: "nDCG",
    MeasureFamily.P: "P",
    MeasureFamily.AP: "AP",
    MeasureFamily.SUCCESS: "Success",
}

_NEED_CUTOFF = frozenset({MeasureFamily.R, MeasureFamily.P, MeasureFamily.SUCCESS})

_MEASURE_RE = re.compile(r"^(?P<family>[A-Za-z]+)(?:@(?P<k>\d+))?$")


def parse_measure(name: str):
    """Parse a measure name like ``"nDCG@10"`` into an ``ir_measures`` measure.

    The family must be one of :class:`MeasureFamily` (case-sensitive) and ``k`` a positive
    integer. Raises ``ValueError`` listing the valid families otherwise.
    """
    valid = ", ".join(f.value for f in MeasureFamily)
    if not isinstance(name, str):
        raise TypeError(f"expected a measure name (str) such as 'nDCG@10', found {type(name).__name__}: {name!r}")
    m = _MEASURE_RE.match(name.strip())
    if m is None:
        raise ValueError(
            f"expected a measure name of the form FAMILY or FAMILY@k (e.g. 'MRR@10', 'R@100'), "
            f"found {name!r}; valid families: {valid}"
        )
    try:
        family = MeasureFamily(m["family"])
    except ValueError:
        raise ValueError(
            f"unknown measure family {m['family']!r} in {name!r}; valid families: {valid} "
            f"(case-sensitive, e.g. 'nDCG@10', 'MRR@10', 'R@100')"
        ) from None
    k = m["k"]
    if k is not None and int(k) < 1:
        raise ValueError(f"expected a cutoff k >= 1 in {name!r}, found {k}; use e.g. '{family.value}@10'")
    if k is None and family in _NEED_CUTOFF:
        raise ValueError(
            f"expected a cutoff for {family.value} (ir_measures defines it only at a depth), found {name!r}; "
            f"use e.g. '{family.value}@100'"
        )
    import ir_measures

    ir_name = _IR_MEASURES_NAME[family] + (f"@{int(k)}" if k is not None else "")
    return ir_measures.parse_measure(ir_name)


def check_depth(measures: Sequence[str] | str, *, k: int, n_passages: int | None = None) -> list[str]:
    """The measure names, refused when one looks deeper than the ranked lists: on a run of
    depth ``k = 10``, ``"R@100"`` would be R@10 reported under the name R@100. A run that
    holds the whole collection (``k >= n_passages``) is deep enough for any cutoff. ``k``
    must be a positive int; a single name counts as one measure (as in :func:`per_query`)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"expected k (depth of the ranked lists) to be a positive int, found {k!r}; fix: e.g. k=100")
    names = [measures] if isinstance(measures, str) else list(measures)
    if not names:
        raise ValueError("expected at least one measure name, e.g. ['MRR@10', 'R@100'], found none")
    if n_passages is not None and k >= n_passages:
        return names
    for name in names:
        cutoff = parse_measure(name).params.get("cutoff")
        if cutoff is not None and cutoff > k:
            of = f" of {n_passages}" if n_passages is not None else ""
            raise ValueError(
                f"expected measures no deeper than the ranked lists (k={k}), found {name!r}: it would be computed "
                f"on the top {k}{of} passages and reported as @{cutoff}; fix: set k >= {cutoff} or drop {name!r}"
            )
    return names


def _check_columns(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected {name} as a pandas DataFrame, found {type(frame).__name__}")
    for col in columns:
        if col not in frame.columns:
            raise ValueError(
                f"{name} frame: expected a column {col!r}, found columns {list(frame.columns)}; "
                f"rename the column to {col!r}"
            )


def _check_str_ids(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    for col in columns:
        if len(frame) == 0:
            continue
        kind = pd.api.types.infer_dtype(frame[col], skipna=False)
        if kind != "string":
            raise TypeError(
                f"{name} frame: expected column {col!r} to hold str ids only, found inferred type {kind!r} "
                f"(ints and strs never match each other); convert with frame[{col!r}].astype(str)"
            )


def _check_no_duplicates(frame: pd.DataFrame, name: str) -> None:
    dup = frame.duplicated(["query_id", "doc_id"], keep=False)
    if dup.any():
        first = frame.loc[dup, ["query_id", "doc_id"]].iloc[0]
        raise ValueError(
            f"{name} frame: expected each (query_id, doc_id) pair at most once, found {int(dup.sum())} rows "
            f"in duplicated pairs, e.g. ({first['query_id']!r}, {first['doc_id']!r}); "
            f"deduplicate, e.g. keep the best-scored row per pair"
        )


def _trec_order(run: pd.DataFrame) -> pd.DataFrame:
    """Validate the run and return (query_id, doc_id, score) with strictly decreasing scores in trec_eval order."""
    _check_columns(run, "run", ["query_id", "doc_id"])
    if "score" not in run.columns and "rank" not in run.columns:
        raise ValueError(
            f"run frame: expected a column 'score' (or at least 'rank'), found columns {list(run.columns)}; "
            f"add the retrieval scores as 'score'"
        )
    _check_str_ids(run, "run", ["query_id", "doc_id"])
    _check_no_duplicates(run, "run")

    qid = run["query_id"].to_numpy(dtype=object)
    did = run["doc_id"].to_numpy(dtype=object)
    if "score" in run.columns:
        if not pd.api.types.is_numeric_dtype(run["score"]) or pd.api.types.is_bool_dtype(run["score"]):
            raise TypeError(f"run frame: expected a numeric 'score' column, found dtype {run['score'].dtype}")
        score = run["score"].to_numpy(dtype=np.float64)
        if np.isnan(score).any():
            raise ValueError(
                f"run frame: expected finite scores, found {int(np.isnan(score).sum())} NaN; drop or fill those rows"
            )
    else:
        score = None

    rank = None
    if "rank" in run.columns:
        if not pd.api.types.is_integer_dtype(run["rank"]):
            raise TypeError(f"run frame: expected an integer 'rank' column (1-based), found dtype {run['rank'].dtype}")
        rank = run["rank"].to_numpy(dtype=np.int64)
        if (rank < 1).any():
            raise ValueError("run frame: expected ranks >= 1 (1-based), found smaller values; fix the 'rank' column")
        dup = pd.DataFrame({"q": qid, "r": rank}).duplicated(keep=False).to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise ValueError(
                f"run frame: expected distinct ranks per query, found rank {rank[i]} repeated for query {qid[i]!r}; "
                f"recompute ranks, e.g. run.groupby('query_id')['score'].rank(method='first', ascending=False)"
            )
    if score is None:
        score = -rank.astype(np.float64)  # rank 1 best; no ties possible

    # trec_eval order: query, score descending, doc_id descending (strcmp; equals code-point order)
    doc_desc = -pd.factorize(did, sort=True)[0]
    query_codes = pd.factorize(qid, sort=True)[0]
    order = np.lexsort((doc_desc, -score, query_codes))

    if rank is not None:
        # scores must not increase with rank; ties may be ordered differently by trec_eval
        by_rank = np.lexsort((rank, query_codes))
        q_sorted, s_sorted = query_codes[by_rank], score[by_rank]
        same_q = q_sorted[1:] == q_sorted[:-1]
        bad = same_q & (s_sorted[1:] > s_sorted[:-1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            r0, r1 = rank[by_rank][i], rank[by_rank][i + 1]
            raise ValueError(
                f"run frame: expected scores non-increasing with rank, found query {qid[by_rank][i]!r} "
                f"rank {r0} score {s_sorted[i]!r} < rank {r1} score {s_sorted[i + 1]!r}; trec_eval ranks by score, "
                f"so recompute 'rank' from 'score' or set score = -rank"
            )
        r_in_trec = rank[order]
        q_in_trec = query_codes[order]
        differs = (q_in_trec[1:] == q_in_trec[:-1]) & (r_in_trec[1:] < r_in_trec[:-1])
        if differs.any():
            n_q = len(np.unique(q_in_trec[1:][differs]))
            warnings.warn(
                f"run: {n_q} queries have tied scores that the 'rank' column orders differently from trec_eval; "
                f"metrics follow trec_eval (ties broken by doc_id, descending). Pass score = -rank to use the "
                f"'rank' order instead.",
                UserWarning,
                stacklevel=3,
            )

    q_o = query_codes[order]
    starts = np.r_[0, np.flatnonzero(q_o[1:] != q_o[:-1]) + 1] if len(q_o) else np.array([], dtype=np.int64)
    position = np.arange(len(q_o)) - np.repeat(starts, np.diff(np.r_[starts, len(q_o)]))
    return pd.DataFrame(
        {"query_id": qid[order], "doc_id": did[order], "score": -position.astype(np.float64)}
    )


def _check_qrels(qrels: pd.DataFrame) -> pd.DataFrame:
    _check_columns(qrels, "qrels", ["query_id", "doc_id", "relevance"])
    _check_str_ids(qrels, "qrels", ["query_id", "doc_id"])
    rel = qrels["relevance"]
    if len(qrels) and (not pd.api.types.is_integer_dtype(rel) or pd.api.types.is_bool_dtype(rel)):
        raise TypeError(
            f"qrels frame: expected an integer 'relevance' column, found dtype {rel.dtype}; "
            f"convert with qrels['relevance'].astype(int)"
        )
    _check_no_duplicates(qrels, "qrels")
    if len(qrels) == 0:
        raise ValueError("qrels frame: expected at least one judgement, found none; metrics need relevance judgements")
    return qrels


def per_query(run: pd.DataFrame, qrels: pd.DataFrame, measures: Sequence[str]) -> pd.DataFrame:
    """Per-query metric values, computed by ``ir_measures`` (trec_eval semantics).

    Parameters
    ----------
    run : DataFrame with ``query_id`` (str), ``doc_id`` (str), ``score`` (float) and/or ``rank``
        (int, 1-based). Documents are ordered by ``score`` descending with ties broken by
        ``doc_id`` descending (trec_eval); when both columns are present, scores must be
        non-increasing with rank (ValueError otherwise); with only ``rank``, score = -rank.
    qrels : DataFrame with ``query_id``, ``doc_id`` (str) and ``relevance`` (int).
    measures : names such as ``["MRR@10", "R@100", "nDCG@10"]`` (see :class:`MeasureFamily`).

    Returns
    -------
    DataFrame with one row per query id in ``qrels`` (sorted by ``query_id``, a str column)
    and one float column per measure name, values in [0, 1]. A query in ``qrels`` that is
    absent from the run scores **0** on every measure. Queries in the run without any qrels
    are dropped with a warning giving their number.
    """
    if isinstance(measures, str):
        measures = [measures]
    names = [str(m) for m in measures]
    if not names:
        raise ValueError("expected at least one measure name, e.g. ['MRR@10', 'R@100'], found none")
    parsed = [parse_measure(n) for n in names]
    seen: dict = {}
    for n, m in zip(names, parsed):
        if m in seen:
            raise ValueError(f"measures {seen[m]!r} and {n!r} are the same measure ({m}); keep one")
        seen[m] = n

    qrels = _check_qrels(qrels)
    ordered = _trec_order(run)

    qrel_ids = pd.Index(qrels["query_id"].unique()).sort_values()
    unjudged = ~ordered["query_id"].isin(qrel_ids)
    if unjudged.any():
        n_unjudged = ordered.loc[unjudged, "query_id"].nunique()
        examples = sorted(ordered.loc[unjudged, "query_id"].unique())[:5]
        warnings.warn(
            f"run: dropped {n_unjudged} queries that have no qrels (e.g. {examples}); they are not scored",
            UserWarning,
            stacklevel=2,
        )
        ordered = ordered.loc[~unjudged]

    qrels_dict: dict[str, dict[str, int]] = {}
    for q, d, r in zip(qrels["query_id"], qrels["doc_id"], qrels["relevance"]):
        qrels_dict.setdefault(q, {})[d] = int(r)
    run_dict: dict[str, dict[str, float]] = {}
    for q, d, s in zip(ordered["query_id"], ordered["doc_id"], ordered["score"]):
        run_dict.setdefault(q, {})[d] = float(s)

    import ir_measures

    values = {n: {} for n in names}
    name_of = {m: n for n, m in zip(names, parsed)}
    for metric in ir_measures.iter_calc(parsed, qrels_dict, run_dict):
        values[name_of[metric.measure]][metric.query_id] = float(metric.value)

    out = pd.DataFrame({"query_id": qrel_ids.astype(object)})
    for n in names:
        # explicit: a judged query absent from the run scores 0
        out[n] = [values[n].get(q, 0.0) for q in out["query_id"]]
    return out


def aggregate(
    per_query_frame: pd.DataFrame,
    *,
    by: str | None = None,
    queries: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Mean of each measure over queries, overall or per group.

    Parameters
    ----------
    per_query_frame : output of :func:`per_query` (``query_id`` plus one column per measure).
    by : optional grouping column (e.g. ``"lang"``); taken from ``per_query_frame`` if present,
        otherwise joined from ``queries`` on ``query_id``.
    queries : frame with ``query_id`` and the ``by`` column, needed only when ``by`` is not
        already a column of ``per_query_frame``.

    Returns
    -------
    DataFrame indexed by group value (index name ``by``), or a single row ``"all"`` (index name
    ``"group"``) when ``by`` is None; one column per measure (mean, same units as the input)
    and ``n_queries`` (int).
    """
    _check_columns(per_query_frame, "per_query", ["query_id"])
    frame = per_query_frame
    if len(frame) == 0:
        raise ValueError("per_query frame: expected at least one query, found none")
    if by is not None and by not in frame.columns:
        if queries is None:
            raise ValueError(
                f"per_query frame has no column {by!r}; pass queries=<frame with 'query_id' and {by!r}> to join it"
            )
        _check_columns(queries, "queries", ["query_id", by])
        _check_str_ids(queries, "queries", ["query_id"])
        if queries["query_id"].duplicated().any():
            raise ValueError("queries frame: expected each query_id once, found duplicates; deduplicate it")
        frame = frame.merge(queries[["query_id", by]], on="query_id", how="left", validate="one_to_one")
        missing = frame[by].isna()
        if missing.any():
            raise ValueError(
                f"queries frame: expected a {by!r} value for every query, found {int(missing.sum())} queries "
                f"without one (e.g. {frame.loc[missing, 'query_id'].iloc[0]!r}); add them to the queries frame"
            )
    measure_cols = [c for c in frame.columns if c not in ("query_id", by)]
    for c in measure_cols:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise TypeError(
                f"per_query frame: expected numeric measure columns, found {c!r} with dtype {frame[c].dtype}; "
                f"drop non-measure columns or pass it as by="
            )
    if by is None:
        out = frame[measure_cols].mean().to_frame("all").T
        out.index.name = "group"
        out["n_queries"] = len(frame)
    else:
        grouped = frame.groupby(by, sort=True)
        out = grouped[measure_cols].mean()
        out["n_queries"] = grouped.size().astype(int)
    return out
