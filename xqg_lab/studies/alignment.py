"""The alignment study: paired views x conditions x measures, side by side.

Does augmenting passage embeddings with target-language queries (xQG, Zhuang, Shou and
Zuccon, SIGIR 2023, arXiv 2305.03950) bring English and target-language representations
closer, by mutual-information style measures, compared with the plain and a fine-tuned
encoder? :func:`compare_conditions` runs :func:`xqg_lab.alignment.alignment_report` for every
(view, condition, α, language) and returns one tidy frame; :mod:`xqg_lab.studies.alignment_summary`
turns that frame into the report's tables (per-language values with intervals, heatmap scores,
the α curve, and where the estimators disagree).

Conditions (:class:`Condition`):

- ``plain``: the encoder as it is, on every view (α = 0);
- ``xqg_heldout``: the ``xqg`` view with ``p' = (1 - α) p + α S``, S fused from held-out human
  questions about the passage (an upper-bound proxy for a perfect generator), one set of rows
  per α > 0;
- ``xqg_generated``: the same with S from a generated-query store (model-generated queries);
- ``finetuned``: another encoder (e.g. :func:`xqg_lab.train.encoder_from_checkpoint`) on
  every view (α = 0).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pydantic

from xqg_lab.alignment import Measure, alignment_report
from xqg_lab.augment import NoQuery
from xqg_lab.core.memo import call_cached, code_key
from xqg_lab.core.validation import ConfigModel, check_choice
from xqg_lab.alignment.pairs import VIEWS, AugmentLangs, View, augmented_sources, embed_view, passages_without_queries, subsample_pairs

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RESULT_COLUMNS",
    "AlignmentConfig",
    "AlignmentInputs",
    "Condition",
    "build_views",
    "compare_conditions",
    "run_study",
    "study_views",
]


class Condition(str, Enum):
    """Encoder / augmentation conditions compared side by side."""

    PLAIN = "plain"
    XQG_HELDOUT = "xqg_heldout"
    XQG_GENERATED = "xqg_generated"
    FINETUNED = "finetuned"


RESULT_COLUMNS = (
    "view", "condition", "alpha", "lang", "measure", "name", "value", "ci_low", "ci_high", "n",
    "reference", "reference_label", "unit", "higher_is_better", "p_value", "p_floor", "n_bootstrap",
    "note",
)  # fmt: skip
"""Columns of :func:`compare_conditions`' frame."""


class AlignmentConfig(ConfigModel):
    """Parameters of the ``alignment`` notebook (its ``parameters`` cell says what each one means)."""

    where = "alignment parameters"
    encoder: str
    preset: str
    views: list[str]
    langs: list[str]
    mkqa_source: str
    alphas: list[Annotated[float, pydantic.Field(ge=0, le=1)]]
    rule: str
    augment_langs: str
    eval_fraction: Annotated[float, pydantic.Field(gt=0, lt=1)]
    max_per_passage: Annotated[int, pydantic.Field(ge=0)]
    generated_store: str
    finetuned_checkpoint: str
    measures: list[str]
    n_bootstrap: Annotated[int, pydantic.Field(ge=1)]
    max_pairs: Annotated[int, pydantic.Field(ge=0)]
    measure_options: dict[str, dict[str, Any]]
    seed: int
    batch_size: Annotated[int, pydantic.Field(ge=1)]
    interactive_charts: bool
    output_prefix: str
    output_dir: str


# ------------------------------------------------------------------------------- inputs


@dataclasses.dataclass(frozen=True)
class AlignmentInputs:
    """The paired views of a study and what the ``xqg`` view needs.

    views : ``{view name: pairs frame}`` (:mod:`xqg_lab.alignment.pairs`).
    heldout : augmentation questions (``doc_id, lang, sample, text, question_id``) for the
        ``xqg`` view, or None without it.
    split : the held-out question split (``question_id, doc_id, role``), or None.
    data_files : registry names of every data file read (for provenance).
    """

    views: dict[str, pd.DataFrame]
    heldout: pd.DataFrame | None
    split: pd.DataFrame | None
    data_files: list[str]


