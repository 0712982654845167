"""Shared pieces of the alignment estimators: the result record, input checks, resampling.

Resampling scheme (used by every estimator): a bootstrap replicate draws ``n`` pairs with
replacement (a numpy ``Generator`` seeded with ``seed``); it is represented by the count
``w[i]`` of how often pair ``i`` was drawn, so replicate statistics are weighted sums and
several replicates are evaluated together with one matrix product. The confidence
interval is the percentile interval of the replicates (Efron & Tibshirani 1993, ch. 13),
except where a module says otherwise (``gaussian_mi`` uses the centred interval).
``scipy.stats.bootstrap`` is not used because the estimators need the multiplicities
themselves (pairwise statistics must not pair a drawn item with its own copy) and all
parts of one measure must share the same replicates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Estimate"]


@dataclass(frozen=True)
class Estimate:
    """One alignment measure on ``n`` pairs, with a percentile bootstrap interval.

    Attributes
    ----------
    name : str
        Measure name (``"infonce_bound"``) or, for a part of it, ``"<measure>.<part>"``
        (``"infonce_bound.x_to_y"``).
    value : float
        The estimate on the full sample, in ``unit``.
    ci_low, ci_high : float
        Percentile bootstrap interval at the requested confidence; NaN when
        ``n_bootstrap=0``.
    n : int
        Number of pairs the estimate used (the ``N`` in ``log N`` for InfoNCE).
    unit : str
        E.g. ``"nats"``, ``"fraction"``, ``"cosine"``.
    higher_is_better : bool or None
        Direction for "more aligned"; None for descriptive quantities (e.g. anisotropy).
    reference : float
        The value to read ``value`` against, described by ``reference_label`` (the cap
        ``log N`` of InfoNCE, chance accuracy, a permutation-null mean); NaN if none.
    reference_label : str
    p_value : float
        Permutation p-value where the measure has one (KSG), else NaN.
    n_bootstrap : int
        Number of bootstrap replicates behind the interval.
    parts : tuple of Estimate
        Sub-measures computed on the same replicates (directions, per-side values).
    extra : mapping
        Estimator settings and diagnostics (temperature, dimensions, null sd, ...).
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    unit: str
    higher_is_better: bool | None
    reference: float = math.nan
    reference_label: str = ""
    p_value: float = math.nan
    n_bootstrap: int = 0
    parts: tuple[Estimate, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:  # ``extra`` holds arrays and dicts; hash the identity fields only
        return hash((self.name, self.value, self.n))


# ----------------------------------------------------------------------------------- inputs


def check_pair(
    X: Any,
    Y: Any,
    *,
    measure: str,
    min_n: int,
    same_dim: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate paired embeddings and return them as float arrays (never modified in place).

    Both arrays keep float32 when both are float32 (halves the cost of the large matrix
    products); anything else becomes float64.
    """
    arrays = []
    for label, A in (("X", X), ("Y", Y)):
        A = np.asarray(A)
        if A.dtype == object or not (np.issubdtype(A.dtype, np.floating) or np.issubdtype(A.dtype, np.integer)):
            raise TypeError(
                f"{measure}: expected {label} as a real numeric array (n, d), found dtype {A.dtype}; "
                f"convert with np.asarray({label}, dtype=np.float32)"
            )
        if A.ndim != 2:
            raise ValueError(
                f"{measure}: expected {label} as a 2-d array (n_pairs, dim), found shape {A.shape}; "
                f"stack the vectors row-wise (row i of X is paired with row i of Y)"
            )
        if A.shape[1] == 0:
            raise ValueError(f"{measure}: expected {label} with at least one column, found shape {A.shape}")
        arrays.append(A)
    X, Y = arrays
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{measure}: expected X and Y with the same number of rows (row i of X is paired with "
            f"row i of Y), found {X.shape[0]} and {Y.shape[0]}"
        )
    if same_dim and X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"{measure}: expected X and Y in one embedding space (same dim), found dims "
            f"{X.shape[1]} and {Y.shape[1]}; this measure compares vectors across the two sides"
        )
    dtype = np.float32 if (X.dtype == np.float32 and Y.dtype == np.float32) else np.float64
    out = []
    for label, A in (("X", X), ("Y", Y)):
        A = A.astype(dtype, copy=False)
        bad = np.flatnonzero(~np.isfinite(A).all(axis=1))
        if bad.size:
            shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if bad.size > 10 else "")
            raise ValueError(
                f"{measure}: expected finite values in {label}, found NaN or inf in {bad.size} row(s): "
                f"[{shown}]; drop those rows from both X and Y (keeping the pairing) or re-encode them"
            )
        out.append(A)
    n = X.shape[0]
    if n < min_n:
        raise ValueError(f"{measure}: expected at least {min_n} pairs, found {n}")
    return out[0], out[1]


def check_options(*, n_bootstrap: int, confidence: float) -> None:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise ValueError(f"expected n_bootstrap as an int >= 0, found {n_bootstrap!r}")
    if not (isinstance(confidence, (float, int)) and 0.0 < confidence < 1.0):
        raise ValueError(f"expected confidence in (0, 1), e.g. 0.95, found {confidence!r}")


def l2_normalize(A: np.ndarray, label: str, measure: str) -> np.ndarray:
    """Rows scaled to unit L2 norm; a zero row has no direction and is rejected."""
    norms = np.linalg.norm(A, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        shown = ", ".join(str(i) for i in zero[:10]) + (", ..." if zero.size > 10 else "")
        raise ValueError(
            f"{measure}: expected non-zero rows in {label} (cosine needs a direction), found "
            f"{zero.size} zero row(s): [{shown}]; drop those pairs"
        )
    return A / norms[:, None].astype(A.dtype)


# ------------------------------------------------------------------------------- resampling


def resample_counts(rng: np.random.Generator, n: int, n_bootstrap: int, *, dtype=np.float64) -> np.ndarray:
    """Counts ``(n_bootstrap + 1, n)``: row 0 is all ones (the full sample), row b > 0 the
    multiplicities of pairs drawn with replacement in replicate b."""
    counts = np.ones((n_bootstrap + 1, n), dtype=dtype)
    if n_bootstrap:
        idx = rng.integers(0, n, size=(n_bootstrap, n))
        offsets = (np.arange(n_bootstrap) * n)[:, None]
        counts[1:] = np.bincount((idx + offsets).ravel(), minlength=n_bootstrap * n).reshape(n_bootstrap, n)
    return counts


def weighted_means(terms: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of per-pair ``terms`` (n,) or (n, m) under each row of ``counts``: (B+1,) or (B+1, m)."""
    return counts @ terms / counts.shape[1]


def summarize(
    reps: np.ndarray,
    *,
    confidence: float,
    interval: str = "percentile",
) -> tuple[float, float, float]:
    """``(value, ci_low, ci_high)`` from replicates ``reps`` whose entry 0 is the full sample.

    ``interval="percentile"``: quantiles of the replicates. ``"basic"`` (Davison & Hinkley
    1997, eq. 5.6): the percentile interval reflected about the estimate, ``2 * value -
    (q_high, q_low)``; it corrects for an estimator whose bias the replicates reproduce
    (they are shifted by about the bias, so a percentile interval can miss the estimate).
    ``"centred"``: the percentile interval shifted so that the replicates' mean falls on the
    estimate, ``value + (q_low, q_high) - mean``; for replicates biased by the resampling
    itself, unlike the estimator (no bias correction in either direction).
    """
    reps = np.asarray(reps, dtype=np.float64)
    value = float(reps[0])
    boot = reps[1:]
    if boot.size == 0 or not np.isfinite(boot).all():
        return value, math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    if interval == "basic":
        low, high = 2 * value - high, 2 * value - low
    elif interval == "centred":
        shift = value - float(boot.mean())
        low, high = low + shift, high + shift
    return value, float(low), float(high)


def make_estimate(
    name: str, reps: np.ndarray, *, confidence: float, n: int, interval: str = "percentile", **fields: Any
) -> Estimate:
    value, low, high = summarize(reps, confidence=confidence, interval=interval)
    return Estimate(name=name, value=value, ci_low=low, ci_high=high, n=n, n_bootstrap=len(reps) - 1, **fields)


def row_blocks(n: int, batch_size: int):
    """Consecutive slices of at most ``batch_size`` rows covering ``range(n)``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def upper_block_pairs(n: int, batch_size: int):
    """``(I, J)`` slice pairs with ``I <= J`` covering the upper triangle of an n x n matrix."""
    blocks = list(row_blocks(n, batch_size))
    for a, I in enumerate(blocks):
        for J in blocks[a:]:
            yield I, J


