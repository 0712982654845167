"""The four-condition grid: zero-shot and fine-tuned encoder, each with and without xQG.

xQG (Zhuang, Shou and Zuccon, SIGIR 2023, arXiv 2305.03950) is an alternative to fine-tuning
the multilingual retriever on cross-lingual data. The grid puts the two side by side on the
same evaluation queries: the encoder as released (``zero-shot``), the encoder fine-tuned with
:mod:`xqg_lab.train` (``fine-tuned``), and each of them with passages augmented as
``p' = (1 - α) p + α S`` (``+ xQG``).

Leakage: the fine-tuned encoder saw the questions of the training articles of an XQuAD
article split (:func:`xqg_lab.train.xquad_training_split`); the augmentation questions come
from a split of each paragraph's questions (:func:`xqg_lab.generate.heldout.split_questions`).
:func:`grid_collection` keeps only queries that are on the held-out side of *both* splits, and
searches all 240 paragraphs, every one of them augmented, so no passage gains from being the
only augmented one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pydantic

from xqg_lab.core.atomic import staged_folder
from xqg_lab.core.paths import cache_dir
from xqg_lab.core.validation import ConfigModel

if TYPE_CHECKING:
    import pandas as pd

    from xqg_lab.data.common import RetrievalData
    from xqg_lab.train import TrainingJob
    from xqg_lab.studies.xqg import XQGResult

__all__ = [
    "BASELINE",
    "CONDITIONS",
    "FAMILY_BASELINES",
    "GridConfig",
    "alignment_means",
    "alignment_grid",
    "article_split",
    "compare_grid",
    "effects_table",
    "evaluate_grid",
    "fine_tuned_checkpoint",
    "grid_collection",
    "grid_means",
    "loss_curve",
    "restrict_views",
    "training_record",
    "training_summary",
]

BASELINE = "zero-shot"
CONDITIONS = ("zero-shot", "zero-shot + xQG", "fine-tuned", "fine-tuned + xQG")
"""The grid's conditions, in reporting order."""
FAMILY_BASELINES = {"vs zero-shot": BASELINE, "xQG on fine-tuned": "fine-tuned"}
"""The baseline of each comparison family of :func:`compare_grid`."""
_FAMILIES = {"vs zero-shot": CONDITIONS[1:], "xQG on fine-tuned": ("fine-tuned + xQG",)}


class GridConfig(ConfigModel):
    """Parameters of the ``finetune_grid`` notebook (its ``parameters`` cell says what each one means);
    ``training`` is validated by :func:`xqg_lab.train.parse_training_job`."""

    where = "finetune_grid parameters"
    training: dict[str, Any]
    langs: list[str]
    augment_langs: list[str]
    question_fraction: Annotated[float, pydantic.Field(gt=0, lt=1)]
    split_seed: int
    rule: str
    on_no_query: str
    passage_fields: str
    alpha: Annotated[float, pydantic.Field(gt=0, le=1)]
    alphas: list[Annotated[float, pydantic.Field(ge=0, le=1)]]
    k: Annotated[int, pydantic.Field(ge=1)]
    measures: list[str]
    test: str
    robustness_test: str
    alignment_measures: list[str]
    n_bootstrap: Annotated[int, pydantic.Field(ge=1)]
    interactive_charts: bool
    output_prefix: str
    output_dir: str


def fine_tuned_checkpoint(
    job: TrainingJob, *, cache_root: str | os.PathLike | None = None, progress: bool = True
) -> tuple[Path, bool]:
    """``(checkpoint folder, reused)``: train ``job`` once, reuse it on later runs.

    The checkpoint lives under ``<cache>/checkpoints/`` in a folder named by the SHA-256 of
    the start point, the data settings and every hyper-parameter, so a changed config trains
    anew and an unchanged one is read back. Training writes into a temporary sibling that is
    renamed once complete: a run killed mid-training leaves nothing that could be mistaken
    for a finished checkpoint.
    """
    from filelock import FileLock

    from xqg_lab.train import CHECKPOINT_FILE, run_training_job

    key = hashlib.sha256(json.dumps(job.cache_spec(), sort_keys=True).encode()).hexdigest()[:20]
    root = Path(cache_root) if cache_root is not None else cache_dir() / "checkpoints"
    folder = root / key
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / CHECKPOINT_FILE).is_file():
            return folder, True
        with staged_folder(folder) as staging:
            run_training_job(job, output_dir=staging, progress=progress)
    return folder, False