def build_views(
    views: Iterable[View | str],
    *,
    langs: Iterable[str] | None = None,
    mkqa_source: str = "sample",
    eval_fraction: float = 0.5,
    augment_langs: AugmentLangs | str = AugmentLangs.ALL,
    max_per_passage: int | None = None,
    seed: int = 0,
) -> AlignmentInputs:
    """Load the named views from the data loaders.

    Parameters
    ----------
    views : names of :class:`xqg_lab.alignment.pairs.View`.
    langs : target languages; each view keeps those it has (Tatoeba maps ISO 639-1 codes
        to its 3-letter ones). None or empty: each view's defaults
        (:data:`xqg_lab.alignment.pairs.VIEWS`; Tatoeba: the 7 XOR languages).
    mkqa_source : ``"sample"`` (6 pairs per language, offline) or ``"full"`` / a path.
    eval_fraction, seed : the held-out split of XQuAD questions for the ``xqg`` view
        (:func:`xqg_lab.generate.heldout.split_questions`); ``seed`` also picks the
        questions kept by ``max_per_passage``.
    augment_langs : which held-out questions feed ``p'`` (``"all"`` non-English XQuAD
        languages, the paper's one-``p'``-per-passage setting, or the ``"target"`` language).
    max_per_passage : evaluation questions kept per (paragraph, language) in the passage
        views (None: all).
    """
    from xqg_lab.data.tatoeba import tatoeba_langs
    from xqg_lab.data.langs import XQUAD_LANGS
    from xqg_lab.alignment.pairs import TATOEBA_CODES, heldout_queries, load_view, xqg_pairs, xquad_passage_pairs

    chosen = list(dict.fromkeys(check_choice(v, View, what="a view") for v in views))
    if not chosen:
        raise ValueError(f"expected at least one view, found none; valid: {', '.join(v.value for v in View)}")
    langs = list(langs) if langs else None
    built: dict[str, pd.DataFrame] = {}
    files: list[str] = []
    heldout = split = None
    xquad_data = None
    for view in chosen:
        spec = VIEWS[view]
        if view is View.TATOEBA:
            available = set(tatoeba_langs())
            wanted = (
                list(spec.default_langs)
                if langs is None
                else [lang for lang in langs if TATOEBA_CODES.get(lang, lang) in available]
            )
        else:
            wanted = list(spec.default_langs) if langs is None else [lang for lang in langs if lang in spec.default_langs]
        if not wanted:
            warnings.warn(f"view {view.value!r}: none of the languages {langs} is available; skipped", UserWarning, stacklevel=2)
            continue
        if view in (View.XQUAD_QUESTIONS, View.XQUAD_PASSAGES, View.XQG):
            if xquad_data is None:
                from xqg_lab.data.xquad import load_xquad

                xquad_data = load_xquad(list(XQUAD_LANGS))  # all 12: the split and "all" augmentation need every language
                files += [f"xquad.{lang}" for lang in XQUAD_LANGS]
            if view is View.XQUAD_QUESTIONS:
                built[view.value] = load_view(view, wanted, data=xquad_data)
            elif view is View.XQUAD_PASSAGES:
                built[view.value] = xquad_passage_pairs(wanted, data=xquad_data, max_per_passage=max_per_passage, seed=seed)
            else:
                from xqg_lab.generate.heldout import split_questions

                split = split_questions(xquad_data.queries, xquad_data.qrels, eval_fraction=eval_fraction, seed=seed)
                heldout = heldout_queries(xquad_data, split)
                built[view.value] = xqg_pairs(
                    xquad_data, split, langs=wanted, augment=heldout, augment_langs=augment_langs,
                    max_per_passage=max_per_passage, seed=seed,
                )
        elif view is View.XOR_TRANSLATIONS:
            built[view.value] = load_view(view, wanted)
            files += [f"xor_tydi.translation.{lang}.{side}" for lang in wanted for side in (lang, "en")]
        elif view is View.TATOEBA:
            built[view.value] = load_view(view, wanted)
            codes = [TATOEBA_CODES.get(lang, lang) for lang in wanted]
            files += [f"tatoeba.{code}.{side}" for code in codes for side in (code, "eng")]
        elif view is View.MKQA:
            built[view.value] = load_view(view, wanted, source=mkqa_source)
            if mkqa_source in ("sample", "full"):
                files.append(f"mkqa.{mkqa_source}")
    return AlignmentInputs(views=built, heldout=heldout, split=split, data_files=list(dict.fromkeys(files)))


