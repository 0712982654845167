"""Geometry of the shared space on L2-normalised vectors: alignment, uniformity, cosine gap.

Written by hand (short closed forms, no library offers them on paired embeddings):
alignment and uniformity of Wang & Isola (2020, "Understanding contrastive representation
learning through alignment and uniformity on the hypersphere"), and the paired-vs-random
cosine gap next to the anisotropy baseline of Ethayarajh (2019, "How contextual are
contextualized word representations?").

Pairwise means run over pairs of *distinct items*. In a bootstrap replicate an item drawn
``w`` times contributes ``w_a * w_b`` to pair (a, b) and its copies are never paired with
each other, so replicates stay unbiased U-statistics instead of counting an item's distance
to itself.
"""

from __future__ import annotations

import math

import numpy as np

from xqg_lab.core.validation import check_positive_int
from xqg_lab.alignment._base import (Estimate, check_options, check_pair, l2_normalize, make_estimate, resample_counts,
                                    row_blocks, upper_block_pairs, weighted_means)

__all__ = ["alignment_loss", "uniformity_loss", "cosine_gap", "uniform_sphere_uniformity"]


def alignment_loss(
    X, Y, *,
    alpha: float = 2.0,
    n_bootstrap: int = 200, confidence: float = 0.95, seed: int | None = 0,
) -> Estimate:
    """Alignment ``mean_i ||x_i - y_i||^alpha`` of L2-normalised pairs (Wang & Isola 2020).

    In [0, 2^alpha]; 0 when every pair coincides; lower is better. With alpha = 2 it equals
    ``2 - 2 * mean paired cosine``.
    """
    name = "alignment_loss"
    check_options(n_bootstrap=n_bootstrap, confidence=confidence)
    if not (isinstance(alpha, (int, float)) and alpha > 0):
        raise ValueError(f"expected alpha as a float > 0, found {alpha!r}")
    X, Y = check_pair(X, Y, measure=name, min_n=2, same_dim=True)
    X, Y = l2_normalize(X, "X", name).astype(np.float64), l2_normalize(Y, "Y", name).astype(np.float64)
    n = X.shape[0]
    terms = np.linalg.norm(X - Y, axis=1) ** alpha
    reps = weighted_means(terms, resample_counts(np.random.default_rng(seed), n, n_bootstrap))
    unit = "squared L2 distance (unit vectors)" if alpha == 2 else f"L2 distance ** {alpha} (unit vectors)"
    return make_estimate(
        name, reps, confidence=confidence, n=n, unit=unit, higher_is_better=False, extra={"alpha": float(alpha)}
    )


def uniform_sphere_uniformity(dim: int, t: float = 2.0) -> float:
    """Uniformity ``log E exp(-t ||u - v||^2)`` for u, v independent and uniform on S^(dim-1).

    ``E exp(2t u.v) = Gamma(dim/2) * t^(1 - dim/2) * I_{dim/2 - 1}(2t)`` (the normalising
    constant of the von Mises-Fisher distribution), and ``||u - v||^2 = 2 - 2 u.v``. The
    uniform distribution minimises the population uniformity, so this is what a perfectly
    spread set approaches as N grows.
    """
    from scipy.special import gammaln, ive

    if dim == 1:  # two points {-1, +1}: distance^2 is 0 or 4 with probability 1/2 each
        return math.log((1 + math.exp(-4 * t)) / 2)
    nu = dim / 2 - 1
    log_bessel = math.log(ive(nu, 2 * t)) + 2 * t
    return -2 * t + gammaln(dim / 2) + (1 - dim / 2) * math.log(t) + log_bessel


def _kernel_sums(A, B, counts, *, t, batch_size, symmetric):
    """``sum_{a, b} w_a w_b exp(-t ||A_a - B_b||^2)`` for each row w of ``counts`` over
    distinct items (the diagonal a == b is left out when ``symmetric``, i.e. A is B)."""
    n = A.shape[0]
    Wt = np.ascontiguousarray(counts.T, dtype=A.dtype)  # (n, B+1): K @ Wt[J] is ~3x faster than W[:, I] @ K
    total = np.zeros(Wt.shape[1], dtype=np.float64)
    if symmetric:
        pairs = upper_block_pairs(n, batch_size)
    else:
        blocks = list(row_blocks(n, batch_size))
        pairs = ((I, J) for I in blocks for J in blocks)
    for I, J in pairs:
        K = A[I] @ B[J].T
        np.minimum(K, 1, out=K)
        K -= 1
        K *= 2 * t
        np.exp(K, out=K)  # exp(-t ||u - v||^2) with ||u - v||^2 = 2 - 2 u.v on unit vectors
        if symmetric and I == J:
            np.fill_diagonal(K, 0)
        block = ((K @ Wt[J]) * Wt[I]).sum(axis=0, dtype=np.float64)
        total += block if (not symmetric or I == J) else 2 * block
    return total


def _uniformity_replicates(X, Y, counts, *, t, batch_size):
    """Uniformity of X, Y and X u Y (unit rows) for each row of ``counts`` (row 0: full sample).

    Pairs of distinct points: within a side, copies of one item are never paired; across
    sides x_a and y_a are distinct points, so every (x_a, y_b) counts, a == b included.
    """
    n = X.shape[0]
    sum_w2 = (counts**2).sum(axis=1)
    kxx = _kernel_sums(X, X, counts, t=t, batch_size=batch_size, symmetric=True)
    kyy = _kernel_sums(Y, Y, counts, t=t, batch_size=batch_size, symmetric=True)
    kxy = _kernel_sums(X, Y, counts, t=t, batch_size=batch_size, symmetric=False)
    within = n * n - sum_w2  # ordered pairs of distinct items within a side, weighted
    with np.errstate(divide="ignore", invalid="ignore"):  # a replicate of one repeated item has no pairs
        return (
            np.log(kxx / within),
            np.log(kyy / within),
            np.log((kxx + kyy + 2 * kxy) / (2 * within + 2 * n * n)),
        )


