"""The paired randomisation (sign-flip permutation) test."""

from __future__ import annotations

from typing import Any

import numpy as np

from xqg_lab.core.progress import tqdm
from xqg_lab.stats.effects import _effect_size
from xqg_lab.stats.inputs import _all_zero_result, _batch, _counted, _paired_differences, _rng_kwargs
from xqg_lab.stats.types import PairedTest, TestResult


def randomisation_test(
    a: Any, b: Any, *, alternative: str = "two-sided", n_resamples: int = 9999, seed: int | None = 0,
    progress: bool = False,
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
    progress : a bar over the sign assignments (:func:`xqg_lab.core.progress.tqdm`).

    Returns
    -------
    :class:`TestResult` with ``statistic`` = ``mean_diff`` = mean(d).
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"expected n_resamples as an int >= 1, found {n_resamples!r}")
    alt, _, _, d = _paired_differences(a, b, alternative)
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

    bar = tqdm(total=2**n if exact else int(n_resamples), desc="sign-flip null", unit="resample",
               disable=not progress)  # fmt: skip
    res = stats.permutation_test(
        (d,),
        _counted(mean_stat, n, bar) if progress else mean_stat,
        permutation_type="samples",
        vectorized=True,
        n_resamples=int(n_resamples),
        batch=_batch(n),
        alternative=alt.value,
        **_rng_kwargs(stats.permutation_test, seed),
    )
    bar.close()
    return TestResult(
        PairedTest.RANDOMISATION.value, float(res.statistic), float(res.pvalue), n, float(np.mean(d)),
        _effect_size(d), alt.value, method,
    )
