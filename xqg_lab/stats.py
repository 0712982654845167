"""Significance statistics over per-query scores, and tables that report them the way IR papers do.

The paper (Zhuang, Shou and Zuccon, SIGIR 2023, arXiv 2305.03950) marks improvements with a
paired t-test at p < 0.05. This module offers that test, two alternatives (Wilcoxon
signed-rank, paired randomisation), Holm correction over a family of comparisons, bootstrap
confidence intervals, win/tie/loss counts and significance-marked tables.

Conventions used everywhere in this module:

- Inputs to the paired routines are per-query score vectors ``a`` (baseline) and ``b``
  (treatment): either two ``pandas.Series`` indexed by ``query_id`` (aligned **by id**, sorted
  by id before computing) or two 1-D array-likes (aligned **by position**). Different id sets,
  different lengths, duplicated ids, NaN/inf scores and fewer than 2 queries are refused with
  ``ValueError``.
- Differences are ``d = b - a`` (treatment minus baseline): a positive statistic, ``mean_diff``
  or effect size means the treatment scores higher; ``alternative="greater"`` tests ``b > a``.
- ``effect_size`` is Cohen's d for paired data, d_z = mean(d) / sd(d) with ``ddof=1``, for every
  test (not a rank-based effect size for Wilcoxon).
- All differences zero: every test reports statistic 0 (Wilcoxon ``zsplit``: n(n+1)/4, as scipy),
  **p = 1**, effect size 0 — no evidence of a difference, and a valid input to Holm (scipy's
  t-test would give NaN; older scipy Wilcoxon raises).
- All differences equal and non-zero (sd = 0, up to a relative float spread of 1e-12): the t-test
  reports t = ±inf, effect size ±inf and p = 0 (or 1 for the one-sided alternative pointing the
  other way), the limit of the formula (scipy would warn about precision loss).

Heavy libraries (scipy.stats, statsmodels) are imported inside the functions that use them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from xqg_lab.core.validation import Choice

__all__ = [
    "PairedTest",
    "Alternative",
    "Correction",
    "CIMethod",
    "TestResult",
    "BootstrapCI",
    "WinTieLoss",
    "paired_t_test",
    "wilcoxon_test",
    "randomisation_test",
    "paired_test",
    "holm",
    "bootstrap_ci",
    "paired_bootstrap_ci",
    "win_tie_loss",
    "win_tie_loss_by",
    "compare",
    "stack_comparisons",
    "significance_caption",
    "significance_table",
    "to_markdown",
    "to_latex",
    "to_csv",
]


# --------------------------------------------------------------------------- closed choices


class PairedTest(Choice, label="test"):
    """Paired significance tests: ``"t"`` (paired t-test, the paper's choice), ``"wilcoxon"``
    (signed-rank) and ``"randomisation"`` (sign-flip permutation test of the mean difference)."""

    T = "t"
    WILCOXON = "wilcoxon"
    RANDOMISATION = "randomisation"


class Alternative(Choice, label="alternative"):
    """Alternative hypothesis about ``d = b - a``: ``"greater"`` means the treatment ``b`` scores higher."""

    TWO_SIDED = "two-sided"
    GREATER = "greater"
    LESS = "less"


class Correction(Choice, label="correction"):
    """Multiple-comparison correction applied by :func:`compare`: ``"holm"`` or ``"none"``."""

    HOLM = "holm"
    NONE = "none"


class CIMethod(Choice, label="method"):
    """Bootstrap interval methods of ``scipy.stats.bootstrap``: ``"BCa"`` (default), ``"percentile"``, ``"basic"``."""

    BCA = "BCa"
    PERCENTILE = "percentile"
    BASIC = "basic"


class _ZeroMethod(Choice, label="zero_method"):
    WILCOX = "wilcox"
    PRATT = "pratt"
    ZSPLIT = "zsplit"


_TEST_LABEL = {
    PairedTest.T: "paired t-test",
    PairedTest.WILCOXON: "Wilcoxon signed-rank test",
    PairedTest.RANDOMISATION: "paired randomisation (sign-flip) test",
}


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class TestResult:
    """Outcome of one paired test on ``d = b - a`` (treatment minus baseline).

    Attributes
    ----------
    test : ``"t"``, ``"wilcoxon"`` or ``"randomisation"`` (:class:`PairedTest` values).
    statistic : t (t-test); W as returned by scipy (two-sided: min(W+, W-), one-sided: W+)
        (Wilcoxon); mean(d) (randomisation).
    p_value : in [0, 1], uncorrected.
    n : number of paired queries (including zero differences).
    mean_diff : mean(b - a), in the units of the scores.
    effect_size : Cohen's d_z = mean(d) / sd(d, ddof=1); 0 when all d are 0, ±inf when all d are
        equal and non-zero.
    alternative : ``"two-sided"``, ``"greater"`` (b > a) or ``"less"``.
    method : how p was obtained (e.g. ``"exact: all 64 sign assignments"``).
    note : set when a convention replaced the library's answer (e.g. all differences zero).
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float
    n: int
    mean_diff: float
    effect_size: float
    alternative: str
    method: str
    note: str = ""


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap confidence interval ``[low, high]`` for ``statistic`` at level ``confidence``.

    ``estimate`` is the statistic on the original sample; ``n`` the sample size; ``method`` the
    scipy interval method; ``n_resamples`` the number of bootstrap resamples.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n_resamples: int
    n: int


@dataclass(frozen=True)
class WinTieLoss:
    """Counts of queries where ``b`` beats ``a`` (win), ties within the tolerance, or loses; ``n`` = total."""

    wins: int
    ties: int
    losses: int
    n: int


# --------------------------------------------------------------------------- input checks


def _finite_vector(values: Any, name: str, ids: np.ndarray | None) -> np.ndarray:
    """float64 copy of a 1-D numeric vector; NaN/inf refused, naming query ids (or positions)."""
    if isinstance(values, pd.DataFrame):
        raise TypeError(
            f"expected {name} as a 1-D vector of per-query scores, found a DataFrame; select one measure, "
            f"e.g. frame.set_index('query_id')['nDCG@10']"
        )
    if isinstance(values, pd.Series):
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise TypeError(f"expected numeric scores in {name}, found dtype {values.dtype}")
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ValueError(f"expected {name} as a 1-D vector of per-query scores, found shape {arr.shape}")
        if arr.dtype.kind == "O" and pd.api.types.infer_dtype(arr, skipna=True) in (
            "floating", "integer", "mixed-integer-float", "empty"
        ):
            arr = pd.Series(arr).to_numpy(dtype=np.float64, na_value=np.nan)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"expected numeric scores in {name}, found dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = [str(x) for x in ids[bad][:5]] if ids is not None else np.flatnonzero(bad)[:5].tolist()
        what = "query ids" if ids is not None else "positions"
        more = " ..." if bad.sum() > 5 else ""
        raise ValueError(
            f"expected finite scores in {name}, found NaN or inf for {int(bad.sum())} queries ({what} "
            f"{where}{more}); decide what such a query scores (per_query scores a missing query 0) or drop it "
            f"from both inputs"
        )
    return arr


def _paired_arrays(a: Any, b: Any, *, min_n: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Aligned float arrays (a, b) and the sorted ids (None for positional input)."""
    a_series, b_series = isinstance(a, pd.Series), isinstance(b, pd.Series)
    if a_series != b_series:
        raise TypeError(
            "expected a and b both as Series indexed by query_id (aligned by id) or both as arrays "
            f"(aligned by position), found {type(a).__name__} and {type(b).__name__}; convert one of them"
        )
    if a_series:
        for name, s in (("a", a), ("b", b)):
            if s.index.has_duplicates:
                dup = s.index[s.index.duplicated()].unique()
                raise ValueError(
                    f"expected each query_id once in {name}, found {len(dup)} duplicated ids "
                    f"(e.g. {[str(x) for x in dup[:5]]}); aggregate or deduplicate first"
                )
        only_a = a.index.difference(b.index)
        only_b = b.index.difference(a.index)
        if len(only_a) or len(only_b):
            raise ValueError(
                f"expected a and b to score the same queries, found {len(only_a) + len(only_b)} query ids that "
                f"differ: {len(only_a)} only in a (e.g. {[str(x) for x in only_a[:3]]}), {len(only_b)} only in b "
                f"(e.g. {[str(x) for x in only_b[:3]]}); score every query in both runs or restrict both to "
                f"a.index.intersection(b.index)"
            )
        a = a.sort_index()
        b = b.reindex(a.index)
        ids = a.index.to_numpy()
        a_arr = _finite_vector(a, "a", ids)
        b_arr = _finite_vector(b, "b", ids)
    else:
        ids = None
        a_arr = _finite_vector(a, "a", None)
        b_arr = _finite_vector(b, "b", None)
        if len(a_arr) != len(b_arr):
            raise ValueError(
                f"expected a and b of the same length (one score per query, same order), found {len(a_arr)} and "
                f"{len(b_arr)} ({abs(len(a_arr) - len(b_arr))} queries differ); pass Series indexed by query_id "
                f"to align by id"
            )
    if len(a_arr) < min_n:
        raise ValueError(
            f"expected at least {min_n} paired queries, found {len(a_arr)}; a paired test or interval needs "
            f"n >= {min_n} (pool small groups or drop them)"
        )
    return a_arr, b_arr, ids


def _is_constant(d: np.ndarray) -> bool:
    """All differences equal up to float rounding (relative spread <= 1e-12)."""
    return float(np.ptp(d)) <= 1e-12 * float(np.max(np.abs(d)))


def _effect_size(d: np.ndarray) -> float:
    mean = float(np.mean(d))
    sd = float(np.std(d, ddof=1))
    if sd == 0.0 or _is_constant(d):  # sd underflows to 0 for differences near the smallest floats
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


def _rng_kwargs(func: Callable, seed: int | None) -> dict:
    """scipy >= 1.15 takes ``rng``; older releases ``random_state``."""
    gen = np.random.default_rng(seed)
    params = inspect.signature(func).parameters
    return {"rng": gen} if "rng" in params else {"random_state": gen}


def _batch(n: int) -> int:
    # keep resample matrices near 2**22 floats (32 MiB)
    return max(1, (1 << 22) // max(n, 1))


def _all_zero_result(test: PairedTest, d: np.ndarray, alternative: Alternative, method: str, statistic: float = 0.0):
    return TestResult(
        test=test.value,
        statistic=statistic,
        p_value=1.0,
        n=len(d),
        mean_diff=0.0,
        effect_size=0.0,
        alternative=alternative.value,
        method=method,
        note="all differences are zero: p = 1 by convention (no evidence of a difference)",
    )


# --------------------------------------------------------------------------- paired tests


def paired_t_test(a: Any, b: Any, *, alternative: str = "two-sided") -> TestResult:
    """Paired t-test of mean(b - a) = 0 (``scipy.stats.ttest_rel(b, a)``), the paper's test.

    Parameters
    ----------
    a, b : per-query scores of the baseline and the treatment: two Series indexed by ``query_id``
        (aligned by id) or two 1-D arrays of equal length (aligned by position); n >= 2, finite.
    alternative : ``"two-sided"``, ``"greater"`` (b > a) or ``"less"``.

    Returns
    -------
    :class:`TestResult` with t = mean(d) / (sd(d) / sqrt(n)) on n - 1 degrees of freedom.
    All-zero differences give t = 0, p = 1; constant non-zero differences t = ±inf (see module doc).
    """
    alt = Alternative.parse(alternative)
    a_arr, b_arr, _ = _paired_arrays(a, b)
    d = b_arr - a_arr
    n = len(d)
    method = f"scipy.stats.ttest_rel, df = {n - 1}"
    if not d.any():
        return _all_zero_result(PairedTest.T, d, alt, method)
    mean = float(np.mean(d))
    if _is_constant(d):
        stat = math.copysign(math.inf, mean)
        if alt is Alternative.TWO_SIDED:
            p = 0.0
        else:
            p = 0.0 if (alt is Alternative.GREATER) == (mean > 0) else 1.0
        return TestResult(
            PairedTest.T.value, stat, p, n, mean, _effect_size(d), alt.value, method,
            note="all differences equal and non-zero (sd = 0 up to rounding): t = ±inf",
        )
    from scipy import stats

    res = stats.ttest_rel(b_arr, a_arr, alternative=alt.value)
    return TestResult(
        PairedTest.T.value, float(res.statistic), float(res.pvalue), n, mean, _effect_size(d), alt.value, method
    )


def wilcoxon_test(a: Any, b: Any, *, alternative: str = "two-sided", zero_method: str = "wilcox") -> TestResult:
    """Wilcoxon signed-rank test on d = b - a (``scipy.stats.wilcoxon(d, ...)``).

    Parameters
    ----------
    a, b : per-query scores, as for :func:`paired_t_test`.
    alternative : ``"two-sided"``, ``"greater"`` (b > a) or ``"less"``.
    zero_method : how zero differences (frequent with R@k) are treated: ``"wilcox"`` (default:
        drop them, Wilcoxon's original rule, as R's ``wilcox.test``), ``"pratt"`` (rank them, then
        drop their ranks) or ``"zsplit"`` (split their ranks between the signs).

    Returns
    -------
    :class:`TestResult`; ``statistic`` is scipy's W (two-sided: min(W+, W-); one-sided: W+).
    p uses scipy's ``method="auto"`` and no continuity correction; in scipy 1.17 that is the exact
    null distribution for n <= 50 without ties or zeros, an exact permutation for n <= 13 with
    ties or zeros, and the tie-corrected normal approximation otherwise. All-zero differences give p = 1 without
    calling scipy (older scipy raises there).
    """
    alt = Alternative.parse(alternative)
    zm = _ZeroMethod.parse(zero_method)
    a_arr, b_arr, _ = _paired_arrays(a, b)
    d = b_arr - a_arr
    n = len(d)
    method = f"scipy.stats.wilcoxon, zero_method={zm.value!r}, method='auto', no continuity correction"
    if not d.any():
        stat = n * (n + 1) / 4 if zm is _ZeroMethod.ZSPLIT else 0.0
        return _all_zero_result(PairedTest.WILCOXON, d, alt, method, statistic=stat)
    from scipy import stats

    res = stats.wilcoxon(d, zero_method=zm.value, alternative=alt.value, method="auto")
    return TestResult(
        PairedTest.WILCOXON.value, float(res.statistic), float(res.pvalue), n, float(np.mean(d)),
        _effect_size(d), alt.value, method,
    )


def randomisation_test(
    a: Any, b: Any, *, alternative: str = "two-sided", n_resamples: int = 9999, seed: int | None = 0
) -> TestResult:
    """Paired randomisation test: random sign flips of d = b - a, statistic mean(d).

    Under H0 (a and b exchangeable within each query) each difference is equally likely to have
    either sign. Computed with ``scipy.stats.permutation_test((d,), mean, permutation_type="samples")``.

    Parameters
    ----------
    a, b : per-query scores, as for :func:`paired_t_test`.
    alternative : ``"two-sided"``, ``"greater"`` (b > a) or ``"less"``; two-sided p is
        2 * min(one-sided p), capped at 1 (equal to P(|T| >= |t|) for the symmetric exact null).
    n_resamples : number of random sign assignments. When ``2**n <= n_resamples`` all ``2**n``
        assignments are enumerated and p is exact; otherwise p = (k + 1) / (n_resamples + 1)
        with k the number of resampled statistics at least as extreme (never 0).
    seed : seed for ``numpy.random.default_rng``; fixed by default so results are reproducible.

    Returns
    -------
    :class:`TestResult` with ``statistic`` = ``mean_diff`` = mean(d).
    """
    alt = Alternative.parse(alternative)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"expected n_resamples as an int >= 1, found {n_resamples!r}")
    a_arr, b_arr, _ = _paired_arrays(a, b)
    d = b_arr - a_arr
    n = len(d)
    exact = n < 63 and 2**n <= n_resamples
    method = (
        f"exact: all {2**n} sign assignments"
        if exact
        else f"Monte Carlo: {n_resamples} random sign assignments (seed={seed}), p = (k + 1) / (n_resamples + 1)"
    )
    if not d.any():
        return _all_zero_result(PairedTest.RANDOMISATION, d, alt, method)
    from scipy import stats

    def mean_stat(x, axis=-1):
        return np.mean(x, axis=axis)

    res = stats.permutation_test(
        (d,),
        mean_stat,
        permutation_type="samples",
        vectorized=True,
        n_resamples=int(n_resamples),
        batch=_batch(n),
        alternative=alt.value,
        **_rng_kwargs(stats.permutation_test, seed),
    )
    return TestResult(
        PairedTest.RANDOMISATION.value, float(res.statistic), float(res.pvalue), n, float(np.mean(d)),
        _effect_size(d), alt.value, method,
    )


_TESTS: dict[PairedTest, Callable[..., TestResult]] = {
    PairedTest.T: paired_t_test,
    PairedTest.WILCOXON: wilcoxon_test,
    PairedTest.RANDOMISATION: randomisation_test,
}


def paired_test(a: Any, b: Any, *, test: str = "t", **options: Any) -> TestResult:
    """Run the paired test named by ``test`` (a :class:`PairedTest` value) on d = b - a.

    ``options`` are passed to that test's function: ``alternative`` for all;
    ``zero_method`` for :func:`wilcoxon_test`; ``n_resamples`` and ``seed`` for
    :func:`randomisation_test`. An option the chosen test does not take raises ``TypeError``.
    """
    kind = PairedTest.parse(test)
    func = _TESTS[kind]
    allowed = [p for p in inspect.signature(func).parameters if p not in ("a", "b")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"test {kind.value!r} takes options {allowed}, found unexpected {unknown}")
    return func(a, b, **options)


# --------------------------------------------------------------------------- multiple comparisons


def holm(p_values: Any) -> np.ndarray:
    """Holm step-down adjusted p-values (``statsmodels.stats.multitest.multipletests(method="holm")``).

    Parameters
    ----------
    p_values : 1-D array-like of p-values in [0, 1], the whole family of comparisons.

    Returns
    -------
    float64 array, same order and length: with p sorted ascending, p_adj(i) =
    max_{j <= i} min(1, (m - j + 1) p(j)). Reject H_i at level alpha when p_adj_i < alpha;
    this controls the family-wise error rate. An empty input gives an empty array.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"expected a 1-D vector of p-values, found shape {p.shape}")
    if len(p) == 0:
        return p.copy()
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        bad = np.flatnonzero(~(np.isfinite(p) & (p >= 0) & (p <= 1)))
        raise ValueError(
            f"expected p-values in [0, 1], found {len(bad)} outside it or NaN (positions {bad[:5].tolist()}); "
            f"fix the tests that produced them"
        )
    from statsmodels.stats.multitest import multipletests

    return np.asarray(multipletests(p, method="holm")[1], dtype=np.float64)


# --------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    values: Any,
    *,
    statistic: Callable[..., Any] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    method: str = "BCa",
    seed: int | None = 0,
) -> BootstrapCI:
    """Bootstrap confidence interval of ``statistic(values)`` (``scipy.stats.bootstrap``).

    Parameters
    ----------
    values : 1-D array-like or Series of finite floats, n >= 2 (e.g. per-query scores, or
        paired differences — see :func:`paired_bootstrap_ci`).
    statistic : callable on a sample; vectorised when it takes ``axis`` (``np.mean``, ``np.median``).
    confidence : level in (0, 1), e.g. 0.95.
    n_resamples : bootstrap resamples (queries drawn with replacement).
    method : ``"BCa"`` (default: bias-corrected and accelerated, second-order accurate and better
        for the skewed, bounded distributions of IR measures), ``"percentile"`` or ``"basic"``.
    seed : seed for ``numpy.random.default_rng``.

    Returns
    -------
    :class:`BootstrapCI`. Constant data give the degenerate interval [estimate, estimate]
    (scipy's BCa would return NaN). Other degenerate bootstrap distributions can still make
    BCa undefined (NaN, with scipy's DegenerateDataWarning); use ``method="percentile"`` then.
    """
    ci_method = CIMethod.parse(method)
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"expected confidence in (0, 1), e.g. 0.95, found {confidence!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"expected n_resamples as an int >= 1, found {n_resamples!r}")
    ids = values.index.to_numpy() if isinstance(values, pd.Series) else None
    x = _finite_vector(values, "values", ids)
    if len(x) < 2:
        raise ValueError(f"expected at least 2 values for a bootstrap interval, found {len(x)}")
    estimate = float(statistic(x))
    if np.ptp(x) == 0:
        return BootstrapCI(estimate, estimate, estimate, float(confidence), ci_method.value, int(n_resamples), len(x))
    from scipy import stats

    res = stats.bootstrap(
        (x,),
        statistic,
        n_resamples=int(n_resamples),
        batch=_batch(len(x)),
        confidence_level=float(confidence),
        method=ci_method.value,
        **_rng_kwargs(stats.bootstrap, seed),
    )
    ci = res.confidence_interval
    return BootstrapCI(
        estimate, float(ci.low), float(ci.high), float(confidence), ci_method.value, int(n_resamples), len(x)
    )