def uniformity_loss(
    X, Y, *,
    t: float = 2.0,
    n_bootstrap: int = 200, confidence: float = 0.95, seed: int | None = 0,
    batch_size: int = 2048,
) -> Estimate:
    """Uniformity ``log mean_{u != v} exp(-t ||u - v||^2)`` on L2-normalised vectors (Wang & Isola 2020).

    Over all pairs of distinct points within a set; in [-4t, 0]; lower means more uniformly
    spread. Reported for X, Y and X u Y (the headline: the shared space). ``reference`` is the
    value of the uniform distribution on the sphere of this dimension
    (:func:`uniform_sphere_uniformity`). Exact over all N^2 pairs, computed in square blocks
    of ``batch_size`` (cost ~ 3 N^2 d, plus 3 N^2 (n_bootstrap + 1) for the replicates).

    Returns
    -------
    Estimate
        ``value`` = uniformity of X u Y; parts ``x`` and ``y``; unit nats-like log-mean-exp.
    """
    name = "uniformity_loss"
    check_options(n_bootstrap=n_bootstrap, confidence=confidence)
    batch_size = check_positive_int(batch_size, "batch_size")
    if not (isinstance(t, (int, float)) and t > 0):
        raise ValueError(f"expected t as a float > 0, found {t!r}")
    X, Y = check_pair(X, Y, measure=name, min_n=2, same_dim=True)
    X, Y = l2_normalize(X, "X", name), l2_normalize(Y, "Y", name)
    n = X.shape[0]
    counts = resample_counts(np.random.default_rng(seed), n, n_bootstrap)
    rep_x, rep_y, rep_u = _uniformity_replicates(X, Y, counts, t=t, batch_size=batch_size)
    common = dict(
        confidence=confidence,
        n=n,
        unit="log-mean-exp of -t * squared distance",
        higher_is_better=False,
        reference=uniform_sphere_uniformity(X.shape[1], t),
        reference_label=f"uniform on the unit sphere in {X.shape[1]} dims",
    )
    parts = (make_estimate(f"{name}.x", rep_x, **common), make_estimate(f"{name}.y", rep_y, **common))
    return make_estimate(name, rep_u, parts=parts, extra={"t": float(t), "set": "X u Y"}, **common)


def cosine_gap(
    X, Y, *,
    n_bootstrap: int = 200, confidence: float = 0.95, seed: int | None = 0,
) -> Estimate:
    """Mean cosine of paired rows minus mean cosine of non-paired (random) cross pairs.

    The random-pair mean runs over all ``i != j`` exactly (from column sums, O(N d)). Raw
    cosines of anisotropic encoders are uninformative on their own (e5-small: about 0.7 for
    unrelated texts), so the parts report the anisotropy of each side next to the gap: the
    mean cosine between distinct rows within a side (Ethayarajh 2019); 0 for an isotropic
    set, near 1 when all vectors share one direction.

    Returns
    -------
    Estimate
        ``value`` = gap in cosine units (higher = paired rows stand out more); parts
        ``paired``, ``random_pairs``, ``anisotropy_x``, ``anisotropy_y``.
    """
    name = "cosine_gap"
    check_options(n_bootstrap=n_bootstrap, confidence=confidence)
    X, Y = check_pair(X, Y, measure=name, min_n=2, same_dim=True)
    X = l2_normalize(X, "X", name).astype(np.float64)
    Y = l2_normalize(Y, "Y", name).astype(np.float64)
    n = X.shape[0]
    counts = resample_counts(np.random.default_rng(seed), n, n_bootstrap)
    paired_cos = np.einsum("ij,ij->i", X, Y)
    sum_w2 = (counts**2).sum(axis=1)
    distinct = n * n - sum_w2
    SX, SY = counts @ X, counts @ Y  # weighted column sums, (B+1, d)
    paired = counts @ paired_cos / n
    with np.errstate(divide="ignore", invalid="ignore"):  # a replicate of one repeated item has no pairs
        random_pairs = (np.einsum("bd,bd->b", SX, SY) - (counts**2) @ paired_cos) / distinct
        aniso_x = (np.einsum("bd,bd->b", SX, SX) - sum_w2) / distinct  # unit rows: ||x_a||^2 = 1
        aniso_y = (np.einsum("bd,bd->b", SY, SY) - sum_w2) / distinct
    common = dict(confidence=confidence, n=n, unit="cosine")
    parts = (
        make_estimate(f"{name}.paired", paired, higher_is_better=True, **common),
        make_estimate(f"{name}.random_pairs", random_pairs, higher_is_better=None, **common),
        make_estimate(
            f"{name}.anisotropy_x", aniso_x, higher_is_better=None, reference=0.0,
            reference_label="isotropic (mean cosine of distinct rows)", **common,
        ),
        make_estimate(
            f"{name}.anisotropy_y", aniso_y, higher_is_better=None, reference=0.0,
            reference_label="isotropic (mean cosine of distinct rows)", **common,
        ),
    )
    return make_estimate(
        name,
        paired - random_pairs,
        higher_is_better=True,
        reference=0.0,
        reference_label="no pairing signal",
        parts=parts,
        extra={"isotropy_measure": "mean cosine between distinct rows within a side (Ethayarajh 2019)"},
        **common,
    )
