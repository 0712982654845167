"""Linear centred kernel alignment (CKA) between the two sides, debiased and biased.

Written by hand (no maintained library in the toolkit's dependencies computes it).
CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with linear kernels K = X X^T,
L = Y Y^T (Kornblith et al. 2019, "Similarity of neural network representations
revisited"). The headline uses the unbiased HSIC estimator of Song et al. (2012, "Feature
selection via dependence maximization", eq. 5), as proposed for CKA by Nguyen, Raghu &
Kornblith (2021, "Do wide and deep networks learn the same things?"):

    HSIC_u = [tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n (n-3))

with K~, L~ the Gram matrices with zeroed diagonals. The biased CKA (Gretton et al. 2005,
``tr(K H L H)``) is a part; it is inflated by about sqrt(d d') / n for independent data,
which the debiased one removes. The biased part is reported without an interval: resampling
with replacement leaves fewer distinct rows and so inflates its bias, which would put a
percentile interval above the estimate.

Bootstrap replicates weight item a by its multiplicity w_a and zero the kernel between
copies of the same item (the U-statistic's "distinct indices" rule extended to copies),
so the debiased replicates are not re-biased by duplicated rows. Two exact ways to get the
weighted sums ``w' (K~ o L~) w``: from N x N Gram blocks (cost ~ N^2 (d + d' + 3 B)) or
from d x d' cross-products per replicate (~ B N (d + d')^2); the cheaper is used.
"""

from __future__ import annotations

import numpy as np

from xqg_lab.core.validation import check_positive_int
from xqg_lab.alignment._base import (
    Estimate,
    check_options,
    check_pair,
    make_estimate,
    resample_counts,
    upper_block_pairs,
)

__all__ = ["linear_cka"]


def _quadratic_sums_gram(Xc, Yc, counts, batch_size):
    """``w' (K0 o L0) w``, ``w' (K0 o K0) w``, ``w' (L0 o L0) w`` for each row w of counts,
    K0 / L0 the linear Gram matrices with zero diagonal; from upper-triangle blocks."""
    Wt = np.ascontiguousarray(counts.T, dtype=Xc.dtype)  # (n, B+1): M @ Wt[J] is the fast layout
    out = np.zeros((3, Wt.shape[1]), dtype=np.float64)
    for I, J in upper_block_pairs(Xc.shape[0], batch_size):
        K = Xc[I] @ Xc[J].T
        L = Yc[I] @ Yc[J].T
        if I == J:
            np.fill_diagonal(K, 0)
            np.fill_diagonal(L, 0)
        factor = 1.0 if I == J else 2.0
        for row, M in enumerate((K * L, K * K, L * L)):
            out[row] += factor * ((M @ Wt[J]) * Wt[I]).sum(axis=0, dtype=np.float64)
    return out


def _quadratic_sums_features(Xc, Yc, counts):
    """Same sums from weighted cross-products: ``||Xc' D Yc||_F^2`` minus the diagonal terms."""
    Xc, Yc = Xc.astype(np.float64), Yc.astype(np.float64)
    dk, dl = np.einsum("ij,ij->i", Xc, Xc), np.einsum("ij,ij->i", Yc, Yc)
    w2 = counts**2
    out = np.empty((3, counts.shape[0]), dtype=np.float64)
    for b, w in enumerate(counts):
        Xw = Xc * w[:, None]
        out[0, b] = np.square(Xw.T @ Yc).sum()
        out[1, b] = np.square(Xw.T @ Xc).sum()
        out[2, b] = np.square((Yc * w[:, None]).T @ Yc).sum()
    out -= np.stack([w2 @ (dk * dl), w2 @ (dk * dk), w2 @ (dl * dl)])
    return out


def _hsic_u(q, sum_k, sum_l, kl1, n):
    """Song et al. (2012) unbiased HSIC from weighted sums (vectors over replicates)."""
    return (q + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * kl1) / (n * (n - 3))


def _hsic_b(q_full, kw_dot, kl_w, n):
    """Biased HSIC numerator ``||Xc' D Yc||^2`` after re-centring on the weighted mean."""
    return q_full - 2.0 / n * kl_w + kw_dot / n**2


