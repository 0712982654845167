"""The alignment study: paired views x conditions x measures, side by side.

Does augmenting passage embeddings with target-language queries (xQG, Zhuang, Shou and
Zuccon, SIGIR 2023, arXiv 2305.03950) bring English and target-language representations
closer, by mutual-information style measures, compared with the plain and a fine-tuned
encoder? :func:`compare_conditions` runs :func:`xqg_lab.alignment.alignment_report` for every
(view, condition, α, language) and returns one tidy frame; the functions after it turn that
frame into the report's tables (per-language values with intervals, heatmap scores, the α
curve, and where the estimators disagree).

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
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from xqg_lab.alignment import Measure, alignment_report
from xqg_lab.augment import NoQuery
from xqg_lab.core.errors import check_choice
from xqg_lab.alignment.pairs import VIEWS, AugmentLangs, View, augmented_sources, embed_view, passages_without_queries, subsample_pairs

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ALIGNMENT_MEASURES",
    "RESULT_COLUMNS",
    "AlignmentInputs",
    "Condition",
    "alpha_curve",
    "build_views",
    "compare_conditions",
    "counts_notice",
    "estimator_disagreements",
    "heatmap_scores",
    "measure_changes",
    "measure_table",
    "summarize_disagreements",
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

ALIGNMENT_MEASURES = tuple(m.value for m in Measure if m is not Measure.UNIFORMITY_LOSS)
"""Measures that vote on "more / less aligned" in :func:`estimator_disagreements`: every
measure but ``uniformity_loss``, which describes how spread out the space is, not how close
the two languages are."""

_CHANGE_MORE, _CHANGE_LESS, _CHANGE_NONE = "more aligned", "less aligned", "within baseline CI"


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

    chosen = list(dict.fromkeys(check_choice(View, v, "a view") for v in views))
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


def counts_notice(counts: pd.DataFrame) -> str:
    """A Markdown paragraph naming the (view, language) cells with too few pairs to measure
    anything (``counts`` from :func:`xqg_lab.alignment.pairs.pair_counts`); empty when there are none."""
    small = counts[counts["note"] != ""]
    if small.empty:
        return ""
    lines = []
    for view, group in small.groupby("view", sort=False):
        ns = sorted(set(group["n_pairs"]))
        n_text = f"N = {ns[0]}" if len(ns) == 1 else f"N = {ns[0]} to {ns[-1]}"
        lines.append(f"- **{view}**: {n_text} pairs in {len(group)} language(s) ({', '.join(group['lang'])})")
    return (
        "**Warning: too few pairs.** The estimates below for these views are illustrative only, "
        "not measurements (every interval is wide and several estimators need more pairs than "
        "there are):\n\n" + "\n".join(lines)
    )


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

    Returns
    -------
    DataFrame
        :data:`RESULT_COLUMNS`: one row per measure and per part (``name``), for each
        (view, condition, alpha, lang). ``n`` is the number of pairs. A measure that cannot be
        computed on a cell (e.g. ``gaussian_mi`` needs more pairs than MKQA's offline sample
        has) gives a row with NaN values and the reason in ``note`` (and a warning).
        ``attrs``: ``seconds`` per (view, condition), ``seconds_by_measure``, and
        ``n_no_query`` (``{"<view>/<condition>": {language set: passages without query}}``).
    """
    import pandas as pd

    from xqg_lab.alignment.registry import measure_options

    measures = tuple(Measure) if measures is None else measures
    chosen = list(dict.fromkeys(check_choice(Measure, m, "a measure") for m in measures))
    if not chosen:
        raise ValueError(f"expected at least one measure, found none; valid: {', '.join(m.value for m in Measure)}")
    per_measure = measure_options(options, chosen)
    augment_langs = check_choice(AugmentLangs, augment_langs, "augment_langs")
    on_no_query = NoQuery.parse(on_no_query).value
    alphas = sorted({float(a) for a in alphas})
    for a in alphas:
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"expected every alpha in [0, 1], found {a}")
    names = {}
    for name in views:
        names[name] = check_choice(View, name, "a view name")
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
            frame = _report(X[idx], Y[idx], chosen, per_measure, n_bootstrap, confidence, seed, by_measure, (name, lang))
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