def training_record(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """The training record (``xqg_training.json``) of a checkpoint: loss curve, seconds, settings."""
    from xqg_lab.train import CHECKPOINT_FILE

    return json.loads((Path(checkpoint) / CHECKPOINT_FILE).read_text(encoding="utf-8"))


def training_summary(checkpoint: Path, reused: bool, record: dict[str, Any], *, batch_size: int) -> str:
    """One line: where the checkpoint is, whether it was trained now, steps, seconds and the loss
    (mean of the first and of the last 10% of steps, in nats)."""
    loss = record["loss"]
    return (
        f"checkpoint {checkpoint} ({'reused from the cache' if reused else 'trained now'}): "
        f"{loss['n_steps']} steps × {batch_size} queries in {record['seconds']['training']:.0f} s; "
        f"loss {loss['mean_first_10pct']:.3f} → {loss['mean_last_10pct']:.3f} nats (first → last 10% of steps)"
    )


def loss_curve(record: dict[str, Any]) -> pd.DataFrame:
    """``step, loss`` of a training record (:func:`training_record`)."""
    import pandas as pd

    return pd.DataFrame(record["loss"]["curve"], columns=["step", "loss"])


def article_split(data: RetrievalData, job: TrainingJob) -> pd.DataFrame:
    """The article split ``job`` trains on (:func:`xqg_lab.train.xquad_training_split`): one row
    per XQuAD article with ``role`` ``"train"`` or ``"eval"``."""
    from xqg_lab.train import XQuADTrainingData, xquad_training_split

    if not isinstance(job.data, XQuADTrainingData):
        raise ValueError(
            f"{job.source}: the grid evaluates on the XQuAD articles held out from training; expected "
            f"training.data.source 'xquad', found {job.data.source.value!r}"
        )
    return xquad_training_split(data, eval_fraction=job.data.eval_fraction, seed=job.data.seed).split


def grid_collection(
    data: RetrievalData, article_split: pd.DataFrame, question_split: pd.DataFrame, *, langs: Sequence[str]
) -> RetrievalData:
    """The grid's evaluation collection: all passages; the queries in ``langs`` whose question
    is an ``"evaluation"`` question of ``question_split`` about an ``"eval"`` article of
    ``article_split`` (the ``split`` frame of :func:`xqg_lab.train.xquad_training_split`)."""
    from xqg_lab.data.common import RetrievalData
    from xqg_lab.studies.xqg import evaluation_collection

    eval_articles = set(article_split.loc[article_split["role"] == "eval", "article"])
    if not eval_articles:
        raise ValueError("article_split has no 'eval' article; expected the split of xquad_training_split")
    evaluation = evaluation_collection(data, question_split, langs=langs)
    qrels = evaluation.qrels[evaluation.qrels["doc_id"].str.split("-").str[0].isin(eval_articles)]
    queries = evaluation.queries[evaluation.queries["query_id"].isin(set(qrels["query_id"]))]
    return RetrievalData(evaluation.passages, queries.reset_index(drop=True), qrels.reset_index(drop=True))


def evaluate_grid(
    data: RetrievalData,
    augmentation: pd.DataFrame,
    encoders: Mapping[str, Any],
    *,
    alpha: float,
    alphas: Sequence[float] = (),
    rule: str = "mean",
    augment_langs: Sequence[str] | None = None,
    on_no_query: str = "keep",
    k: int = 100,
    measures: Sequence[str] = ("MRR@10", "R@1", "R@5", "R@10", "nDCG@10"),
) -> tuple[dict[str, pd.DataFrame], dict[str, XQGResult]]:
    """Per-query scores of the four conditions.

    Parameters
    ----------
    data : the evaluation collection (:func:`grid_collection`).
    augmentation : augmentation queries ``doc_id, lang, sample, text`` (held-out human
        questions or a generated-query store).
    encoders : ``{"zero-shot": encoder, "fine-tuned": encoder}``.
    alpha : the α of the ``+ xQG`` conditions, fixed before looking at the results;
        ``alphas`` adds an α curve per encoder (same two searches, :func:`xqg_lab.studies.xqg.evaluate_xqg`).
    on_no_query : ``"keep"`` (a passage without augmentation question keeps ``p' = p``) or
        ``"literal"`` (``(1-α)·p``); each result's ``n_no_query`` counts those passages.

    Returns
    -------
    ``({condition: per-query frame (query_id, lang, measures...)}, {encoder name: XQGResult})``
    """
    from xqg_lab.studies.xqg import evaluate_xqg

    missing = sorted({"zero-shot", "fine-tuned"} - set(encoders))
    if missing:
        raise ValueError(f"expected encoders named 'zero-shot' and 'fine-tuned'; missing {missing}")
    if not 0 < alpha <= 1:
        raise ValueError(f"expected alpha in (0, 1] for the '+ xQG' conditions, found {alpha!r}")
    per_query, results = {}, {}
    for name in ("zero-shot", "fine-tuned"):
        result = evaluate_xqg(
            data, augmentation, encoders[name], alphas=[alpha, *alphas], rule=rule,
            augment_langs=augment_langs, on_no_query=on_no_query, k=k, measures=measures,
        )  # fmt: skip
        results[name] = result
        per_query[name] = result.per_query[0.0]
        per_query[f"{name} + xQG"] = result.per_query[float(alpha)]
    return {c: per_query[c] for c in CONDITIONS}, results


def compare_grid(
    per_query: Mapping[str, pd.DataFrame],
    *,
    measures: Sequence[str],
    test: str = "t",
    level: float = 0.05,
    progress: bool = False,
    cache: bool = False,
) -> dict[str, dict[str, pd.DataFrame]]:
    """The grid's paired comparisons, as two families of :func:`xqg_lab.stats.compare` frames
    at significance level ``level`` (``progress``: a bar per comparison; ``cache``: keep each
    comparison in the toolkit's cache, :func:`xqg_lab.core.memo.call_cached`).

    ``"vs zero-shot"``: each other condition against the zero-shot encoder (does xQG, fine-tuning
    or both beat the released model?); ``"xQG on fine-tuned"``: fine-tuned + xQG against
    fine-tuned (does xQG add to fine-tuning?). Each comparison is Holm-corrected over its own
    languages × measures; the three "vs zero-shot" comparisons are *not* corrected jointly
    (the tables' captions say so).
    """
    import xqg_lab.stats
    from xqg_lab.core.memo import call_cached, code_key
    from xqg_lab.stats import compare

    if cache:
        compare = functools.partial(call_cached, compare, code=code_key(xqg_lab.stats))

    def paired(baseline: str, treatment: str) -> pd.DataFrame:
        return compare(per_query[baseline], per_query[treatment], measures=list(measures), by="lang",
                       test=test, level=level, progress=progress)  # fmt: skip

    return {
        family: {c: paired(FAMILY_BASELINES[family], c) for c in treatments} for family, treatments in _FAMILIES.items()
    }


def effects_table(
    families: Mapping[str, Mapping[str, pd.DataFrame]],
    robust: Mapping[str, Mapping[str, pd.DataFrame]],
    *,
    measure: str,
    robustness_test: str,
) -> pd.DataFrame:
    """Per comparison and language, on ``measure``: difference, its bootstrap interval,
    Cohen's d_z, wins/ties/losses and the Holm-adjusted p of the main test, beside the
    adjusted p of the same comparison under ``robustness_test`` (``robust``; both from
    :func:`compare_grid`). Comparisons are named ``"<treatment> vs <baseline>"``.

    The two p columns come from different Holm families (each comparison is corrected on
    its own, over its languages × measures: 60 for 12 languages × 5 measures, 12 for the
    robustness test on one measure), so each column is labelled with its test and family
    size, e.g. ``"p (t, Holm over 60)"``; ``attrs["caption"]`` says which comparisons were
    corrected jointly (none: each comparison is its own family).
    """
    from xqg_lab.stats import stack_comparisons

    def stacked(fams):
        return stack_comparisons(
            {f"{t} vs {FAMILY_BASELINES[fam]}": c for fam, comps in fams.items() for t, c in comps.items()}
        )

    def label(frame):
        sizes = "/".join(str(s) for s in sorted(set(frame["family_size"].astype(int))))
        return f"{'/'.join(sorted(set(frame['test'])))}, Holm over {sizes}"

    main_all, other_all = stacked(families), stacked(robust)
    if set(other_all["test"]) != {robustness_test}:
        raise ValueError(
            f"expected robust comparisons made with robustness_test {robustness_test!r}, found tests "
            f"{sorted(set(other_all['test']))}; pass compare_grid(..., test={robustness_test!r})"
        )
    main_label, other_label = label(main_all), label(other_all)
    main = main_all[main_all["measure"] == measure][["system", "lang", "diff", "ci_low", "ci_high", "effect_size",
                                                     "wins", "ties", "losses", "p_adjusted", "significant"]]  # fmt: skip
    other = other_all[other_all["measure"] == measure][["system", "lang", "p_adjusted", "significant"]]
    out = main.merge(other, on=["system", "lang"], suffixes=(" main", " robust"), validate="one_to_one")
    out = out.rename(columns={
        "system": "comparison",
        "p_adjusted main": f"p ({main_label})", "significant main": f"significant ({main_label})",
        "p_adjusted robust": f"p ({other_label})", "significant robust": f"significant ({other_label})",
    })  # fmt: skip
    n_comparisons = out["comparison"].nunique()
    main_measures = main_all.groupby("system")["measure"].nunique().max()
    out.attrs["caption"] = (
        f"Holm-adjusted p-values. p ({main_label}): each of the {n_comparisons} comparisons corrected on its own, "
        f"over its languages × {main_measures} measures; p ({other_label}): each comparison on its own, over its "
        f"languages × {other_all.groupby('system')['measure'].nunique().max()} measure(s). No two comparisons "
        "(rows with different 'comparison') are corrected jointly, and the two columns are different families."
    )
    return out.reset_index(drop=True)


def grid_means(per_query: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Tidy means: ``condition, lang, measure, value`` (``lang="mean"`` averages the languages)."""
    import pandas as pd

    from xqg_lab.metrics.ranking import aggregate

    frames = []
    for condition, frame in per_query.items():
        by_lang = aggregate(frame, by="lang").drop(columns="n_queries")
        by_lang.loc["mean"] = by_lang.mean()
        tidy = by_lang.rename_axis("lang").reset_index().melt(id_vars="lang", var_name="measure")
        frames.append(tidy.assign(condition=condition))
    return pd.concat(frames, ignore_index=True)[["condition", "lang", "measure", "value"]]


def restrict_views(views: Mapping[str, pd.DataFrame], article_split: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each paired XQuAD view (:mod:`xqg_lab.alignment.pairs`) cut to the rows about the ``"eval"``
    articles of ``article_split``: the fine-tuned encoder never saw them."""
    eval_articles = set(article_split.loc[article_split["role"] == "eval", "article"])
    out = {}
    for name, frame in views.items():
        if "doc_id" not in frame.columns:
            raise ValueError(f"view {name!r} has no doc_id column; only XQuAD views can be restricted to articles")
        out[name] = frame[frame["doc_id"].str.split("-").str[0].isin(eval_articles)].reset_index(drop=True)
    return out


def alignment_grid(
    views: Mapping[str, pd.DataFrame],
    encoders: Mapping[str, Any],
    *,
    heldout: pd.DataFrame,
    alpha: float,
    **options: Any,
) -> pd.DataFrame:
    """Alignment measures of the four conditions (:func:`xqg_lab.studies.alignment.compare_conditions`
    run once per encoder); the ``condition`` column holds :data:`CONDITIONS` names.

    The ``+ xQG`` conditions exist on the ``xqg`` view only (the other views hold no passages).
    ``options`` go to ``compare_conditions`` (measures, n_bootstrap, seed, max_pairs, ...).
    """
    import pandas as pd

    from xqg_lab.studies.alignment import Condition, compare_conditions

    frames = []
    for name in ("zero-shot", "fine-tuned"):
        frame = compare_conditions(views, encoders[name], heldout=heldout, alphas=[0.0, alpha], **options)
        names = {Condition.PLAIN.value: name, Condition.XQG_HELDOUT.value: f"{name} + xQG"}
        frames.append(frame.assign(condition=frame["condition"].map(names)))
    out = pd.concat(frames, ignore_index=True)
    out.attrs = frames[0].attrs
    return out


def alignment_means(alignment: pd.DataFrame) -> pd.DataFrame:
    """Mean of each alignment measure over the target languages: index ``(view, measure)``, one
    column per condition present, in :data:`CONDITIONS` order (``alignment``: :func:`alignment_grid`)."""
    means = alignment.pivot_table(index=["view", "measure"], columns="condition", values="value", aggfunc="mean")
    return means[[c for c in CONDITIONS if c in means.columns]]
