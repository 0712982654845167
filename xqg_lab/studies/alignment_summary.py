"""The alignment study's report tables, from the tidy frame of
:func:`xqg_lab.studies.alignment.compare_conditions`: per-language values with intervals,
heatmap scores, the α curve, and where the estimators disagree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from xqg_lab.alignment import Measure
from xqg_lab.alignment.pairs import View
from xqg_lab.studies.alignment import Condition

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ALIGNMENT_MEASURES",
    "alpha_curve",
    "counts_notice",
    "disagreements_text",
    "estimator_disagreements",
    "heatmap_scores",
    "measure_changes",
    "measure_table",
    "summarize_disagreements",
]

ALIGNMENT_MEASURES = tuple(m.value for m in Measure if m is not Measure.UNIFORMITY_LOSS)
"""Measures that vote on "more / less aligned" in :func:`estimator_disagreements`: every
measure but ``uniformity_loss``, which describes how spread out the space is, not how close
the two languages are."""

_CHANGE_MORE, _CHANGE_LESS, _CHANGE_NONE = "more aligned", "less aligned", "within baseline CI"



def counts_notice(counts: pd.DataFrame, *, default: str = "") -> str:
    """A Markdown paragraph naming the (view, language) cells with too few pairs to measure
    anything (``counts`` from :func:`xqg_lab.alignment.pairs.pair_counts`); ``default`` when there are none."""
    small = counts[counts["note"] != ""]
    if small.empty:
        return default
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


def disagreements_text(changes: pd.DataFrame) -> str:
    """:func:`summarize_disagreements` as Markdown paragraphs, or a sentence saying there was
    nothing to compare (only the plain condition was run)."""
    lines = summarize_disagreements(changes)
    return "\n\n".join(lines) if lines else "Only the plain condition was run: nothing to compare."