def paired_bootstrap_ci(
    a: Any,
    b: Any,
    *,
    statistic: Callable[..., Any] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    method: str = "BCa",
    seed: int | None = 0,
) -> BootstrapCI:
    """Bootstrap interval of ``statistic(b - a)`` over queries (default: the mean difference).

    ``a`` and ``b`` are aligned as in :func:`paired_t_test`; queries are resampled as pairs,
    so this is the paired bootstrap. Other options as in :func:`bootstrap_ci`.
    """
    a_arr, b_arr, _ = _paired_arrays(a, b)
    return bootstrap_ci(
        b_arr - a_arr, statistic=statistic, confidence=confidence, n_resamples=n_resamples, method=method, seed=seed
    )


# --------------------------------------------------------------------------- win / tie / loss


def win_tie_loss(a: Any, b: Any, *, tolerance: float = 0.0) -> WinTieLoss:
    """Count queries where ``b`` wins (b - a > tolerance), ties (|b - a| <= tolerance) or loses.

    ``a``, ``b`` aligned as in :func:`paired_t_test` (n >= 1 here). ``tolerance`` >= 0 is in
    score units; the default 0 counts only exact equality as a tie.
    """
    if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and tolerance >= 0):
        raise ValueError(f"expected tolerance as a float >= 0 (score units), found {tolerance!r}")
    a_arr, b_arr, _ = _paired_arrays(a, b, min_n=1)
    d = b_arr - a_arr
    wins = int((d > tolerance).sum())
    losses = int((d < -tolerance).sum())
    return WinTieLoss(wins, len(d) - wins - losses, losses, len(d))


