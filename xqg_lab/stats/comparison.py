"""Comparing a treatment run with a baseline run per group (language) and measure: paired test,
Holm correction over the family, bootstrap interval, effect size and win/tie/loss in one tidy frame."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from xqg_lab.core.progress import tqdm
from xqg_lab.core.validation import check_frame
from xqg_lab.stats.bootstrap import paired_bootstrap_ci
from xqg_lab.stats.correction import holm
from xqg_lab.stats.effects import win_tie_loss
from xqg_lab.stats.paired import paired_test
from xqg_lab.stats.types import Alternative, Correction, PairedTest, _ZeroMethod


def _check_frame(frame: Any, name: str, by: str | None, measures: list[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected {name} as a per-query DataFrame, found {type(frame).__name__}")
    need = ["query_id"] + ([by] if by is not None else [])
    for col in need:
        if col not in frame.columns:
            hint = (
                f"; join it, e.g. {name}.merge(queries[['query_id', {by!r}]], on='query_id')"
                if col == by
                else ""
            )
            raise ValueError(f"{name} frame: expected a column {col!r}, found columns {list(frame.columns)}{hint}")
    missing = [m for m in measures if m not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} frame: expected measure columns {missing}, found columns {list(frame.columns)}; "
            f"compute them with per_query or drop them from measures"
        )
    for m in measures:
        if not pd.api.types.is_numeric_dtype(frame[m]) or pd.api.types.is_bool_dtype(frame[m]):
            raise TypeError(f"{name} frame: expected a numeric column {m!r}, found dtype {frame[m].dtype}")
    if len(frame) and pd.api.types.infer_dtype(frame["query_id"], skipna=False) != "string":
        raise TypeError(
            f"{name} frame: expected str query ids, found inferred type "
            f"{pd.api.types.infer_dtype(frame['query_id'], skipna=False)!r}; convert with "
            f"{name}['query_id'].astype(str)"
        )
    dup = frame["query_id"].duplicated()
    if dup.any():
        raise ValueError(
            f"{name} frame: expected each query_id once, found {int(dup.sum())} duplicates "
            f"(e.g. {frame.loc[dup, 'query_id'].iloc[0]!r}); one row per query"
        )


def check_measures(measures: Any) -> list[str]:
    """``measures`` (one name or a sequence) as a non-empty list of distinct str names."""
    if isinstance(measures, str):
        measures = [measures]
    names = [str(m) for m in measures]
    if not names:
        raise ValueError("expected at least one measure column, e.g. measures=['MRR@10', 'R@5'], found none")
    dup = sorted({m for m in names if names.count(m) > 1})
    if dup:
        raise ValueError(f"expected each measure once, found {dup} repeated; list each measure once")
    return names


def _aligned_frames(
    baseline: pd.DataFrame, treatment: pd.DataFrame, by: str | None, measures: list[str]
) -> tuple[pd.DataFrame, str]:
    """One frame: query_id, group column, measure columns suffixed ``_b`` / ``_t``; sorted by group, id."""
    _check_frame(baseline, "baseline", by, measures)
    _check_frame(treatment, "treatment", by, measures)
    if len(baseline) == 0:
        raise ValueError("baseline frame: expected at least one query, found none")
    ids_b = pd.Index(baseline["query_id"])
    ids_t = pd.Index(treatment["query_id"])
    only_b, only_t = ids_b.difference(ids_t), ids_t.difference(ids_b)
    if len(only_b) or len(only_t):
        raise ValueError(
            f"expected baseline and treatment to score the same queries, found {len(only_b) + len(only_t)} query "
            f"ids that differ: {len(only_b)} only in baseline (e.g. {list(only_b[:3])}), {len(only_t)} only in "
            f"treatment (e.g. {list(only_t[:3])}); evaluate both runs on the same qrels"
        )
    group_col = by if by is not None else "group"
    cols = ["query_id"] + ([by] if by is not None else []) + measures
    merged = baseline[cols].merge(treatment[cols], on="query_id", suffixes=("_b", "_t"), validate="one_to_one")
    if by is not None:
        gb, gt = merged[f"{by}_b"], merged[f"{by}_t"]
        if gb.isna().any():
            raise ValueError(
                f"baseline frame: expected a {by!r} value for every query, found {int(gb.isna().sum())} missing "
                f"(e.g. {merged.loc[gb.isna(), 'query_id'].iloc[0]!r})"
            )
        differ = gb != gt
        if differ.any():
            raise ValueError(
                f"expected the same {by!r} for each query in baseline and treatment, found {int(differ.sum())} "
                f"query ids that differ (e.g. {merged.loc[differ, 'query_id'].iloc[0]!r}: "
                f"{gb[differ].iloc[0]!r} vs {gt[differ].iloc[0]!r}); take {by!r} from one queries frame"
            )
        merged = merged.drop(columns=f"{by}_t").rename(columns={f"{by}_b": group_col})
    else:
        merged[group_col] = "all"
    for m in measures:
        for side, name in (("_b", "baseline"), ("_t", "treatment")):
            bad = ~np.isfinite(merged[m + side].to_numpy(dtype=np.float64))
            if bad.any():
                ids = merged.loc[bad, "query_id"].tolist()
                raise ValueError(
                    f"{name} frame: expected finite {m!r} scores, found NaN or inf for {len(ids)} queries "
                    f"({ids[:5]}{' ...' if len(ids) > 5 else ''}); decide what they score (per_query scores a "
                    f"missing query 0) or drop them from both frames"
                )
    return merged.sort_values([group_col, "query_id"], kind="stable").reset_index(drop=True), group_col


def win_tie_loss_by(
    baseline: pd.DataFrame,
    treatment: pd.DataFrame,
    *,
    measures: Sequence[str],
    by: str | None = "lang",
    tolerance: float = 0.0,
) -> pd.DataFrame:
    """Win/tie/loss counts of ``treatment`` against ``baseline`` per group (language) and measure.

    Frames are per-query (``query_id``, ``by``, measure columns), aligned by ``query_id``.
    Returns a frame with columns ``[by, "measure", "wins", "ties", "losses", "n"]`` (ints), one
    row per (group, measure), groups sorted, measures in the given order; ``by=None`` gives one
    group ``"all"`` in a column named ``"group"``. Ties: ``|treatment - baseline| <= tolerance``.
    """
    names = check_measures(measures)
    merged, group_col = _aligned_frames(baseline, treatment, by, names)
    rows = []
    for group, part in merged.groupby(group_col, sort=True):
        for m in names:
            wtl = win_tie_loss(part[m + "_b"].to_numpy(), part[m + "_t"].to_numpy(), tolerance=tolerance)
            rows.append({group_col: group, "measure": m, "wins": wtl.wins, "ties": wtl.ties,
                         "losses": wtl.losses, "n": wtl.n})
    return pd.DataFrame(rows, columns=[group_col, "measure", "wins", "ties", "losses", "n"])


COMPARE_COLUMNS = [
    "measure", "n", "baseline_mean", "treatment_mean", "diff", "rel_diff_pct", "statistic", "p_value",
    "p_adjusted", "significant", "effect_size", "wins", "ties", "losses", "ci_low", "ci_high",
    "test", "alternative", "correction", "level", "confidence", "family_size",
]


def compare(
    baseline: pd.DataFrame,
    treatment: pd.DataFrame,
    *,
    measures: Sequence[str],
    by: str | None = "lang",
    test: str = "t",
    level: float = 0.05,
    correction: str = "holm",
    alternative: str = "two-sided",
    zero_method: str | None = None,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    tolerance: float = 0.0,
    seed: int | None = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Compare a treatment run with a baseline run per group (language) and measure.

    Parameters
    ----------
    baseline, treatment : per-query frames with ``query_id`` (str, unique), the ``by`` column
        and the measure columns (floats, finite), e.g. :func:`xqg_lab.metrics.ranking.per_query`
        output with ``lang`` joined. Aligned by ``query_id``: both must hold the same ids (else
        ``ValueError`` giving how many differ) with the same ``by`` value.
    measures : measure columns to compare, e.g. ``["R@2kt", "R@5kt"]``.
    by : grouping column (default ``"lang"``); ``None`` compares all queries as one group ``"all"``.
    test : :class:`PairedTest` value (default ``"t"``, the paper's paired t-test).
    level : significance level in (0, 1); ``significant`` is ``p_adjusted < level``.
    correction : ``"holm"`` (default) or ``"none"``. **The Holm family is every (group, measure)
        row returned by this call**, so adding languages or measures makes each test stricter;
        comparisons made in separate calls (e.g. other systems) are separate families.
    alternative : :class:`Alternative` value; ``"greater"`` tests treatment > baseline.
    zero_method : Wilcoxon only (default ``"wilcox"``); giving it with another test is an error.
    confidence : level of the bootstrap interval of the mean difference (BCa, paired).
    n_resamples : resamples of the bootstrap interval and of the randomisation test.
    tolerance : win/tie/loss tie tolerance in score units (0 = exact equality).
    seed : seed used for every row (so a row's numbers do not depend on the others).
    progress : a coarse bar over the rows (each runs a bootstrap, and a permutation test with
        ``test="randomisation"``), through :func:`xqg_lab.core.progress.tqdm`.

    Returns
    -------
    Tidy DataFrame, one row per (group, measure), groups sorted, measures in the given order:
    ``by`` (or ``"group"``), ``measure``, ``n`` (queries), ``baseline_mean``, ``treatment_mean``,
    ``diff`` (treatment - baseline), ``rel_diff_pct`` (100 * diff / baseline_mean; NaN when the
    baseline mean is 0), ``statistic``, ``p_value`` (uncorrected), ``p_adjusted``, ``significant``
    (bool), ``effect_size`` (Cohen's d_z), ``wins``, ``ties``, ``losses``, ``ci_low``, ``ci_high``
    (bootstrap CI of the mean difference), and the constant columns ``test``, ``alternative``,
    ``correction``, ``level``, ``confidence``, ``family_size`` that describe the analysis.
    A group with fewer than 2 queries raises ``ValueError``.
    """
    kind = PairedTest.parse(test)
    corr = Correction.parse(correction)
    alt = Alternative.parse(alternative)
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"expected level (the significance level) in (0, 1), e.g. 0.05, found {level!r}")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"expected confidence in (0, 1), e.g. 0.95, found {confidence!r}")
    options: dict[str, Any] = {"alternative": alt.value}
    if kind is PairedTest.WILCOXON:
        options["zero_method"] = _ZeroMethod.parse("wilcox" if zero_method is None else zero_method).value
    elif zero_method is not None:
        raise ValueError(f"zero_method applies to test='wilcoxon' only, found test={kind.value!r}; drop it")
    if kind is PairedTest.RANDOMISATION:
        options.update(n_resamples=n_resamples, seed=seed)

    names = check_measures(measures)
    merged, group_col = _aligned_frames(baseline, treatment, by, names)
    sizes = merged.groupby(group_col, sort=True).size()
    small = sizes[sizes < 2]
    if len(small):
        raise ValueError(
            f"expected at least 2 queries per {group_col!r} group for a paired test, found "
            f"{ {str(k): int(v) for k, v in small.items()} }; drop or pool those groups"
        )

    rows = []
    bar = tqdm(total=len(sizes) * len(names), desc=f"paired {kind.value} tests + bootstrap", unit="row",
               disable=not progress)  # fmt: skip
    for group, part in merged.groupby(group_col, sort=True):
        ids = part["query_id"].to_numpy()
        for m in names:
            a = pd.Series(part[m + "_b"].to_numpy(dtype=np.float64), index=ids)
            b = pd.Series(part[m + "_t"].to_numpy(dtype=np.float64), index=ids)
            res = paired_test(a, b, test=kind.value, **options)
            ci = paired_bootstrap_ci(a, b, confidence=confidence, n_resamples=n_resamples, seed=seed)
            wtl = win_tie_loss(a, b, tolerance=tolerance)
            base_mean, treat_mean = float(a.mean()), float(b.mean())
            rows.append({
                group_col: group,
                "measure": m,
                "n": res.n,
                "baseline_mean": base_mean,
                "treatment_mean": treat_mean,
                "diff": treat_mean - base_mean,
                "rel_diff_pct": 100.0 * (treat_mean - base_mean) / base_mean if base_mean != 0 else math.nan,
                "statistic": res.statistic,
                "p_value": res.p_value,
                "effect_size": res.effect_size,
                "wins": wtl.wins,
                "ties": wtl.ties,
                "losses": wtl.losses,
                "ci_low": ci.low,
                "ci_high": ci.high,
            })
            bar.update(1)
    bar.close()
    out = pd.DataFrame(rows)
    p = out["p_value"].to_numpy(dtype=np.float64)
    out["p_adjusted"] = holm(p) if corr is Correction.HOLM else p.copy()
    out["significant"] = out["p_adjusted"] < level
    out["test"] = kind.value
    out["alternative"] = alt.value
    out["correction"] = corr.value
    out["level"] = float(level)
    out["confidence"] = float(confidence)
    out["family_size"] = len(out)
    return out[[group_col] + COMPARE_COLUMNS]



def stack_comparisons(comparisons: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`compare` outputs of several systems in one tidy frame with a leading ``system``
    column (each keeps its own Holm family, see ``family_size``)."""
    if not comparisons:
        raise ValueError("expected at least one comparison, found an empty mapping")
    return pd.concat(
        [frame.assign(system=name) for name, frame in comparisons.items()], ignore_index=True
    ).pipe(lambda f: f[["system", *[c for c in f.columns if c != "system"]]])


def comparison_group_column(comparison: pd.DataFrame, name: str) -> str:
    """The grouping column (e.g. ``lang``) of a :func:`compare` frame; refuses anything else,
    naming it ``name`` in the message."""
    check_frame(comparison, COMPARE_COLUMNS, what=f"{name} (the output of compare())", fix="pass compare()'s result")
    extra = [c for c in comparison.columns if c not in COMPARE_COLUMNS]
    if len(extra) != 1:
        raise ValueError(
            f"{name}: expected exactly one grouping column besides compare()'s columns, found {extra}; "
            f"pass compare()'s result unchanged (rows may be filtered)"
        )
    return extra[0]

