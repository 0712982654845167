"""Retrieval evaluation: encode a collection, search it exactly, score every query."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

import pandas as pd
import pydantic

from xqg_lab.data.common import RetrievalData
from xqg_lab.encode.model import Encoder
from xqg_lab.search.index import search, to_run
from xqg_lab.metrics.ranking import aggregate, check_depth
from xqg_lab.metrics.ranking_arrays import per_query_arrays
from xqg_lab.core.validation import ConfigModel

DEFAULT_MEASURES = ("MRR@10", "R@1", "R@5", "R@10", "nDCG@10")


class RetrievalEvalConfig(ConfigModel):
    """Parameters of the ``retrieval_eval`` notebook (its ``parameters`` cell says what each one means)."""

    where = "retrieval_eval parameters"
    dataset: str
    encoder: str
    preset: str
    passage_fields: str
    langs: list[str]
    k: Annotated[int, pydantic.Field(ge=1)]
    measures: list[str]
    batch_size: Annotated[int, pydantic.Field(ge=1)]
    interactive_charts: bool
    output_prefix: str
    output_dir: str


@dataclasses.dataclass
class RetrievalResult:
    """Everything one evaluation produced.

    Attributes
    ----------
    run : ranked lists, ``query_id, doc_id, score, rank``.
    per_query : one row per judged query: ``query_id, lang`` and one column per measure.
    by_lang : mean of each measure per language (index ``lang``) plus ``n_queries``.
    seconds : wall-clock time of each stage (encoding includes cache reads).
    """

    run: pd.DataFrame
    per_query: pd.DataFrame
    by_lang: pd.DataFrame
    seconds: dict[str, float]


def evaluate_retrieval(
    data: RetrievalData,
    encoder: Encoder,
    *,
    k: int = 100,
    measures: tuple[str, ...] | list[str] = DEFAULT_MEASURES,
) -> RetrievalResult:
    """Encode ``data.passages`` and ``data.queries`` with ``encoder``, retrieve the top
    ``k`` passages per query by exact inner product, and score with ``measures`` (from the
    search arrays, :func:`xqg_lab.metrics.ranking_arrays.per_query_arrays`; none may be deeper
    than ``k``: ``R@100`` on a depth-10 run would be R@10 under another name)."""
    check_collection(data)
    measures = check_depth(measures, k=k, n_passages=len(data.passages))
    seconds = {}
    start = time.perf_counter()
    passage_vectors = encoder.encode_passages(data.passages)
    seconds["encode_passages"] = time.perf_counter() - start
    start = time.perf_counter()
    query_vectors = encoder.encode_queries(data.queries["text"].tolist())
    seconds["encode_queries"] = time.perf_counter() - start
    start = time.perf_counter()
    scores, indices = search(query_vectors, passage_vectors, k=k)
    run = to_run(scores, indices, data.queries["query_id"], data.passages["doc_id"])
    seconds["search"] = time.perf_counter() - start
    start = time.perf_counter()
    scored = per_query_arrays(scores, indices, data.queries["query_id"], data.passages["doc_id"], data.qrels,
                              list(measures))  # fmt: skip
    scored = scored.merge(data.queries[["query_id", "lang"]], on="query_id", how="left", validate="one_to_one")
    scored = scored[["query_id", "lang", *measures]]
    by_lang = aggregate(scored, by="lang")
    seconds["scoring"] = time.perf_counter() - start
    return RetrievalResult(run=run, per_query=scored, by_lang=by_lang, seconds=seconds)


def passage_fields_table(
    data: RetrievalData,
    encoder: Encoder,
    *,
    fields: tuple[str, ...] = ("title_text", "text"),
    measure: str = "MRR@10",
    k: int = 100,
) -> pd.DataFrame:
    """``measure`` per query language (rows, then ``"mean"``: unweighted over languages) with
    the passages encoded from each of ``fields`` (:class:`xqg_lab.encode.presets.PassageFields`;
    columns), plus ``"difference"`` = second minus first. The queries are encoded once (cached)."""
    columns = {}
    for name in fields:
        by_lang = evaluate_retrieval(data, encoder.with_passage_fields(name), k=k, measures=[measure]).by_lang
        columns[name] = by_lang[measure]
    table = pd.DataFrame(columns)
    table.loc["mean"] = table.mean(axis=0)
    if len(fields) == 2:
        table["difference"] = table[fields[1]] - table[fields[0]]
    table.columns.name = f"{measure} by passage_fields"
    return table


def check_collection(data: RetrievalData) -> None:
    """Refuse a collection without passages or without queries before anything is encoded."""
    for name in ("passages", "queries"):
        if len(getattr(data, name)) == 0:
            raise ValueError(
                f"expected a collection with {name}, found 0 {name}; fix: check the data files and any "
                f"language or split filter (an empty {'corpus' if name == 'passages' else 'query set'} has nothing to rank)"
            )


def mean_over_languages(by_lang: pd.DataFrame) -> pd.Series:
    """Unweighted mean of each measure over the languages of ``by_lang``."""
    return by_lang.drop(columns="n_queries").mean(axis=0)


def languages_table(by_lang: pd.DataFrame) -> pd.DataFrame:
    """``by_lang`` (measures and ``n_queries`` per language) with a last row ``"mean"``: the
    unweighted mean of each measure over languages and the total number of queries."""
    table = by_lang.copy()
    table.loc["mean"] = [*mean_over_languages(by_lang), table["n_queries"].sum()]
    return table


def load_collection(name: str, *, langs: list[str] | None = None) -> tuple[RetrievalData, list[str]]:
    """A test collection by name, and the registry names of the data files it read.

    ``name``: ``"xquad"`` (English paragraphs, questions in ``langs``, default all 12) or
    ``"beir:<folder>"`` (a BEIR-style folder; ``langs`` must be empty).
    """
    if name == "xquad":
        from xqg_lab.data.langs import XQUAD_LANGS
        from xqg_lab.data.xquad import load_xquad

        selected = list(langs or XQUAD_LANGS)
        files = sorted({f"xquad.{lang}" for lang in [*selected, "en"]})
        return load_xquad(selected), files
    if name.startswith("beir:"):
        from xqg_lab.data.beir import load_beir

        if langs:
            raise ValueError("a BEIR-style collection has no language selection; set langs to []")
        return load_beir(name[len("beir:"):]), []
    raise ValueError(f"unknown collection {name!r}; expected 'xquad' or 'beir:<folder>'")