def study_views(config: AlignmentConfig) -> AlignmentInputs:
    """:func:`build_views` with the ``alignment`` notebook's parameters (``max_per_passage`` 0: all)."""
    return build_views(
        config.views, langs=config.langs, mkqa_source=config.mkqa_source, eval_fraction=config.eval_fraction,
        augment_langs=config.augment_langs, max_per_passage=config.max_per_passage or None, seed=config.seed,
    )  # fmt: skip


# ------------------------------------------------------------------------------ compute


def compare_conditions(
    views: Mapping[str, pd.DataFrame],
    encoder,
    *,
    heldout: pd.DataFrame | None = None,
    generated: pd.DataFrame | None = None,
    finetuned=None,
    alphas: Sequence[float] = (0.0,),
    rule: str = "mean",
    augment_langs: AugmentLangs | str = AugmentLangs.ALL,
    on_no_query: str = "keep",
    measures: Iterable[Measure | str] | None = None,
    n_bootstrap: int = 100,
    confidence: float = 0.95,
    seed: int | None = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    max_pairs: int | None = None,
    progress: bool = False,
    cache: bool = False,
) -> pd.DataFrame:
    """Alignment measures for every (view, condition, α, language), in one tidy frame.

    Parameters
    ----------
    views : ``{view name: pairs frame}``; names are :class:`xqg_lab.alignment.pairs.View` values
        (they fix the roles each side is encoded with), frames as built by
        :mod:`xqg_lab.alignment.pairs` (the ``xqg`` frame needs ``doc_id``).
    encoder : the plain encoder (anything with ``encode(texts, role=...)`` and
        ``encode_queries``, e.g. :class:`xqg_lab.encode.model.Encoder`).
    heldout : augmentation queries ``doc_id, lang, sample, text`` for the ``xqg_heldout``
        condition (:func:`xqg_lab.alignment.pairs.heldout_queries`); None: no such condition.
    generated : a generated-query store frame (``doc_id, lang, sample, text``) for the
        ``xqg_generated`` condition; None: no such condition.
    finetuned : a second encoder for the ``finetuned`` condition (every view, α = 0).
    alphas : α grid of the augmented conditions; α = 0 is the ``plain`` row, so only the
        α > 0 values give augmented rows.
    rule, augment_langs : fusion of the augmentation queries (:func:`xqg_lab.alignment.pairs.augmented_sources`):
        ``"mean"`` by default because held-out human questions come in unequal numbers per
        passage; use ``"sum"`` (the paper's rule) for a store with equal counts.
    measures, n_bootstrap, confidence, seed, options :
        As in :func:`xqg_lab.alignment.alignment_report` (``measures=None``: all of them;
        ``seed`` also draws the ``max_pairs`` subsample; ``options`` keeps the expensive
        measures affordable, e.g. ``{"ksg_mi": {"n_permutations": 99}, "language_probe":
        {"n_splits": 3}}``).
    max_pairs : at most this many pairs per (view, language), a seeded subsample shared by
        all conditions (None: all). Bitext accuracy and the InfoNCE cap ``log N`` depend on
        N, so an equal N keeps languages comparable, and it bounds the cost.
    progress : show a progress bar over (view, condition, α).
    cache : keep each report in the toolkit's cache and read it back when the same vectors
        and settings come again (:func:`xqg_lab.core.memo.call_cached`).

    Returns
    -------
    DataFrame
        :data:`RESULT_COLUMNS`: one row per measure and per part (``name``), for each
        (view, condition, alpha, lang). ``n`` is the number of pairs. A measure that cannot be
        computed on a cell (e.g. ``gaussian_mi`` needs more pairs than MKQA's offline sample
        has) gives a row with NaN values and the reason in ``note`` (and a warning).
        ``attrs``: ``seconds`` (wall time) per (view, condition), ``seconds_by_measure``
        (compute time of each measure; for cells read from the cache, as measured when they
        were computed), and ``n_no_query`` (``{"<view>/<condition>": {language set: passages without query}}``).
    """
    import pandas as pd

    from xqg_lab.alignment.registry import measure_options

    measures = tuple(Measure) if measures is None else measures
    chosen = list(dict.fromkeys(check_choice(m, Measure, what="a measure") for m in measures))
    if not chosen:
        raise ValueError(f"expected at least one measure, found none; valid: {', '.join(m.value for m in Measure)}")
    per_measure = measure_options(options, chosen)
    augment_langs = check_choice(augment_langs, AugmentLangs, what="augment_langs")
    on_no_query = NoQuery.parse(on_no_query).value
    alphas = sorted({float(a) for a in alphas})
    for a in alphas:
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"expected every alpha in [0, 1], found {a}")
    names = {}
    for name in views:
        names[name] = check_choice(name, View, what="a view name")
    augmenting = {c: q for c, q in ((Condition.XQG_HELDOUT, heldout), (Condition.XQG_GENERATED, generated)) if q is not None}
    if augmenting and View.XQG.value not in views:
        raise ValueError(
            f"augmentation queries given ({', '.join(c.value for c in augmenting)}) but no 'xqg' view; "
            "add the xqg view (xqg_lab.alignment.pairs.xqg_pairs) to compare augmented passages"
        )
    if augmenting and not any(a > 0 for a in alphas):
        warnings.warn("augmentation queries given but no alpha > 0: no augmented rows", UserWarning, stacklevel=2)

    encoders = [(Condition.PLAIN, encoder)] + ([(Condition.FINETUNED, finetuned)] if finetuned is not None else [])
    tasks = []  # (view name, condition, alpha, pairs, callable returning (X, Y))
    for name, pairs in views.items():
        sub = subsample_pairs(pairs, max_pairs=max_pairs, seed=0 if seed is None else seed)
        for condition, model in encoders:
            tasks.append((name, condition, 0.0, sub, model, None))
        if names[name] is View.XQG:
            for condition, queries in augmenting.items():
                for alpha in alphas:
                    if alpha > 0:
                        tasks.append((name, condition, alpha, sub, encoder, queries))

    frames, seconds, by_measure = [], {}, {m.value: 0.0 for m in chosen}
    bar = None
    if progress:
        from xqg_lab.core.progress import tqdm

        bar = tqdm(total=len(tasks), desc="conditions")
    embedded: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    augmented_cache: dict[tuple[str, Condition], dict[float, np.ndarray]] = {}
    no_query: dict[str, dict[str, int]] = {}
    for name, condition, alpha, sub, model, queries in tasks:
        start = time.perf_counter()
        if (name, id(model)) not in embedded:
            embedded[(name, id(model))] = embed_view(sub, model, names[name])
        X, Y = embedded[(name, id(model))]
        if queries is not None:
            key = (name, condition)
            if key not in augmented_cache:
                augmented_cache[key] = augmented_sources(
                    sub, model, queries, alphas=[a for a in alphas if a > 0], rule=rule, augment_langs=augment_langs,
                    on_no_query=on_no_query,
                )  # fmt: skip
                no_query[f"{name}/{condition.value}"] = passages_without_queries(sub, queries, augment_langs=augment_langs)
            X = augmented_cache[key][alpha]
        for lang, idx in sub.groupby("lang", sort=True).indices.items():
            frame = _report(
                X[idx], Y[idx], chosen, per_measure, n_bootstrap, confidence, seed, by_measure, (name, lang), cache
            )
            frames.append(frame.assign(view=name, condition=condition.value, alpha=alpha, lang=lang))
        seconds[f"{name}/{condition.value}"] = seconds.get(f"{name}/{condition.value}", 0.0) + time.perf_counter() - start
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(RESULT_COLUMNS))
    out = out[list(RESULT_COLUMNS)]
    out.attrs.update(
        {
            "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "seconds_by_measure": {k: round(v, 2) for k, v in by_measure.items()},
            "confidence": confidence,
            "seed": seed,
            "rule": rule,
            "augment_langs": augment_langs.value,
            "on_no_query": on_no_query,
            "n_no_query": no_query,
            "max_pairs": max_pairs,
        }
    )
    return out


