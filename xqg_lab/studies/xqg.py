"""The xQG experiment: baseline vs augmented passages, per language and per α."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from typing import TYPE_CHECKING, Annotated

import pydantic

from xqg_lab.augment import FusionRule, NoQuery, QuerySums, accumulate_query_sums, n_without_queries, select_queries
from xqg_lab.data.common import RetrievalData
from xqg_lab.search.index import search_alpha_grid, to_run
from xqg_lab.metrics.ranking import aggregate, check_depth
from xqg_lab.metrics.ranking_arrays import per_query_grid
from xqg_lab.metrics.retrieval import check_collection
from xqg_lab.core.validation import ConfigModel

if TYPE_CHECKING:
    from xqg_lab.core.timing import StepTimer

Fraction = Annotated[float, pydantic.Field(gt=0, lt=1)]
Weight = Annotated[float, pydantic.Field(ge=0, le=1)]
Depth = Annotated[int, pydantic.Field(ge=1)]


class XqgEvalConfig(ConfigModel):
    """Parameters of the ``xqg_eval`` notebook (its ``parameters`` cell says what each one means)."""

    where = "xqg_eval parameters"
    encoder: str
    preset: str
    passage_fields: str
    on_no_query: str
    langs: list[str]
    augment_langs: list[str]
    eval_fraction: Fraction
    split_seed: int
    heldout_rule: str
    generated_store: str
    generated_rule: str
    alphas: list[Weight]
    alpha: Weight
    k: Depth
    measures: list[str]
    test: str
    interactive_charts: bool
    output_prefix: str
    output_dir: str

    @property
    def data_langs(self) -> list[str]:
        """The XQuAD languages to load: evaluation, augmentation and English (the passages), sorted."""
        return sorted({*self.langs, *self.augment_langs, "en"})


class QueryExplorerConfig(ConfigModel):
    """Parameters of the ``query_explorer`` notebook (its ``parameters`` cell says what each one means)."""

    where = "query_explorer parameters"
    encoder: str
    preset: str
    langs: list[str]
    source: str
    rule: str
    alpha: Weight
    eval_fraction: Fraction
    split_seed: int
    output_dir: str


class RunFrames(Mapping):
    """``{α: run frame}`` (``query_id, doc_id, score, rank``) built from the search arrays on
    first access (:func:`xqg_lab.search.index.to_run`) and kept: scoring reads the arrays, so a grid
    only pays for the runs someone looks at."""

    def __init__(self, grid: Mapping[float, tuple[np.ndarray, np.ndarray]], query_ids, doc_ids):
        self._grid, self._query_ids, self._doc_ids = grid, query_ids, doc_ids
        self._frames: dict[float, pd.DataFrame] = {}

    def __getitem__(self, alpha: float) -> pd.DataFrame:
        if alpha not in self._frames:
            scores, indices = self._grid[alpha]
            self._frames[alpha] = to_run(scores, indices, self._query_ids, self._doc_ids)
        return self._frames[alpha]

    def __iter__(self):
        return iter(self._grid)

    def __len__(self) -> int:
        return len(self._grid)


@dataclasses.dataclass
class XQGResult:
    """Scores of one augmentation condition over an α grid.

    Attributes
    ----------
    per_query : ``{α: frame}``, each ``query_id, lang`` plus one column per measure; α = 0
        is the un-augmented baseline.
    curve : tidy ``alpha, lang, measure, value`` (mean over the queries of each language).
    runs : ``{α: run frame}`` (``query_id, doc_id, score, rank``), built when first read.
    query_sums : the accumulated query vectors (``counts`` tells how many per passage).
    rule : the fusion rule used (``"sum"`` or ``"mean"``).
    seconds : wall-clock time per stage.
    on_no_query : what passages without queries got (``"keep"``: ``p' = p``; ``"literal"``:
        ``p' = (1-α)·p``; :class:`xqg_lab.augment.NoQuery`).
    n_no_query : number of passages of the corpus with no query in the augmentation
        languages (``query_sums.langs``); report it with the results.
    """

    per_query: dict[float, pd.DataFrame]
    curve: pd.DataFrame
    runs: Mapping[float, pd.DataFrame]
    query_sums: QuerySums
    rule: str
    seconds: dict[str, float]
    on_no_query: str = NoQuery.KEEP.value
    n_no_query: int = 0


def evaluate_xqg(
    data: RetrievalData,
    generated: pd.DataFrame,
    encoder,
    *,
    alphas: Sequence[float],
    rule: str | FusionRule = FusionRule.SUM,
    augment_langs: Sequence[str] | None = None,
    max_per_lang: int | None = None,
    only_in_target_language: bool = False,
    on_no_query: str | NoQuery = NoQuery.KEEP,
    k: int = 100,
    measures: Sequence[str] = ("MRR@10", "R@1", "R@5", "R@10", "nDCG@10"),
    progress: bool = False,
) -> XQGResult:
    """Retrieve ``data.queries`` against passages augmented with ``generated`` queries.

    ``generated``: ``doc_id, lang, sample, text`` (a generated-query store or held-out
    human questions). The whole α grid costs about two searches
    (:func:`xqg_lab.search.index.search_alpha_grid`); α = 0 is always included as the baseline.
    ``on_no_query``: a passage without queries keeps ``p' = p`` (``"keep"``) or gets
    ``(1-α)·p`` (``"literal"``); their number is ``n_no_query`` of the result.
    Scoring reads the search arrays for every α at once
    (:func:`xqg_lab.metrics.ranking_arrays.per_query_grid`, the ``ir_measures`` values);
    ``progress`` shows a coarse bar over it.
    """
    rule = FusionRule.parse(rule)
    on_no_query = NoQuery.parse(on_no_query)
    check_collection(data)
    measures = check_depth(measures, k=k, n_passages=len(data.passages))
    alphas = sorted({0.0, *map(float, alphas)})
    seconds = {}
    start = time.perf_counter()
    passage_vectors = encoder.encode_passages(data.passages)
    query_vectors = encoder.encode_queries(data.queries["text"].tolist())
    seconds["encode"] = time.perf_counter() - start

    start = time.perf_counter()
    selected = select_queries(
        generated, langs=augment_langs, max_per_lang=max_per_lang, only_in_target_language=only_in_target_language
    )
    sums = accumulate_query_sums(selected, data.passages["doc_id"], encoder, langs=augment_langs)
    seconds["encode_generated"] = time.perf_counter() - start

    start = time.perf_counter()
    target = sums.target(passage_vectors, rule=rule, doc_ids=data.passages["doc_id"], on_no_query=on_no_query)
    grid = search_alpha_grid(query_vectors, passage_vectors, target, alphas, k=k)
    seconds["alpha_grid_search"] = time.perf_counter() - start

    start = time.perf_counter()
    langs = data.queries[["query_id", "lang"]]
    scored, curve = {}, []
    by_alpha = per_query_grid(grid, data.queries["query_id"], data.passages["doc_id"], data.qrels, list(measures),
                              progress=progress)  # fmt: skip
    for alpha, frame in by_alpha.items():
        frame = frame.merge(langs, on="query_id", validate="one_to_one")
        scored[alpha] = frame[["query_id", "lang", *measures]]
        by_lang = aggregate(scored[alpha], by="lang").drop(columns="n_queries")
        curve.append(by_lang.reset_index().melt(id_vars="lang", var_name="measure").assign(alpha=alpha))
    curve = pd.concat(curve, ignore_index=True)[["alpha", "lang", "measure", "value"]]
    runs = RunFrames(grid, data.queries["query_id"], data.passages["doc_id"])
    seconds["scoring"] = time.perf_counter() - start
    return XQGResult(
        per_query=scored, curve=curve, runs=runs, query_sums=sums, rule=rule.value, seconds=seconds,
        on_no_query=on_no_query.value, n_no_query=n_without_queries(sums),
    )  # fmt: skip


def rank_changes(baseline: pd.DataFrame, augmented: pd.DataFrame, qrels: pd.DataFrame) -> pd.DataFrame:
    """Rank of each query's relevant passage before and after augmentation.

    Returns ``query_id, doc_id, rank_before, rank_after, change`` (positive = moved up;
    a passage outside a run's depth gets rank ``inf``).
    """
    relevant = qrels[qrels["relevance"] > 0][["query_id", "doc_id"]]
    before = relevant.merge(baseline[["query_id", "doc_id", "rank"]], how="left", on=["query_id", "doc_id"])
    after = relevant.merge(augmented[["query_id", "doc_id", "rank"]], how="left", on=["query_id", "doc_id"])
    out = relevant.assign(
        rank_before=before["rank"].astype(float).fillna(np.inf).to_numpy(),
        rank_after=after["rank"].astype(float).fillna(np.inf).to_numpy(),
    )
    diff = out["rank_before"] - out["rank_after"]
    return out.assign(change=diff.where(np.isfinite(diff), np.nan))


def compare_to_baseline(
    results: dict[str, XQGResult],
    *,
    alpha: float,
    measures: Sequence[str],
    test: str = "t",
    level: float = 0.05,
    progress: bool = False,
    cache: bool = False,
) -> dict[str, pd.DataFrame]:
    """Paired comparison of each condition at ``alpha`` (the fusion weight) against the
    un-augmented baseline, at significance level ``level``; ``progress`` shows a bar per condition;
    ``cache`` keeps each comparison in the toolkit's cache (:func:`xqg_lab.core.memo.call_cached`).

    ``results`` maps a condition name to its :class:`XQGResult` (all on the same evaluation
    queries, so the α = 0 baselines coincide). Returns ``{condition: stats.compare frame}``
    — per language and measure: means, difference, test statistic, Holm-adjusted p over
    that condition's languages × measures, effect size, wins/ties/losses, bootstrap CI.
    """
    import xqg_lab.stats
    from xqg_lab.core.memo import call_cached, code_key
    from xqg_lab.stats import compare

    if cache:
        compare = functools.partial(call_cached, compare, code=code_key(xqg_lab.stats))
    out = {}
    for name, result in results.items():
        if alpha not in result.per_query:
            raise ValueError(f"α = {alpha} is not on the grid of condition {name!r}: {sorted(result.per_query)}")
        out[name] = compare(
            result.per_query[0.0],
            result.per_query[alpha],
            measures=list(measures),
            by="lang",
            test=test,
            level=level,
            progress=progress,
        )
    return out


def curves(results: dict[str, XQGResult]) -> pd.DataFrame:
    """All conditions' α curves in one tidy frame with a ``condition`` column."""
    return pd.concat(
        [r.curve.assign(condition=name, rule=r.rule) for name, r in results.items()], ignore_index=True
    )


def no_query_counts(results: dict[str, XQGResult]) -> pd.DataFrame:
    """Per condition: ``condition, augment_langs, n_passages, n_no_query, on_no_query`` --
    how many passages had no query in the condition's augmentation languages, and what they
    got. Shown next to every xQG table."""
    rows = [
        {"condition": name, "augment_langs": ",".join(r.query_sums.langs), "n_passages": len(r.query_sums.doc_ids),
         "n_no_query": r.n_no_query, "on_no_query": r.on_no_query}
        for name, r in results.items()
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["condition", "augment_langs", "n_passages", "n_no_query", "on_no_query"])


def evaluation_collection(data: RetrievalData, split: pd.DataFrame, *, langs: Sequence[str] | str | None) -> RetrievalData:
    """The evaluation side of a held-out split: every passage, and only the queries in
    ``langs`` whose question has the ``"evaluation"`` role (see
    :func:`xqg_lab.generate.heldout.split_questions`). ``langs``: languages of
    ``data.queries`` (a str is one language, None all); an empty or unknown one is refused."""
    from xqg_lab.core.validation import check_langs
    from xqg_lab.generate.heldout import evaluation_queries

    langs = check_langs(langs, sorted(data.queries["lang"].unique()), what="query language")
    queries = evaluation_queries(data.queries, split)
    queries = queries[queries["lang"].isin(langs)].reset_index(drop=True)
    qrels = data.qrels[data.qrels["query_id"].isin(queries["query_id"])].reset_index(drop=True)
    return RetrievalData(data.passages, queries, qrels)


def restrict_to_passages(data: RetrievalData, doc_ids: Sequence[str]) -> RetrievalData:
    """A sub-collection: the passages ``doc_ids`` and the queries judged on them only."""
    keep = set(map(str, doc_ids))
    unknown = keep - set(data.passages["doc_id"])
    if unknown:
        raise ValueError(f"{len(unknown)} doc_ids are not passages of the collection, e.g. {sorted(unknown)[:5]}")
    passages = data.passages[data.passages["doc_id"].isin(keep)].reset_index(drop=True)
    qrels = data.qrels[data.qrels["doc_id"].isin(keep)]
    queries = data.queries[data.queries["query_id"].isin(qrels["query_id"])].reset_index(drop=True)
    return RetrievalData(passages, queries, qrels.reset_index(drop=True))


def evaluate_conditions(
    evaluation: RetrievalData, heldout: pd.DataFrame, encoder, config: XqgEvalConfig, *, timer: StepTimer
) -> dict[str, XQGResult]:
    """The conditions of ``xqg_eval``: ``"held-out human"`` (``heldout`` questions, rule
    ``config.heldout_rule``) and, with ``config.generated_store``, ``"generated"`` (the store's
    queries, on the passages that have them, rule ``config.generated_rule``). Each is a step of
    ``timer``, with the result's ``seconds`` as its parts."""
    from xqg_lab.generate import read_store

    options = dict(alphas=config.alphas, on_no_query=config.on_no_query, k=config.k, measures=config.measures)
    results = {}
    with timer.step("held-out human"):
        results["held-out human"] = evaluate_xqg(evaluation, heldout, encoder, rule=config.heldout_rule,
                                                 augment_langs=config.augment_langs, **options)  # fmt: skip
    if config.generated_store:
        with timer.step("generated"):
            generated = read_store(config.generated_store)
            subset = restrict_to_passages(evaluation, generated["doc_id"].unique())
            results["generated"] = evaluate_xqg(subset, generated, encoder, rule=config.generated_rule, **options)
    for name, result in results.items():
        timer.parts(name, result.seconds)
    return results


def describe_conditions(results: dict[str, XQGResult]) -> str:
    """One line per condition: fusion rule, passages (and how many had no query), queries."""
    return "\n".join(
        f"{name}: rule {r.rule}, {len(r.query_sums.doc_ids)} passages ({r.n_no_query} without query, "
        f"on_no_query={r.on_no_query!r}), {len(r.per_query[0.0])} queries"
        for name, r in results.items()
    )


def explorer_collection(config: QueryExplorerConfig) -> tuple[RetrievalData, pd.DataFrame]:
    """``(evaluation collection, augmentation queries)`` of the ``query_explorer`` notebook.

    The held-out split of every XQuAD language; the evaluation questions in ``config.langs``;
    the augmentation queries are the held-out human questions in every non-English language
    (``source="heldout"``) or a generated-query store (the collection then keeps the passages
    that have queries). The queries carry ``in_target_language`` (the language check)."""
    from xqg_lab.data.langs import XQUAD_LANGS
    from xqg_lab.data.xquad import load_xquad
    from xqg_lab.generate import HeldOutQueries, check_languages, read_store, split_questions

    data = load_xquad(sorted({*config.langs, *XQUAD_LANGS}))
    split = split_questions(data.queries, data.qrels, eval_fraction=config.eval_fraction, seed=config.split_seed)
    evaluation = evaluation_collection(data, split, langs=config.langs)
    if config.source == "heldout":
        langs = sorted(set(data.queries["lang"]) - {"en"})
        generated = HeldOutQueries(data.queries, split).generate(data.passages, langs=langs)
    else:
        generated = read_store(config.source)
        evaluation = restrict_to_passages(evaluation, generated["doc_id"].unique())
    checked = check_languages(generated["text"].tolist(), generated["lang"].tolist())
    return evaluation, generated.assign(in_target_language=checked)
