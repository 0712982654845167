"""xQG passage augmentation (Zhuang, Shou and Zuccon, SIGIR 2023, arXiv 2305.03950).

The augmented passage vector is, as the reference implementation computes it,

    p' = (1 - α) · p + α · S,    S = Σ_j q_j

a **sum** over every generated query ``j`` of the selected languages (35 vectors in the
paper: 5 samples × 7 languages, α = 0.01). The sum assumes every passage has the same
number of queries; when counts differ (e.g. held-out human questions, 0 to dozens per
XQuAD paragraph) the passages with many queries dominate every ranking, because query
vectors share a large common direction. Use ``rule="mean"`` (S = mean of the q_j) or
equal counts (``max_per_lang``) there.

A passage that received no query has nothing to add: by default (``on_no_query="keep"``)
it keeps ``p' = p``. Taken literally (``on_no_query="literal"``) the formula gives it
``S = 0``, so ``p' = (1 - α) · p``, which lowers it against every augmented passage under an
inner-product retriever (on held-out XQuAD at α = 0.3 that sends the evaluation queries of
the paragraphs without augmentation questions from MRR@10 ≈ 0.93 to 0). The reference script
never meets the case (every passage has 35 queries, and then both agree); the literal form
is there to reproduce it exactly. :func:`fusion_target` applies the choice, so every
pipeline (and the exact α grid, whose second score term becomes ``q·p`` for such passages)
treats them alike.

``S`` is accumulated per passage and language while the queries are encoded, so memory
is ``n_langs × n_passages × dim`` floats whatever the number of queries.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence

import numpy as np

from xqg_lab.core.validation import Choice, expected
import pandas as pd


class FusionRule(Choice, label="rule"):
    """How the generated-query vectors of one passage are combined."""

    SUM = "sum"
    MEAN = "mean"


class NoQuery(Choice, label="on_no_query"):
    """What ``p'`` is for a passage without generated queries (see the module docstring)."""

    KEEP = "keep"
    LITERAL = "literal"


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in [0, 1]; TypeError for a non-number, ValueError outside (or NaN)."""
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(
            f"expected alpha as a real number in [0, 1], found {type(alpha).__name__} {alpha!r}; fix: e.g. alpha=0.01"
        )
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(expected("alpha in [0, 1] (the weight of the query vectors)", alpha, "fix: e.g. alpha=0.01"))
    return alpha


def _check_finite(name: str, x: np.ndarray) -> None:
    """ValueError naming the first rows of the 2-d ``x`` that hold NaN or inf."""
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{name} has NaN or inf values in {bad.size} row(s), e.g. rows {bad[:5].tolist()}; "
            "expected finite vectors; re-encode those texts"
        )


@dataclasses.dataclass(frozen=True)
class QuerySums:
    """Sums of generated-query vectors per passage and language.

    Attributes
    ----------
    doc_ids : passage ids, aligned with the passage embedding rows.
    langs : languages of the first axis.
    sums : float32 ``(n_langs, n_passages, dim)``; ``sums[l, i]`` = Σ of the query
        vectors in language ``langs[l]`` generated for passage ``doc_ids[i]``.
    counts : int64 ``(n_langs, n_passages)``, number of queries in each sum.
    """

    doc_ids: tuple[str, ...]
    langs: tuple[str, ...]
    sums: np.ndarray
    counts: np.ndarray

    def __post_init__(self):
        sums, counts = np.asarray(self.sums), np.asarray(self.counts)
        expected = (len(self.langs), len(self.doc_ids))
        if sums.ndim != 3 or sums.shape[:2] != expected or counts.shape != expected:
            raise ValueError(
                f"expected sums of shape (n_langs, n_passages, dim) and counts of shape (n_langs, n_passages) "
                f"= {expected} for {len(self.langs)} langs and {len(self.doc_ids)} doc_ids; found sums "
                f"{sums.shape} and counts {counts.shape}"
            )
        if not np.isfinite(sums).all():
            lang, row = (int(i[0]) for i in np.nonzero(~np.isfinite(sums).all(axis=2)))
            raise ValueError(
                f"query sums hold NaN or inf, e.g. language {self.langs[lang]!r}, passage "
                f"{self.doc_ids[row]!r}; expected finite query vectors; re-encode its queries"
            )

    def fused(
        self,
        *,
        rule: str | FusionRule = FusionRule.SUM,
        langs: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
    ) -> np.ndarray:
        """``S`` per passage, float32 ``(n_passages, dim)``, over ``langs`` (default all).

        ``rule="sum"``: Σ_j q_j. ``rule="mean"``: Σ_j q_j / n_j; a passage without
        queries gets ``S = 0`` under both rules — see :func:`augment_passages` for what
        that means for ``p'``.

        ``doc_ids``, the row order of the passage embeddings ``S`` is to be added to, is
        checked against :attr:`doc_ids` (where the reference implementation only asserts):
        ValueError naming the first row where they differ.
        """
        if doc_ids is not None:
            self._check_order(doc_ids)
        rule = FusionRule.parse(rule)
        rows = self._lang_rows(langs)
        total = self.sums[rows].sum(axis=0, dtype=np.float64)
        if rule is FusionRule.MEAN:
            n = self.counts[rows].sum(axis=0)
            total = np.divide(total, n[:, None], out=np.zeros_like(total), where=n[:, None] > 0)
        return total.astype(np.float32)

    def n_queries(self, *, langs: Sequence[str] | None = None) -> np.ndarray:
        """Number of queries per passage over ``langs``: int ``(n_passages,)``."""
        return self.counts[self._lang_rows(langs)].sum(axis=0)

    def target(
        self,
        passage_embeddings: np.ndarray,
        *,
        rule: str | FusionRule = FusionRule.SUM,
        langs: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        on_no_query: str | NoQuery = NoQuery.KEEP,
    ) -> np.ndarray:
        """What :func:`augment_passages` moves each passage towards, float32 ``(n_passages, dim)``:
        :meth:`fused` ``S``, with the passages that have no query over ``langs`` handled by
        ``on_no_query`` (:func:`fusion_target`). ``passage_embeddings`` rows follow
        :attr:`doc_ids` (checked against ``doc_ids`` when given)."""
        S = self.fused(rule=rule, langs=langs, doc_ids=doc_ids)
        return fusion_target(passage_embeddings, S, self.n_queries(langs=langs), on_no_query=on_no_query)

    def _check_order(self, doc_ids: Sequence[str]) -> None:
        given = tuple(str(d) for d in doc_ids)
        if given == self.doc_ids:
            return
        if len(given) != len(self.doc_ids):
            raise ValueError(
                f"expected the passage embeddings' {len(given)} doc_ids to be the query sums' "
                f"{len(self.doc_ids)} doc_ids in the same order; accumulate the sums with "
                "accumulate_query_sums(..., doc_ids=<the passage embeddings' ids>)"
            )
        row = next(i for i, (a, b) in enumerate(zip(given, self.doc_ids)) if a != b)
        raise ValueError(
            f"expected the passage embeddings and the query sums in the same passage order, found "
            f"row {row}: passage {given[row]!r} vs query sums {self.doc_ids[row]!r}; accumulate the "
            "sums with accumulate_query_sums(..., doc_ids=<the passage embeddings' ids>)"
        )

    def _lang_rows(self, langs: Sequence[str] | None) -> list[int]:
        if langs is None:
            return list(range(len(self.langs)))
        unknown = [lang for lang in langs if lang not in self.langs]
        if unknown:
            raise ValueError(f"languages {unknown} have no generated queries; available: {list(self.langs)}")
        return [self.langs.index(lang) for lang in langs]


def select_queries(
    generated: pd.DataFrame,
    *,
    langs: Sequence[str] | None = None,
    max_per_lang: int | None = None,
    only_in_target_language: bool = False,
) -> pd.DataFrame:
    """The generated queries that feed the augmentation.

    ``generated`` has ``doc_id, lang, sample, text`` (and ``in_target_language`` when
    ``only_in_target_language``). ``max_per_lang`` keeps the first ``n`` samples of each
    (passage, language) — the number-of-queries ablation.
    """
    missing = {"doc_id", "lang", "sample", "text"} - set(generated.columns)
    if missing:
        raise ValueError(f"generated queries lack columns {sorted(missing)}")
    keep = pd.Series(True, index=generated.index)
    if langs is not None:
        keep &= generated["lang"].isin(list(langs))
    if only_in_target_language:
        if "in_target_language" not in generated.columns:
            raise ValueError("only_in_target_language needs an 'in_target_language' column (see generate.langcheck)")
        keep &= generated["in_target_language"].astype(bool)
    selected = generated[keep]
    if max_per_lang is not None:
        if max_per_lang < 1:
            raise ValueError(expected("max_per_lang of at least 1", max_per_lang, "fix: e.g. max_per_lang=5, or None for all"))
        rank = selected.sort_values("sample").groupby(["doc_id", "lang"]).cumcount()
        selected = selected[rank.reindex(selected.index) < max_per_lang]
    return selected


def accumulate_query_sums(
    queries: pd.DataFrame,
    doc_ids: Sequence[str],
    encoder,
    *,
    langs: Sequence[str] | None = None,
    chunk_size: int = 8192,
) -> QuerySums:
    """Encode ``queries`` (``doc_id, lang, text``) with ``encoder.encode_queries`` and sum
    their vectors per passage and language, one chunk at a time.

    ``doc_ids`` fixes the row order (that of the passage embeddings). Queries naming a
    passage not in ``doc_ids`` are refused.
    """
    doc_ids = tuple(str(d) for d in doc_ids)
    row_of: dict[str, int] = {}
    for i, d in enumerate(doc_ids):
        if row_of.setdefault(d, i) != i:
            raise ValueError(expected("unique doc_ids (one per passage row)", d, "remove the repeated passage ids"))
    unknown = sorted(set(queries["doc_id"].astype(str)) - set(row_of))
    if unknown:
        raise ValueError(f"{len(unknown)} generated queries name passages not in the corpus, e.g. {unknown[:5]}")
    langs = tuple(langs) if langs is not None else tuple(sorted(queries["lang"].unique()))
    lang_of = {lang: i for i, lang in enumerate(langs)}
    queries = queries[queries["lang"].isin(langs)]
    sums = counts = None
    for start in range(0, max(len(queries), 1), chunk_size):
        chunk = queries.iloc[start : start + chunk_size]
        if chunk.empty:
            break
        vectors = np.asarray(encoder.encode_queries(chunk["text"].tolist()), dtype=np.float32)
        dim = sums.shape[2] if sums is not None else vectors.shape[-1] if vectors.ndim == 2 else "dim"
        if vectors.shape != (len(chunk), dim):
            raise ValueError(
                f"encoder.encode_queries returned shape {vectors.shape} for {len(chunk)} queries; expected "
                f"({len(chunk)}, {dim}): one vector per query, the same dimension for every chunk"
            )
        _check_finite("encoder.encode_queries output", vectors)
        if sums is None:
            sums = np.zeros((len(langs), len(doc_ids), vectors.shape[1]), dtype=np.float32)
            counts = np.zeros((len(langs), len(doc_ids)), dtype=np.int64)
        li = chunk["lang"].map(lang_of).to_numpy()
        di = chunk["doc_id"].astype(str).map(row_of).to_numpy()
        np.add.at(sums, (li, di), vectors)
        np.add.at(counts, (li, di), 1)
    if sums is None:
        raise ValueError("no generated queries to accumulate (after selecting languages)")
    return QuerySums(doc_ids=doc_ids, langs=langs, sums=sums, counts=counts)


def fusion_target(
    passage_embeddings: np.ndarray,
    query_sum: np.ndarray,
    n_queries: np.ndarray,
    *,
    on_no_query: str | NoQuery = NoQuery.KEEP,
) -> np.ndarray:
    """``S`` with the rows of passages without queries (``n_queries == 0``) set by
    ``on_no_query``: ``"keep"`` (default) puts ``p`` there, so ``p' = (1-α)·p + α·p = p`` for
    every α (and the α grid's score ``(1-α)·q·p + α·q·S`` is ``q·p``, up to float32
    rounding); ``"literal"`` leaves ``S = 0`` (``p' = (1-α)·p``, the reference formula).

    ``passage_embeddings``, ``query_sum``: float ``(n_passages, dim)``, same row order;
    ``n_queries``: int ``(n_passages,)`` (:meth:`QuerySums.n_queries`). Returns float32
    ``(n_passages, dim)``; the inputs are not modified.
    """
    on_no_query = NoQuery.parse(on_no_query)
    p = np.asarray(passage_embeddings, dtype=np.float32)
    s = np.asarray(query_sum, dtype=np.float32)
    n = np.asarray(n_queries)
    if p.ndim != 2 or p.shape != s.shape or n.shape != (len(p),):
        raise ValueError(
            f"expected passage embeddings and query sums of one shape (n_passages, dim) and n_queries of shape "
            f"(n_passages,); found {p.shape}, {s.shape} and {n.shape}; pass the same passages in the same order"
        )
    if on_no_query is NoQuery.LITERAL or (n > 0).all():
        return s
    return np.where((n == 0)[:, None], p, s)


def n_without_queries(query_sums: QuerySums, *, langs: Sequence[str] | None = None) -> int:
    """Number of passages with no query over ``langs`` (default: all languages of the sums)."""
    return int((query_sums.n_queries(langs=langs) == 0).sum())


def augment_passages(passage_embeddings: np.ndarray, query_sum: np.ndarray, *, alpha: float) -> np.ndarray:
    """``p' = (1 - α) · p + α · S`` row by row: float32 ``(n_passages, dim)``.

    ``query_sum`` is :meth:`QuerySums.target` for the same passage order (pass
    ``doc_ids=...`` the passages' ids to have that order checked): it holds ``p`` itself for
    a passage without queries, so that passage keeps ``p' = p``. Passing the raw
    :meth:`QuerySums.fused` sums instead applies the formula literally (``S = 0``, so the
    passage is scaled by ``1 - α``; see :class:`NoQuery`).
    """
    alpha = check_alpha(alpha)
    p = np.asarray(passage_embeddings, dtype=np.float32)
    s = np.asarray(query_sum, dtype=np.float32)
    if p.ndim != 2 or p.shape != s.shape:
        raise ValueError(
            f"expected passage embeddings and query sums as 2-d arrays of the same shape (same passages in the same "
            f"order, same dimension), found {p.shape} and {s.shape}; fix: build both from the same passages"
        )
    _check_finite("passage_embeddings", p)
    _check_finite("query_sum", s)
    return (1.0 - alpha) * p + alpha * s
