"""Paired parametric and rank tests: the paired t-test (the paper's) and Wilcoxon signed-rank,
and :func:`paired_test`, which runs any of the three tests by name."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from xqg_lab.stats.effects import _effect_size, _is_constant
from xqg_lab.stats.inputs import _all_zero_result, _paired_differences
from xqg_lab.stats.permutation import randomisation_test
from xqg_lab.stats.types import Alternative, PairedTest, TestResult, _ZeroMethod


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
    alt, a_arr, b_arr, d = _paired_differences(a, b, alternative)
    n = len(d)
    method = f"scipy.stats.ttest_rel, df = {n - 1}"
    if not d.any():
        return _all_zero_result(PairedTest.T, d, alt, method)
    mean = float(np.mean(d))
    sd_underflows = float(np.std(d, ddof=1)) == 0.0  # differences near the smallest floats, e.g. 5e-324
    if mean == 0.0 and sd_underflows:
        return _all_zero_result(PairedTest.T, d, alt, method)
    if _is_constant(d) or sd_underflows:
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
    zm = _ZeroMethod.parse(zero_method)
    alt, _, _, d = _paired_differences(a, b, alternative)
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