def _report(X, Y, chosen, per_measure, n_bootstrap, confidence, seed, by_measure, where):
    """alignment_report one measure at a time, so that one measure failing on a small cell
    leaves a NaN row with its reason instead of losing the others."""
    import pandas as pd

    frames = []
    for measure in chosen:
        start = time.perf_counter()
        opts = {measure.value: per_measure[measure]} if measure in per_measure else None
        try:
            frame = alignment_report(
                X, Y, measures=[measure], n_bootstrap=n_bootstrap, confidence=confidence, seed=seed, options=opts
            ).assign(note="")
        except ValueError as exc:
            warnings.warn(f"{where[0]} / {where[1]}: {measure.value} not computed: {exc}", UserWarning, stacklevel=3)
            frame = pd.DataFrame(
                [{"measure": measure.value, "name": measure.value, "value": math.nan, "ci_low": math.nan,
                  "ci_high": math.nan, "n": X.shape[0], "unit": "", "higher_is_better": pd.NA,
                  "reference": math.nan, "reference_label": "", "p_value": math.nan,
                  "p_floor": math.nan, "n_bootstrap": n_bootstrap, "note": str(exc)}]
            )  # fmt: skip
        by_measure[measure.value] += time.perf_counter() - start
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- summaries


def _headline(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["name"] == results["measure"]]


