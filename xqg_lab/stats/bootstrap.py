"""Bootstrap confidence intervals of a statistic and of a paired difference."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from xqg_lab.core.progress import tqdm
from xqg_lab.stats.inputs import _batch, _counted, _finite_vector, _paired_arrays, _rng_kwargs
from xqg_lab.stats.types import BootstrapCI, CIMethod


def bootstrap_ci(
    values: Any,
    *,
    statistic: Callable[..., Any] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    method: str = "BCa",
    seed: int | None = 0,
    progress: bool = False,
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
    progress : a bar over the resamples (:func:`xqg_lab.core.progress.tqdm`).

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

    bar = tqdm(total=int(n_resamples), desc=f"bootstrap ({ci_method.value})", unit="resample", disable=not progress)
    res = stats.bootstrap(
        (x,),
        _counted(statistic, len(x), bar) if progress else statistic,
        n_resamples=int(n_resamples),
        batch=_batch(len(x)),
        confidence_level=float(confidence),
        method=ci_method.value,
        **_rng_kwargs(stats.bootstrap, seed),
    )
    bar.close()
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
    progress: bool = False,
) -> BootstrapCI:
    """Bootstrap interval of ``statistic(b - a)`` over queries (default: the mean difference).

    ``a`` and ``b`` are aligned as in :func:`paired_t_test`; queries are resampled as pairs,
    so this is the paired bootstrap. Other options as in :func:`bootstrap_ci`.
    """
    a_arr, b_arr, _ = _paired_arrays(a, b)
    return bootstrap_ci(
        b_arr - a_arr, statistic=statistic, confidence=confidence, n_resamples=n_resamples, method=method, seed=seed,
        progress=progress,
    )