def _report(X, Y, chosen, per_measure, n_bootstrap, confidence, seed, by_measure, where, cache):
    """The measures of one cell; adds each measure's compute seconds to ``by_measure``. With
    ``cache``, the cell is one cache entry, read back whole (its seconds are those measured when
    it was computed)."""
    import xqg_lab.alignment

    args = (X, Y, [m.value for m in chosen], {m.value: o for m, o in per_measure.items()}, n_bootstrap, confidence,
            seed, list(where))  # fmt: skip
    if cache:
        frame = call_cached(_measure_reports, *args, code=code_key(xqg_lab.alignment, sys.modules[__name__]))
    else:
        frame = _measure_reports(*args)
    for measure, seconds in frame.groupby("measure", sort=False)["seconds"].first().items():
        by_measure[measure] += seconds
    return frame.drop(columns="seconds")


def _measure_reports(X, Y, measures, options, n_bootstrap, confidence, seed, where):
    """alignment_report one measure at a time, so that one measure failing on a small cell
    leaves a NaN row with its reason instead of losing the others; ``seconds``: the compute
    time of each measure (on each of its rows)."""
    import pandas as pd

    frames = []
    for measure in measures:
        start = time.perf_counter()
        opts = {measure: options[measure]} if measure in options else None
        try:
            frame = alignment_report(
                X, Y, measures=[measure], n_bootstrap=n_bootstrap, confidence=confidence, seed=seed, options=opts
            ).assign(note="")
        except ValueError as exc:
            warnings.warn(f"{where[0]} / {where[1]}: {measure} not computed: {exc}", UserWarning, stacklevel=3)
            frame = pd.DataFrame(
                [{"measure": measure, "name": measure, "value": math.nan, "ci_low": math.nan,
                  "ci_high": math.nan, "n": X.shape[0], "unit": "", "higher_is_better": None,
                  "reference": math.nan, "reference_label": "", "p_value": math.nan,
                  "p_floor": math.nan, "n_bootstrap": n_bootstrap, "note": str(exc)}]
            )  # fmt: skip
        frames.append(frame.assign(seconds=time.perf_counter() - start))
    return pd.concat(frames, ignore_index=True)


def run_study(config: AlignmentConfig, inputs: AlignmentInputs, encoder) -> tuple[pd.DataFrame, Any]:
    """:func:`compare_conditions` with the ``alignment`` notebook's parameters; returns the results
    and the fine-tuned encoder (None without ``finetuned_checkpoint``). A generated-query store
    adds ``xqg_generated``; ``measure_options`` of measures not chosen are left out."""
    finetuned = generated = None
    if config.finetuned_checkpoint:
        from xqg_lab.train import encoder_from_checkpoint

        finetuned = encoder_from_checkpoint(config.finetuned_checkpoint, batch_size=config.batch_size)
    if config.generated_store:
        from xqg_lab.generate.store import read_store

        generated = read_store(config.generated_store)
    chosen = config.measures
    options = {name: value for name, value in config.measure_options.items() if not chosen or name in chosen}
    results = compare_conditions(
        inputs.views, encoder, heldout=inputs.heldout, generated=generated, finetuned=finetuned,
        alphas=config.alphas, rule=config.rule, augment_langs=config.augment_langs, measures=chosen or None,
        n_bootstrap=config.n_bootstrap, seed=config.seed, max_pairs=config.max_pairs or None, options=options,
        cache=True,
    )  # fmt: skip
    return results, finetuned