def _cka_replicates(Xc, Yc, counts, *, batch_size, route=None):
    """Debiased and biased linear CKA for each row of ``counts`` (row 0: the full sample).

    ``Xc``, ``Yc`` centred by the full-sample mean. ``route`` forces "gram" or "features"
    (default: the cheaper by operation count). Returns ``(cka_u, cka_b, route)``.
    """
    n, d = Xc.shape
    dy = Yc.shape[1]
    n_rep = counts.shape[0]
    if route is None:
        gram_cost = n * n * (d + dy + 3 * n_rep)
        feature_cost = n_rep * n * (d + dy) ** 2
        route = "gram" if gram_cost <= feature_cost else "features"
    if route == "gram":
        q0 = _quadratic_sums_gram(Xc, Yc, counts, batch_size)
    else:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):  # small products: threads only add overhead
            q0 = _quadratic_sums_features(Xc, Yc, counts)

    X64, Y64 = Xc.astype(np.float64), Yc.astype(np.float64)
    dk, dl = np.einsum("ij,ij->i", X64, X64), np.einsum("ij,ij->i", Y64, Y64)
    KW = X64 @ (counts @ X64).T  # (n, B+1): K w, diagonal included
    LW = Y64 @ (counts @ Y64).T
    Wt = counts.T
    K0W, L0W = KW - dk[:, None] * Wt, LW - dl[:, None] * Wt
    sum_k0, sum_l0 = (Wt * K0W).sum(axis=0), (Wt * L0W).sum(axis=0)

    def debiased(q, a0, b0, sa, sb):
        return _hsic_u(q, sa, sb, (Wt * a0 * b0).sum(axis=0), n)

    h_kl = debiased(q0[0], K0W, L0W, sum_k0, sum_l0)
    h_kk = debiased(q0[1], K0W, K0W, sum_k0, sum_k0)
    h_ll = debiased(q0[2], L0W, L0W, sum_l0, sum_l0)

    w2 = counts**2
    full = q0 + np.stack([w2 @ (dk * dl), w2 @ (dk * dk), w2 @ (dl * dl)])
    sum_k, sum_l = (Wt * KW).sum(axis=0), (Wt * LW).sum(axis=0)
    b_kl = _hsic_b(full[0], sum_k * sum_l, (Wt * KW * LW).sum(axis=0), n)
    b_kk = _hsic_b(full[1], sum_k * sum_k, (Wt * KW * KW).sum(axis=0), n)
    b_ll = _hsic_b(full[2], sum_l * sum_l, (Wt * LW * LW).sum(axis=0), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return h_kl / np.sqrt(h_kk * h_ll), b_kl / np.sqrt(b_kk * b_ll), route


def linear_cka(
    X, Y, *,
    n_bootstrap: int = 200, confidence: float = 0.95, seed: int | None = 0,
    batch_size: int = 2048,
) -> Estimate:
    """Linear CKA between X and Y (dims may differ), debiased (headline) and biased (part).

    Invariant to orthogonal transforms and isotropic scaling of either side: 1 for a rotated
    or scaled copy; the debiased value is near 0 (can be slightly negative) for independent
    sides. Unitless, in [0, 1] up to the debiased estimator's noise.

    Parameters
    ----------
    X : float array (n, d); Y : float array (n, d')
    n_bootstrap, confidence, seed :
        Percentile bootstrap over pairs (copies of an item are not paired with each other).
    batch_size : int
        Side of the square Gram blocks when the Gram route is used.
    """
    name = "linear_cka"
    check_options(n_bootstrap=n_bootstrap, confidence=confidence)
    batch_size = check_positive_int(batch_size, "batch_size")
    X, Y = check_pair(X, Y, measure=name, min_n=5, same_dim=False)
    n = X.shape[0]
    # Centring by the full-sample mean is exact for the U-statistic (translation invariant)
    # and keeps the Gram entries small; replicates re-centre through the formulas below.
    Xc = (X - X.mean(axis=0, dtype=np.float64)).astype(X.dtype)
    Yc = (Y - Y.mean(axis=0, dtype=np.float64)).astype(Y.dtype)
    counts = resample_counts(np.random.default_rng(seed), n, n_bootstrap)
    cka_u, cka_b, route = _cka_replicates(Xc, Yc, counts, batch_size=batch_size)
    common = dict(confidence=confidence, n=n, unit="CKA (unitless, 0 to 1)", higher_is_better=True)
    # The biased estimate's O(d / N) bias grows when a replicate has fewer distinct rows, so
    # its replicates sit well above it (measured: +0.11 at N = 2000, d = 384); no interval.
    parts = (make_estimate(f"{name}.biased", cka_b[:1], **common),)
    return make_estimate(
        name,
        cka_u,
        parts=parts,
        reference=0.0,
        reference_label="independence",
        extra={"estimator": "debiased HSIC (Song et al. 2012)", "route": route},
        **common,
    )