def measure_table(results: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """Per-language table: one row per (view, condition, alpha, lang) with its ``n``, one
    column per measure holding ``"value [ci_low, ci_high]"``, followed for a permutation
    test (KSG) by ``"p=… (floor …)"``, the floor being the smallest p its permutations allow
    (headline rows only; a measure that could not be computed shows ``"n/a"``)."""
    import pandas as pd

    head = _headline(results)

    def cell(v, lo, hi, p, floor):
        if not np.isfinite(v):
            return "n/a"
        text = f"{v:.{digits}f}"
        if np.isfinite(lo) and np.isfinite(hi):
            text += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
        if np.isfinite(p):
            text += f" p={p:.3g} (floor {floor:.3g})"
        return text

    floors = head["p_floor"] if "p_floor" in head.columns else np.full(len(head), np.nan)
    cells = zip(head["value"], head["ci_low"], head["ci_high"], head["p_value"].astype(float), floors.astype(float))
    head = head.assign(cell=[cell(*c) for c in cells])
    keys = ["view", "condition", "alpha", "lang"]
    table = head.pivot_table(index=keys, columns="measure", values="cell", aggfunc="first", sort=False)
    order = list(dict.fromkeys(head["measure"]))
    n = head.groupby(keys, sort=False)["n"].max()
    table = table[order]
    table.insert(0, "n", n.reindex(table.index).astype("int64"))
    table.columns.name = None
    return pd.DataFrame(table).reset_index()


def heatmap_scores(results: pd.DataFrame, *, condition: str = Condition.PLAIN.value, alpha: float = 0.0) -> pd.DataFrame:
    """Colour scores for a measures x languages heatmap of one condition.

    Measures live on different scales (nats, fractions, CKA, squared distances), so each
    measure's colour is its z-score across the languages of a view, signed so that a
    positive score always means *more aligned* (lower-is-better measures are negated). The
    spread it divides by is floored at the largest bootstrap half-width among those
    languages, so that differences within the sampling noise (e.g. a probe saturated at
    1.000 vs 0.998) stay pale instead of being stretched to full colour. A view with one
    language gets score 0.

    Returns
    -------
    DataFrame
        ``view, lang, measure, value, ci_low, ci_high, n, reference, score`` (headline rows).
    """
    head = _headline(results)
    head = head[(head["condition"] == condition) & np.isclose(head["alpha"].astype(float), alpha)]
    if head.empty:
        raise ValueError(
            f"no rows for condition {condition!r} at alpha {alpha}; available: "
            f"{sorted(set(zip(results['condition'], results['alpha'])))}"
        )
    head = head[["view", "lang", "measure", "value", "ci_low", "ci_high", "n", "reference", "higher_is_better"]].copy()
    sign = np.where(head["higher_is_better"].astype("boolean").fillna(True).astype(bool), 1.0, -1.0)
    signed = head["value"].astype(float) * sign
    keys = [head["view"], head["measure"]]
    grouped = signed.groupby(keys)
    mean, std = grouped.transform("mean"), grouped.transform("std", ddof=0)
    noise = ((head["ci_high"] - head["ci_low"]) / 2).groupby(keys).transform("max")
    scale = np.fmax(std, noise)  # fmax ignores a NaN half-width (n_bootstrap=0)
    head["score"] = ((signed - mean) / scale.where(scale > 0)).fillna(0.0)
    return head.drop(columns="higher_is_better").reset_index(drop=True)


def alpha_curve(results: pd.DataFrame, *, view: str = View.XQG.value) -> pd.DataFrame:
    """Headline measures against α for the augmented conditions of ``view``.

    Each augmented condition gets the ``plain`` rows as its α = 0 point (p itself), so a line
    runs from p to p'. Returns ``condition, alpha, lang, measure, value, ci_low, ci_high, n,
    higher_is_better``.
    """
    import pandas as pd

    head = _headline(results)
    head = head[head["view"] == view]
    augmented = [c for c in (Condition.XQG_HELDOUT.value, Condition.XQG_GENERATED.value) if c in set(head["condition"])]
    if not augmented:
        raise ValueError(f"no augmented condition for view {view!r}; found conditions {sorted(set(head['condition']))}")
    plain = head[head["condition"] == Condition.PLAIN.value]
    parts = [pd.concat([plain.assign(condition=c), head[head["condition"] == c]]) for c in augmented]
    cols = ["condition", "alpha", "lang", "measure", "value", "ci_low", "ci_high", "n", "higher_is_better"]
    out = pd.concat(parts, ignore_index=True)[cols]
    order = {m: i for i, m in enumerate(dict.fromkeys(head["measure"]))}
    out = out.assign(_order=out["measure"].map(order))
    return out.sort_values(["condition", "_order", "lang", "alpha"], ignore_index=True).drop(columns="_order")


def measure_changes(results: pd.DataFrame, *, baseline: str = Condition.PLAIN.value) -> pd.DataFrame:
    """How each headline measure moves from ``baseline`` to every other (condition, α), per
    view and language.

    ``change`` is ``"more aligned"`` / ``"less aligned"`` when the difference exceeds the
    half-width of the baseline's bootstrap interval, in the direction given by
    ``higher_is_better``; otherwise ``"within baseline CI"``. The half-width, not the
    interval's ends, is the yardstick because an interval need not be symmetric about its
    estimate. Without intervals (``n_bootstrap=0``, and always for ``ksg_mi`` and
    ``language_probe``) any non-zero difference counts. The intervals of two conditions are
    not paired, so this is a descriptive screen, not a test.

    Returns
    -------
    DataFrame
        ``view, condition, alpha, lang, measure, baseline, value, delta, half_width,
        higher_is_better, change``.
    """
    head = _headline(results)
    keys = ["view", "lang", "measure"]
    base = head[(head["condition"] == baseline) & (head["alpha"] == 0)][[*keys, "value", "ci_low", "ci_high"]]
    base = base.assign(half_width=(base["ci_high"] - base["ci_low"]) / 2).drop(columns=["ci_low", "ci_high"])
    base = base.rename(columns={"value": "baseline"})
    other = head[head["condition"] != baseline][["view", "condition", "alpha", "lang", "measure", "value", "higher_is_better"]]
    merged = other.merge(base, on=keys, how="inner", validate="many_to_one")
    merged["delta"] = merged["value"] - merged["baseline"]
    merged["change"] = [_change(d, hw, h) for d, hw, h in zip(merged["delta"], merged["half_width"], merged["higher_is_better"])]
    cols = ["view", "condition", "alpha", "lang", "measure", "baseline", "value", "delta", "half_width",
            "higher_is_better", "change"]  # fmt: skip
    return merged[cols].reset_index(drop=True)


def _change(delta, half_width, higher) -> str:
    import pandas as pd

    if pd.isna(higher) or not np.isfinite(delta):
        return "n/a"
    threshold = half_width if np.isfinite(half_width) else 0.0
    if abs(delta) <= threshold:
        return _CHANGE_NONE
    return _CHANGE_MORE if (delta > 0) == bool(higher) else _CHANGE_LESS


def estimator_disagreements(
    changes: pd.DataFrame, *, measures: Iterable[str] = ALIGNMENT_MEASURES
) -> pd.DataFrame:
    """The (view, condition, α, language) cells where the estimators disagree: at least one
    of ``measures`` says "more aligned" and another "less aligned" (:func:`measure_changes`).

    Returns
    -------
    DataFrame
        ``view, condition, alpha, lang, more_aligned, less_aligned, no_clear_change`` (the
        measure names, comma-separated), one row per disagreeing cell.
    """
    import pandas as pd

    measures = list(measures)
    keys = ["view", "condition", "alpha", "lang"]
    rows = []
    for key, group in changes[changes["measure"].isin(measures)].groupby(keys, sort=True):
        more = group.loc[group["change"] == _CHANGE_MORE, "measure"].tolist()
        less = group.loc[group["change"] == _CHANGE_LESS, "measure"].tolist()
        flat = group.loc[group["change"] == _CHANGE_NONE, "measure"].tolist()
        if more and less:
            rows.append({**dict(zip(keys, key)), "more_aligned": ", ".join(more), "less_aligned": ", ".join(less),
                         "no_clear_change": ", ".join(flat)})  # fmt: skip
    return pd.DataFrame(rows, columns=[*keys, "more_aligned", "less_aligned", "no_clear_change"])


def summarize_disagreements(changes: pd.DataFrame, *, measures: Iterable[str] = ALIGNMENT_MEASURES) -> list[str]:
    """Plain sentences, one per (view, condition, α): how many languages each measure calls
    more / less aligned than the baseline, and in how many languages the estimators disagree."""
    measures = list(measures)
    sub = changes[changes["measure"].isin(measures)]
    disagree = estimator_disagreements(changes, measures=measures)
    lines = []
    for (view, condition, alpha), group in sub.groupby(["view", "condition", "alpha"], sort=True):
        n_langs = group["lang"].nunique()
        counts = group[group["change"] != "n/a"].groupby("measure")["change"].value_counts().unstack(fill_value=0)
        ups = [m for m in measures if m in counts.index and counts.loc[m].get(_CHANGE_MORE, 0) > n_langs / 2]
        downs = [m for m in measures if m in counts.index and counts.loc[m].get(_CHANGE_LESS, 0) > n_langs / 2]
        flats = [m for m in measures if m in counts.index and m not in ups and m not in downs]
        missing = [m for m in measures if m in set(group["measure"]) and m not in counts.index]
        cell = disagree[(disagree["view"] == view) & (disagree["condition"] == condition) & (disagree["alpha"] == alpha)]
        what = f"{view}, {condition}" + (f" at α = {alpha:g}" if alpha else "")
        parts = [f"**{what}** vs plain ({n_langs} language{'s' if n_langs > 1 else ''}):"]
        parts.append(f"more aligned in most languages by {', '.join(ups) or 'no measure'};")
        parts.append(f"less aligned by {', '.join(downs) or 'no measure'};")
        if flats:
            parts.append(f"mixed or within the interval: {', '.join(flats)}.")
        if missing:
            parts.append(f"Not computed: {', '.join(missing)}.")
        if len(cell):
            parts.append(f"The estimators contradict each other in {len(cell)} of {n_langs} languages ({', '.join(cell['lang'])}).")
        else:
            parts.append("No language where one estimator says more aligned and another less.")
        lines.append(" ".join(parts))
    return lines
