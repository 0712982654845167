"""Multiple-comparison correction: Holm's step-down adjusted p-values."""

from __future__ import annotations

from typing import Any

import numpy as np


def holm(p_values: Any) -> np.ndarray:
    """Holm step-down adjusted p-values (``statsmodels.stats.multitest.multipletests(method="holm")``).

    Parameters
    ----------
    p_values : 1-D array-like of p-values in [0, 1], the whole family of comparisons.

    Returns
    -------
    float64 array, same order and length: with p sorted ascending, p_adj(i) =
    max_{j <= i} min(1, (m - j + 1) p(j)). Reject H_i at significance level ``level`` when p_adj_i < level;
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