# --------------------------------------------------------------------------- frames


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


def _measure_list(measures: Any) -> list[str]:
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
    names = _measure_list(measures)
    merged, group_col = _aligned_frames(baseline, treatment, by, names)
    rows = []
    for group, part in merged.groupby(group_col, sort=True):
        for m in names:
            wtl = win_tie_loss(part[m + "_b"].to_numpy(), part[m + "_t"].to_numpy(), tolerance=tolerance)
            rows.append({group_col: group, "measure": m, "wins": wtl.wins, "ties": wtl.ties,
                         "losses": wtl.losses, "n": wtl.n})
    return pd.DataFrame(rows, columns=[group_col, "measure", "wins", "ties", "losses", "n"])


_COMPARE_COLUMNS = [
    "measure", "n", "baseline_mean", "treatment_mean", "diff", "rel_diff_pct", "statistic", "p_value",
    "p_adjusted", "significant", "effect_size", "wins", "ties", "losses", "ci_low", "ci_high",
    "test", "alternative", "correction", "alpha", "confidence", "family_size",
]


def compare(
    baseline: pd.DataFrame,
    treatment: pd.DataFrame,
    *,
    measures: Sequence[str],
    by: str | None = "lang",
    test: str = "t",
    alpha: float = 0.05,
    correction: str = "holm",
    alternative: str = "two-sided",
    zero_method: str | None = None,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    tolerance: float = 0.0,
    seed: int | None = 0,
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
    alpha : significance level in (0, 1); ``significant`` is ``p_adjusted < alpha``.
    correction : ``"holm"`` (default) or ``"none"``. **The Holm family is every (group, measure)
        row returned by this call**, so adding languages or measures makes each test stricter;
        comparisons made in separate calls (e.g. other systems) are separate families.
    alternative : :class:`Alternative` value; ``"greater"`` tests treatment > baseline.
    zero_method : Wilcoxon only (default ``"wilcox"``); giving it with another test is an error.
    confidence : level of the bootstrap interval of the mean difference (BCa, paired).
    n_resamples : resamples of the bootstrap interval and of the randomisation test.
    tolerance : win/tie/loss tie tolerance in score units (0 = exact equality).
    seed : seed used for every row (so a row's numbers do not depend on the others).

    Returns
    -------
    Tidy DataFrame, one row per (group, measure), groups sorted, measures in the given order:
    ``by`` (or ``"group"``), ``measure``, ``n`` (queries), ``baseline_mean``, ``treatment_mean``,
    ``diff`` (treatment - baseline), ``rel_diff_pct`` (100 * diff / baseline_mean; NaN when the
    baseline mean is 0), ``statistic``, ``p_value`` (uncorrected), ``p_adjusted``, ``significant``
    (bool), ``effect_size`` (Cohen's d_z), ``wins``, ``ties``, ``losses``, ``ci_low``, ``ci_high``
    (bootstrap CI of the mean difference), and the constant columns ``test``, ``alternative``,
    ``correction``, ``alpha``, ``confidence``, ``family_size`` that describe the analysis.
    A group with fewer than 2 queries raises ``ValueError``.
    """
    kind = PairedTest.parse(test)
    corr = Correction.parse(correction)
    alt = Alternative.parse(alternative)
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"expected alpha in (0, 1), e.g. 0.05, found {alpha!r}")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise ValueError(f"expected confidence in (0, 1), e.g. 0.95, found {confidence!r}")
    options: dict[str, Any] = {"alternative": alt.value}
    if kind is PairedTest.WILCOXON:
        options["zero_method"] = _ZeroMethod.parse("wilcox" if zero_method is None else zero_method).value
    elif zero_method is not None:
        raise ValueError(f"zero_method applies to test='wilcoxon' only, found test={kind.value!r}; drop it")
    if kind is PairedTest.RANDOMISATION:
        options.update(n_resamples=n_resamples, seed=seed)

    names = _measure_list(measures)
    merged, group_col = _aligned_frames(baseline, treatment, by, names)
    sizes = merged.groupby(group_col, sort=True).size()
    small = sizes[sizes < 2]
    if len(small):
        raise ValueError(
            f"expected at least 2 queries per {group_col!r} group for a paired test, found "
            f"{ {str(k): int(v) for k, v in small.items()} }; drop or pool those groups"
        )

    rows = []
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
    out = pd.DataFrame(rows)
    p = out["p_value"].to_numpy(dtype=np.float64)
    out["p_adjusted"] = holm(p) if corr is Correction.HOLM else p.copy()
    out["significant"] = out["p_adjusted"] < alpha
    out["test"] = kind.value
    out["alternative"] = alt.value
    out["correction"] = corr.value
    out["alpha"] = float(alpha)
    out["confidence"] = float(confidence)
    out["family_size"] = len(out)
    return out[[group_col] + _COMPARE_COLUMNS]


# --------------------------------------------------------------------------- tables


def stack_comparisons(comparisons: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`compare` outputs of several systems in one tidy frame with a leading ``system``
    column (each keeps its own Holm family, see ``family_size``)."""
    if not comparisons:
        raise ValueError("expected at least one comparison, found an empty mapping")
    return pd.concat(
        [frame.assign(system=name) for name, frame in comparisons.items()], ignore_index=True
    ).pipe(lambda f: f[["system", *[c for c in f.columns if c != "system"]]])


def _group_column(comparison: pd.DataFrame, name: str) -> str:
    if not isinstance(comparison, pd.DataFrame):
        raise TypeError(f"expected {name} as the DataFrame returned by compare(), found {type(comparison).__name__}")
    missing = [c for c in _COMPARE_COLUMNS if c not in comparison.columns]
    if missing:
        raise ValueError(
            f"{name}: expected the columns of compare() output, missing {missing}; pass compare()'s result"
        )
    extra = [c for c in comparison.columns if c not in _COMPARE_COLUMNS]
    if len(extra) != 1:
        raise ValueError(
            f"{name}: expected exactly one grouping column besides compare()'s columns, found {extra}; "
            f"pass compare()'s result unchanged (rows may be filtered)"
        )
    return extra[0]


def _constant(comparisons: Mapping[str, pd.DataFrame], column: str) -> Any:
    values = {v for frame in comparisons.values() for v in frame[column].unique().tolist()}
    if len(values) != 1:
        raise ValueError(
            f"expected one {column!r} across the comparisons of a table, found {sorted(map(str, values))}; "
            f"make separate tables"
        )
    return values.pop()


def _as_mapping(comparison: Any, treatment_name: str | None) -> dict[str, pd.DataFrame]:
    if isinstance(comparison, pd.DataFrame):
        return {treatment_name if treatment_name is not None else "treatment": comparison}
    if isinstance(comparison, Mapping):
        if treatment_name is not None:
            raise ValueError("treatment_name applies to a single comparison; with a mapping the keys name the systems")
        if not comparison:
            raise ValueError("expected at least one comparison, found an empty mapping")
        return {str(k): v for k, v in comparison.items()}
    raise TypeError(
        f"expected compare() output or a mapping {{system name: compare() output}}, found {type(comparison).__name__}"
    )


def significance_caption(
    comparison: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    marker: str = "†",
    arrows: bool = False,
    baseline_name: str = "baseline",
) -> str:
    """Legend for a significance table: marker meaning, test, sidedness, correction and its family, alpha.

    ``comparison`` is :func:`compare` output, or a mapping of system name to such outputs that
    share the test, alternative, correction and alpha (each with its own Holm family).
    """
    systems = _as_mapping(comparison, None)
    group_col = [_group_column(frame, f"comparison {name!r}") for name, frame in systems.items()][0]
    test = _constant(systems, "test")
    alternative = _constant(systems, "alternative")
    correction = _constant(systems, "correction")
    alpha = _constant(systems, "alpha")
    test_label = _TEST_LABEL[PairedTest(test)]
    sizes = sorted({int(f["family_size"].iloc[0]) for f in systems.values() if len(f)})
    if correction == Correction.HOLM.value:
        size = "/".join(str(s) for s in sizes)
        if len(systems) > 1:
            corr_text = (
                f"Holm-corrected within each system separately, over its {size} comparisons ({group_col} × "
                f"measure); the {len(systems)} systems ({', '.join(systems)}) are not corrected jointly"
            )
        else:
            corr_text = f"Holm-corrected over the {size} comparisons ({group_col} × measure) of the family"
    else:
        corr_text = "not corrected for multiple comparisons"
    text = (
        f"{marker} marks a significant difference from {baseline_name} ({test_label}, {alternative}, "
        f"{corr_text}, p < {alpha:g})."
    )
    if arrows:
        text += " ↑/↓: significantly higher/lower than " + baseline_name + "."
    return text


def significance_table(
    comparison: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    measures: Sequence[str] | None = None,
    baseline_name: str = "baseline",
    treatment_name: str | None = None,
    digits: int = 3,
    percent: bool = False,
    marker: str = "†",
    arrows: bool = False,
    show_baseline: bool = True,
) -> pd.DataFrame:
    """Formatted results table with IR-paper significance marks.

    Parameters
    ----------
    comparison : :func:`compare` output, or a mapping ``{system name: compare() output}`` for
        several systems against the same baseline (same groups, measures, baseline means and
        analysis settings; marks are always against the baseline).
    measures : measures to show, in order (default: all in the comparison, in their order).
    baseline_name, treatment_name : column labels (``treatment_name`` only for a single frame;
        default ``"treatment"``).
    digits : decimals shown; ``percent=True`` multiplies values by 100 first.
    marker : appended to a treatment value whose difference is significant (``significant``
        column, i.e. p_adjusted < alpha), e.g. ``"0.412†"``.
    arrows : also append ``"↑"`` / ``"↓"`` giving the direction of a significant difference.
    show_baseline : include the baseline columns.

    Returns
    -------
    DataFrame of str: index = groups (e.g. languages, name = grouping column), columns =
    MultiIndex (measure, system). ``table.attrs["caption"]`` holds the legend
    (:func:`significance_caption`), used by :func:`to_markdown` and :func:`to_latex`.
    Letter superscripts for all-pairs comparisons among several systems are not produced.
    """
    systems = _as_mapping(comparison, treatment_name)
    group_cols = {name: _group_column(frame, f"comparison {name!r}") for name, frame in systems.items()}
    if len(set(group_cols.values())) != 1:
        raise ValueError(f"expected the same grouping column in every comparison, found {group_cols}")
    group_col = next(iter(group_cols.values()))
    if baseline_name in systems:
        raise ValueError(f"system name {baseline_name!r} equals baseline_name; rename one of them")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"expected digits as an int >= 0, found {digits!r}")
    first = next(iter(systems.values()))
    if measures is None:
        names = list(dict.fromkeys(first["measure"]))
    else:
        names = _measure_list(measures)
    groups = list(dict.fromkeys(first[group_col]))
    keys = pd.MultiIndex.from_product([groups, names])

    indexed: dict[str, pd.DataFrame] = {}
    for name, frame in systems.items():
        f = frame.set_index([group_col, "measure"])
        if f.index.has_duplicates:
            raise ValueError(f"comparison {name!r}: expected one row per ({group_col}, measure), found duplicates")
        missing = keys.difference(f.index)
        if len(missing):
            raise ValueError(
                f"comparison {name!r}: expected rows for every ({group_col}, measure) shown, missing "
                f"{list(missing[:5])}; pass the same groups and measures for every system"
            )
        indexed[name] = f.loc[keys]
    base = next(iter(indexed.values()))["baseline_mean"].to_numpy()
    for name, f in indexed.items():
        if not np.allclose(f["baseline_mean"].to_numpy(), base, rtol=1e-12, atol=1e-12):
            raise ValueError(f"comparison {name!r} has different baseline means; systems must share the baseline")

    scale = 100.0 if percent else 1.0

    def fmt(value: float) -> str:
        return f"{value * scale:.{digits}f}"

    columns = []
    data: dict[tuple[str, str], list[str]] = {}
    for m in names:
        if show_baseline:
            col = (m, baseline_name)
            columns.append(col)
            data[col] = [fmt(v) for v in indexed[next(iter(indexed))].loc[[(g, m) for g in groups], "baseline_mean"]]
        for name, f in indexed.items():
            col = (m, name)
            columns.append(col)
            cells = []
            for g in groups:
                row = f.loc[(g, m)]
                cell = fmt(float(row["treatment_mean"]))
                if bool(row["significant"]):
                    cell += marker
                    if arrows:
                        cell += "↑" if row["diff"] > 0 else "↓"
                cells.append(cell)
            data[col] = cells
    table = pd.DataFrame(data, index=pd.Index(groups, name=group_col), columns=pd.MultiIndex.from_tuples(
        columns, names=["measure", "system"]))
    table.attrs["caption"] = significance_caption(
        systems, marker=marker, arrows=arrows, baseline_name=baseline_name
    )
    return table


def _label(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def to_markdown(table: pd.DataFrame, *, caption: str | None = None) -> str:
    """GitHub/pandoc pipe table of ``table`` (index first; MultiIndex labels joined with spaces).

    ``caption`` defaults to ``table.attrs["caption"]`` (set by :func:`significance_table`) and is
    written after the table as a pandoc ``Table: ...`` line; pass ``""`` for none. Written by
    hand (``DataFrame.to_markdown`` needs the optional ``tabulate`` package).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, found {type(table).__name__}")

    def cell(value: Any) -> str:
        return _label(value).replace("|", "\\|").replace("\n", " ")

    index_name = _label(tuple(n for n in table.index.names if n is not None) or None)
    header = [cell(index_name)] + [cell(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * len(table.columns)) + "|"]
    for idx, row in zip(table.index, table.itertuples(index=False), strict=True):
        lines.append("| " + " | ".join([cell(idx)] + [cell(v) for v in row]) + " |")
    text = "\n".join(lines) + "\n"
    caption = table.attrs.get("caption", "") if caption is None else caption
    if caption:
        text += f"\nTable: {caption}\n"
    return text


_LATEX_SYMBOLS = {
    "†": r"\textsuperscript{\dag}",
    "‡": r"\textsuperscript{\ddag}",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "×": r"$\times$",
    "<": r"$<$",  # OT1-encoded fonts print "<" as an inverted exclamation mark in text mode
    ">": r"$>$",
}


def _latex_symbols(text: str) -> str:
    for symbol, latex in _LATEX_SYMBOLS.items():
        text = text.replace(symbol, latex)
    return text


def to_latex(table: pd.DataFrame, *, caption: str | None = None, label: str | None = None) -> str:
    """LaTeX ``tabular`` (booktabs rules) of ``table`` via ``pandas.io.formats.style.Styler.to_latex``.

    Cells and labels are LaTeX-escaped; the marks †, ‡, ↑, ↓ become ``\\textsuperscript{\\dag}``,
    ``\\textsuperscript{\\ddag}``, ``$\\uparrow$``, ``$\\downarrow$``. MultiIndex columns become
    ``\\multicolumn`` headers. With a caption (default ``table.attrs["caption"]``; ``""`` for none)
    or a label the tabular is wrapped in a ``table`` float. Needs jinja2 (a pandas Styler
    dependency) and ``\\usepackage{booktabs}`` in the document.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, found {type(table).__name__}")
    caption = table.attrs.get("caption", "") if caption is None else caption
    styler = (
        table.style.format(lambda v: _latex_symbols(str(v)), escape="latex")
        .format_index(lambda v: _latex_symbols(str(v)), escape="latex", axis=0)
        .format_index(lambda v: _latex_symbols(str(v)), escape="latex", axis=1)
    )
    n_index = table.index.nlevels
    return styler.to_latex(
        column_format="l" * n_index + "r" * table.shape[1],
        hrules=True,
        caption=_latex_symbols(_escape_latex(caption)) if caption else None,
        label=label,
        position_float="centering" if (caption or label) else None,
        multicol_align="c",
    )


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def _escape_latex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_csv(table: pd.DataFrame) -> str:
    """CSV text of ``table`` including its index (``DataFrame.to_csv``); write it where you need it."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, found {type(table).__name__}")
    return table.to_csv()
