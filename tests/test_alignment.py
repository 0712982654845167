"""Tests for xqg_lab.alignment: ground truth on correlated Gaussians, closed forms,
independent reference implementations, input validation and the tidy report.

Ground truth: X = Z1, Y = rho * Z1 + sqrt(1 - rho^2) * Z2 per coordinate (Z1, Z2 independent
standard normal), optionally rotated on each side by a random orthogonal matrix (MI, CKA and
CCA are invariant to that); then I(X; Y) = -1/2 sum_k log(1 - rho_k^2) nats.

Every tolerance below is derived in a comment from the estimator's known sampling error or
bias (analytic, or measured across seeds where no formula is at hand), not fitted to pass.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from scipy.special import log_softmax
from scipy.stats import ortho_group

from xqg_lab.alignment import (
    MEASURES,
    REPORT_COLUMNS,
    Estimate,
    Measure,
    alignment_loss,
    alignment_report,
    bitext_accuracy,
    cosine_gap,
    gaussian_mi,
    infonce_bound,
    ksg_mi,
    language_probe,
    linear_cka,
    uniform_sphere_uniformity,
    uniformity_loss,
)
from xqg_lab.alignment._base import resample_counts
from xqg_lab.alignment.cka import _cka_replicates
from xqg_lab.alignment.geometry import _uniformity_replicates


def correlated_gaussians(n: int, rhos, seed: int, *, rotate: bool = True):
    """Paired samples with per-coordinate correlations ``rhos``; returns X, Y, true MI (nats).

    ``rotate`` applies a different random rotation to each side: MI, CKA and CCA are blind to
    it, while measures that compare x with y directly (cosine, retrieval) need a shared space
    and are tested with ``rotate=False``.
    """
    rng = np.random.default_rng(seed)
    rhos = np.asarray(rhos, dtype=float)
    d = rhos.size
    Z1, Z2 = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    X, Y = Z1, rhos * Z1 + np.sqrt(1 - rhos**2) * Z2
    if rotate and d > 1:
        X = X @ ortho_group.rvs(d, random_state=seed)
        Y = Y @ ortho_group.rvs(d, random_state=seed + 1)
    return X, Y, float(-0.5 * np.log1p(-(rhos**2)).sum())


def unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


# ------------------------------------------------------------------------- input validation

SAME_SPACE = [
    Measure.INFONCE_BOUND,
    Measure.BITEXT_ACCURACY,
    Measure.ALIGNMENT_LOSS,
    Measure.UNIFORMITY_LOSS,
    Measure.LANGUAGE_PROBE,
    Measure.COSINE_GAP,
]


@pytest.mark.parametrize("measure", list(Measure))
def test_measure_rejects_nan_naming_array_and_rows(measure):
    X, Y, _ = correlated_gaussians(40, [0.5] * 4, seed=0)
    Y[3, 1] = np.nan
    Y[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"finite values in Y.*2 row\(s\): \[3, 7\]"):
        MEASURES[measure](X, Y, n_bootstrap=0)


@pytest.mark.parametrize("measure", list(Measure))
def test_measure_rejects_unequal_rows(measure):
    X, Y, _ = correlated_gaussians(40, [0.5] * 4, seed=0)
    with pytest.raises(ValueError, match="same number of rows.*40 and 39"):
        MEASURES[measure](X, Y[:-1], n_bootstrap=0)


@pytest.mark.parametrize("measure", list(Measure))
def test_measure_rejects_1d_input(measure):
    with pytest.raises(ValueError, match="2-d array"):
        MEASURES[measure](np.zeros(10), np.zeros(10), n_bootstrap=0)


@pytest.mark.parametrize("measure", list(Measure))
def test_measure_rejects_too_few_pairs(measure):
    X, Y, _ = correlated_gaussians(1, [0.5] * 4, seed=0)
    with pytest.raises(ValueError, match="expected at least .* pairs, found 1"):
        MEASURES[measure](X, Y, n_bootstrap=0)


@pytest.mark.parametrize("measure", SAME_SPACE)
def test_same_space_measure_rejects_different_dims(measure):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="same dim.*8 and 6"):
        MEASURES[measure](rng.standard_normal((50, 8)), rng.standard_normal((50, 6)), n_bootstrap=0)


@pytest.mark.parametrize("measure", [Measure.LINEAR_CKA, Measure.GAUSSIAN_MI, Measure.KSG_MI])
def test_cross_space_measure_accepts_different_dims(measure):
    rng = np.random.default_rng(0)
    est = MEASURES[measure](rng.standard_normal((60, 8)), rng.standard_normal((60, 5)), n_bootstrap=0)
    assert math.isfinite(est.value) and est.n == 60


def test_cosine_measure_rejects_zero_rows():
    X, Y, _ = correlated_gaussians(20, [0.5] * 4, seed=0)
    X[5] = 0
    with pytest.raises(ValueError, match=r"non-zero rows in X.*\[5\]"):
        infonce_bound(X, Y)


def test_measure_rejects_non_numeric_input():
    with pytest.raises(TypeError, match="real numeric array"):
        alignment_loss(np.array([["a", "b"]] * 3), np.zeros((3, 2)))


def test_measure_rejects_bad_options():
    X, Y, _ = correlated_gaussians(20, [0.5] * 4, seed=0)
    with pytest.raises(ValueError, match="n_bootstrap"):
        alignment_loss(X, Y, n_bootstrap=-1)
    with pytest.raises(ValueError, match="confidence"):
        alignment_loss(X, Y, confidence=95)
    with pytest.raises(ValueError, match="'cosine', 'dot'"):
        infonce_bound(X, Y, similarity="euclid")
    with pytest.raises(ValueError, match="temperature"):
        infonce_bound(X, Y, temperature=0.0)


def test_measures_do_not_modify_inputs():
    X, Y, _ = correlated_gaussians(50, [0.5] * 4, seed=0)
    X0, Y0 = X.copy(), Y.copy()
    alignment_report(X, Y, n_bootstrap=5, options={"ksg_mi": {"n_permutations": 2}})
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


# ------------------------------------------------------------------------------- bootstrap


def test_resample_counts_rows_are_multiplicities():
    counts = resample_counts(np.random.default_rng(0), 50, 30)
    assert counts.shape == (31, 50)
    np.testing.assert_array_equal(counts[0], 1)
    np.testing.assert_array_equal(counts.sum(axis=1), 50)
    assert (counts >= 0).all() and np.allclose(counts, np.round(counts))


def test_no_bootstrap_gives_nan_interval():
    X, Y, _ = correlated_gaussians(30, [0.5] * 4, seed=0)
    est = alignment_loss(X, Y, n_bootstrap=0)
    assert est.n_bootstrap == 0 and math.isnan(est.ci_low) and math.isnan(est.ci_high)


def test_interval_brackets_estimate_and_is_seeded():
    X, Y, _ = correlated_gaussians(200, [0.5] * 4, seed=0)
    a, b = cosine_gap(X, Y, seed=1), cosine_gap(X, Y, seed=1)
    assert a == b
    assert a.ci_low < a.value < a.ci_high
    c = cosine_gap(X, Y, seed=2)
    assert c.value == a.value and c.ci_low != a.ci_low


# -------------------------------------------------------------------------------- InfoNCE


def test_infonce_hand_computed_two_pairs():
    # s = I (dot, T = 1): each term is 1 - log(e + 1), so I_NCE = log 2 + 1 - log(1 + e).
    E = np.eye(2)
    est = infonce_bound(E, E, similarity="dot", temperature=1.0, n_bootstrap=0)
    assert est.value == pytest.approx(math.log(2) + 1 - math.log(1 + math.e), abs=1e-12)
    assert est.reference == pytest.approx(math.log(2))


def test_infonce_matches_log_softmax_reference():
    X, Y, _ = correlated_gaussians(300, [0.6] * 8, seed=1, rotate=False)
    S = unit(X) @ unit(Y).T / 0.05
    expected_xy = math.log(300) + np.mean(np.diag(log_softmax(S, axis=1)))
    expected_yx = math.log(300) + np.mean(np.diag(log_softmax(S, axis=0)))
    est = infonce_bound(X, Y, temperature=0.05, batch_size=64, n_bootstrap=0)  # several blocks
    assert est.parts[0].value == pytest.approx(expected_xy, abs=1e-10)
    assert est.parts[1].value == pytest.approx(expected_yx, abs=1e-10)
    assert est.value == pytest.approx((expected_xy + expected_yx) / 2, abs=1e-10)
    assert [p.name for p in est.parts] == ["infonce_bound.x_to_y", "infonce_bound.y_to_x"]


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_infonce_is_below_true_mi_and_log_n(rho):
    # The InfoNCE bound holds for any critic: E[I_NCE] <= min(I, log N) (Poole et al. 2019).
    # Dot critic with T = (1 - rho^2) / rho is the bilinear part of the optimal critic
    # log p(y|x)/p(y), so the bound is close to I at small rho. A single sample of N pairs
    # may exceed its expectation by sampling error: allow 4 standard errors, estimated from
    # the bootstrap interval's half-width / 1.96.
    X, Y, mi = correlated_gaussians(1000, [rho] * 8, seed=2, rotate=False)
    for kwargs in ({"similarity": "dot", "temperature": (1 - rho**2) / rho}, {"temperature": 0.1}):
        est = infonce_bound(X, Y, seed=0, **kwargs)
        se = (est.ci_high - est.ci_low) / (2 * 1.96)
        assert est.value <= min(mi, math.log(1000)) + 4 * se, kwargs
        assert est.value <= math.log(1000)


def test_infonce_ranks_dependence():
    # Shared space (no rotation): the cosine critic compares x and y coordinate-wise.
    values = []
    for r in (0.2, 0.5, 0.8):
        X, Y, _ = correlated_gaussians(800, [r] * 8, seed=3, rotate=False)
        values.append(infonce_bound(X, Y, temperature=0.1).value)
    assert values[0] < values[1] < values[2]


def test_infonce_saturates_at_log_n_for_identical_sets():
    # Identical random unit vectors with T = 0.01: s_ii = 100 vs s_ij <= ~80, so the bound
    # is log N minus terms of order exp(-20); it can never exceed log N.
    X = np.random.default_rng(4).standard_normal((500, 16))
    est = infonce_bound(X, X, n_bootstrap=20)
    assert math.log(500) - 1e-3 < est.value <= math.log(500)
    assert est.ci_high <= math.log(500)


# --------------------------------------------------------------------------------- bitext


def _naive_margin_accuracy(X, Y, k, kind):
    S = unit(X) @ unit(Y).T
    r_x = np.sort(S, axis=1)[:, -k:].mean(axis=1)
    r_y = np.sort(S, axis=0)[-k:, :].mean(axis=0)
    denom = (r_x[:, None] + r_y[None, :]) / 2
    M = S / denom if kind == "ratio_margin" else S - denom
    idx = np.arange(len(X))
    return (M.argmax(axis=1) == idx).mean(), (M.argmax(axis=0) == idx).mean()


@pytest.mark.parametrize("scoring", ["ratio_margin", "distance_margin"])
def test_bitext_margin_matches_full_matrix_reference(scoring):
    X, Y, _ = correlated_gaussians(300, [0.5] * 8, seed=5, rotate=False)
    X, Y = X + 1.0, Y + 1.0  # positive cosines so the ratio margin is defined
    est = bitext_accuracy(X, Y, scoring=scoring, k=4, batch_size=70, n_bootstrap=0)
    xy, yx = _naive_margin_accuracy(X, Y, 4, scoring)
    assert (est.parts[0].value, est.parts[1].value) == pytest.approx((xy, yx))


def test_bitext_cosine_matches_argmax_reference():
    X, Y, _ = correlated_gaussians(300, [0.5] * 8, seed=6, rotate=False)
    S = unit(X) @ unit(Y).T
    idx = np.arange(300)
    est = bitext_accuracy(X, Y, batch_size=70, n_bootstrap=0)
    assert est.parts[0].value == pytest.approx((S.argmax(axis=1) == idx).mean())
    assert est.parts[1].value == pytest.approx((S.argmax(axis=0) == idx).mean())


@pytest.mark.parametrize("scoring", ["cosine", "ratio_margin", "distance_margin"])
def test_bitext_identical_sets_are_perfect(scoring):
    X = np.random.default_rng(7).standard_normal((400, 16)) + 0.5
    est = bitext_accuracy(X, X.copy(), scoring=scoring)
    assert est.value == 1.0 and est.parts[0].value == 1.0 and est.parts[1].value == 1.0


def test_bitext_independent_sets_are_near_chance():
    # Hits are ~ Binomial(N, 1/N), about Poisson(1): P(>= 10 hits) ~ 1e-7 per direction.
    rng = np.random.default_rng(8)
    est = bitext_accuracy(rng.standard_normal((1000, 32)), rng.standard_normal((1000, 32)))
    assert est.reference == pytest.approx(1 / 1000)
    assert est.parts[0].value < 10 / 1000 and est.parts[1].value < 10 / 1000


def test_bitext_ratio_margin_needs_positive_neighbourhoods():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    Y = -X
    with pytest.raises(ValueError, match="distance_margin"):
        bitext_accuracy(X, Y, scoring="ratio_margin", k=1)


# ---------------------------------------------------------------- alignment and uniformity


def test_alignment_is_zero_for_identical_and_matches_cosine_identity():
    X, Y, _ = correlated_gaussians(200, [0.5] * 8, seed=9, rotate=False)
    assert alignment_loss(X, 3.0 * X).value == pytest.approx(0.0, abs=1e-12)  # scale-free
    paired_cos = np.einsum("ij,ij->i", unit(X), unit(Y)).mean()
    assert alignment_loss(X, Y).value == pytest.approx(2 - 2 * paired_cos, abs=1e-12)


def test_uniformity_matches_pdist_reference():
    X, Y, _ = correlated_gaussians(150, [0.5] * 8, seed=10)
    est = uniformity_loss(X, Y, batch_size=40, n_bootstrap=0)
    U = unit(np.vstack([X, Y]))

    def ref(A):
        return np.log(np.exp(-2 * pdist(A, "sqeuclidean")).mean())

    assert est.value == pytest.approx(ref(U), abs=1e-10)
    assert est.parts[0].value == pytest.approx(ref(unit(X)), abs=1e-10)
    assert est.parts[1].value == pytest.approx(ref(unit(Y)), abs=1e-10)


def test_uniformity_replicates_leave_out_copy_pairs():
    # A replicate equals the reference computed on the resampled multiset, skipping pairs of
    # copies of one item within a side.
    X, Y, _ = correlated_gaussians(30, [0.5] * 4, seed=11)
    X, Y = unit(X), unit(Y)
    counts = resample_counts(np.random.default_rng(0), 30, 3)
    rep_x, rep_y, rep_u = _uniformity_replicates(X, Y, counts, t=2.0, batch_size=7)
    for b in range(1, 4):
        idx = np.repeat(np.arange(30), counts[b].astype(int))
        origin = np.concatenate([idx, idx + 30])  # x_a and y_a are different points
        U = np.vstack([X[idx], Y[idx]])
        D = ((U[:, None, :] - U[None, :, :]) ** 2).sum(-1)
        keep = origin[:, None] != origin[None, :]
        m = len(idx)
        assert rep_u[b] == pytest.approx(np.log(np.exp(-2 * D[keep]).mean()), abs=1e-10)
        assert rep_x[b] == pytest.approx(np.log(np.exp(-2 * D[:m, :m][keep[:m, :m]]).mean()), abs=1e-10)


def test_uniformity_of_uniform_sphere_matches_closed_form():
    # On S^2, u.v is uniform on [-1, 1], so E exp(-4(1 - u.v)) = (1 - e^-8) / 8. For uniform
    # points the U-statistic's first-order term vanishes (E[k(u, V) | u] is constant), its sd
    # is ~ sqrt(2 Var k) / N ~ 3e-4 on a mean of 0.125, i.e. 0.0025 in log: 0.02 is 8 sd.
    expected = math.log((1 - math.exp(-8)) / 8)
    assert uniform_sphere_uniformity(3, 2.0) == pytest.approx(expected, abs=1e-12)
    assert uniform_sphere_uniformity(1, 2.0) == pytest.approx(math.log((1 + math.exp(-8)) / 2))
    rng = np.random.default_rng(12)
    X, Y = rng.standard_normal((1000, 3)), rng.standard_normal((1000, 3))
    est = uniformity_loss(X, Y, n_bootstrap=0)
    assert est.reference == pytest.approx(expected)
    for value in (est.value, est.parts[0].value, est.parts[1].value):
        assert value == pytest.approx(expected, abs=0.02)


# ------------------------------------------------------------------------------------ CKA


def _hsic_unbiased(K, L):
    n = K.shape[0]
    K, L = K.copy(), L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * one @ K @ L @ one) / (
        n * (n - 3)
    )


def _hsic_biased(K, L):
    H = np.eye(K.shape[0]) - 1 / K.shape[0]
    return np.trace(K @ H @ L @ H)


def _cka_reference(X, Y):
    K, L = X @ X.T, Y @ Y.T
    return (
        _hsic_unbiased(K, L) / math.sqrt(_hsic_unbiased(K, K) * _hsic_unbiased(L, L)),
        _hsic_biased(K, L) / math.sqrt(_hsic_biased(K, K) * _hsic_biased(L, L)),
    )


def test_cka_matches_explicit_gram_reference():
    X, Y, _ = correlated_gaussians(120, [0.7] * 6 + [0.1] * 2, seed=13)
    Y = np.hstack([Y, Y[:, :2] ** 2]) + 5.0  # different dims, not centred
    est = linear_cka(X, Y, batch_size=50, n_bootstrap=0)
    unbiased, biased = _cka_reference(X, Y)
    assert est.value == pytest.approx(unbiased, abs=1e-10)
    assert est.parts[0].value == pytest.approx(biased, abs=1e-10)


@pytest.mark.parametrize("route", ["gram", "features"])
def test_cka_replicates_match_multiset_reference(route):
    # Debiased replicate = Song et al.'s formula on the resampled multiset with the kernel
    # between copies of one item zeroed; biased replicate = plain biased CKA of the multiset.
    X, Y, _ = correlated_gaussians(40, [0.6] * 5, seed=14)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    counts = resample_counts(np.random.default_rng(1), 40, 3)
    cka_u, cka_b, used = _cka_replicates(Xc, Yc, counts, batch_size=16, route=route)
    assert used == route
    for b in range(4):
        idx = np.repeat(np.arange(40), counts[b].astype(int))
        copy = idx[:, None] == idx[None, :]
        K, L = np.where(copy, 0, Xc[idx] @ Xc[idx].T), np.where(copy, 0, Yc[idx] @ Yc[idx].T)
        expected_u = _hsic_unbiased(K, L) / math.sqrt(_hsic_unbiased(K, K) * _hsic_unbiased(L, L))
        assert cka_u[b] == pytest.approx(expected_u, abs=1e-10)
        assert cka_b[b] == pytest.approx(_cka_reference(Xc[idx], Yc[idx])[1], abs=1e-10)


def test_cka_is_one_for_rotated_and_scaled_copies():
    X = np.random.default_rng(15).standard_normal((300, 12))
    Q = ortho_group.rvs(12, random_state=15)
    for Y in (X @ Q, 3.7 * X, -0.2 * X @ Q + 4.0):
        est = linear_cka(X, Y, n_bootstrap=0)
        assert est.value == pytest.approx(1.0, abs=1e-9)
        assert est.parts[0].value == pytest.approx(1.0, abs=1e-9)


def test_cka_debiased_is_near_zero_for_independent_sides():
    # Independent isotropic sides: the debiased estimate has sd ~ sqrt(2) / N = 0.0014 at
    # N = 1000 (measured 0.0014 over 20 seeds), so |value| < 0.01 is ~7 sd. The biased one is
    # inflated to about (d d' / N) / sqrt((d + d^2/N)(d' + d'^2/N)) = 0.031 for d = d' = 32.
    rng = np.random.default_rng(16)
    est = linear_cka(rng.standard_normal((1000, 32)), rng.standard_normal((1000, 32)), n_bootstrap=0)
    assert abs(est.value) < 0.01
    assert est.parts[0].value == pytest.approx(0.031, abs=0.006)  # sd 0.0014 measured: 4 sd


def test_cka_ranks_dependence():
    values = [linear_cka(*correlated_gaussians(500, [r] * 8, seed=17)[:2], n_bootstrap=0).value for r in (0.2, 0.5, 0.8)]
    assert values[0] < values[1] < values[2]


# ------------------------------------------------------------------------- Gaussian / CCA


def test_gaussian_mi_matches_closed_form_reference():
    # Independent route: rho^2 = eigenvalues of Cxx^-1 Cxy Cyy^-1 Cyx (no PCA when d <= 32).
    X, Y, _ = correlated_gaussians(400, np.linspace(0.1, 0.9, 6), seed=18)
    C = np.cov(np.hstack([X, Y]).T)
    Cxx, Cyy, Cxy = C[:6, :6], C[6:, 6:], C[:6, 6:]
    rho2 = np.linalg.eigvals(np.linalg.solve(Cxx, Cxy) @ np.linalg.solve(Cyy, Cxy.T)).real
    est = gaussian_mi(X, Y, n_bootstrap=0)
    assert est.value == pytest.approx(-0.5 * np.log1p(-rho2).sum(), abs=1e-8)
    assert est.extra["n_components_x"] == 6


def test_gaussian_mi_recovers_true_mi_at_large_n():
    # Asymptotic sd of -1/2 log(1 - rho^2) is rho / sqrt(n) (delta method on rho_hat, whose
    # variance is (1 - rho^2)^2 / n), so sd(I_hat) ~ sqrt(sum rho_k^2 / n) = 0.010 here; bias
    # ~ p q / (2n) = 0.0016 (Bartlett). Tolerance: bias + 4 sd.
    rhos = np.linspace(0.1, 0.8, 8)
    n = 20_000
    X, Y, mi = correlated_gaussians(n, rhos, seed=19)
    est = gaussian_mi(X, Y, n_bootstrap=0)
    tol = 8 * 8 / (2 * n) + 4 * math.sqrt((rhos**2).sum() / n)
    assert est.value == pytest.approx(mi, abs=tol)
    # each sample canonical correlation has sd (1 - rho^2) / sqrt(n) <= 0.0071: 4 sd
    np.testing.assert_allclose(sorted(est.extra["canonical_correlations"]), rhos, atol=4 / math.sqrt(n))


def test_gaussian_mi_under_independence_matches_stated_bias():
    # Under independence -sum log(1 - rho^2) ~ chi^2_{pq} / (n - (p + q + 3)/2) (Bartlett), so the
    # value should sit at ``reference`` = pq / (2n - p - q - 3) = 0.016 with sd ~ sqrt(2pq)/(2n)
    # = 0.0028 (measured 0.0035 over 20 seeds); 0.015 is > 4 measured sd.
    rng = np.random.default_rng(20)
    est = gaussian_mi(rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)), n_bootstrap=0)
    assert est.reference == pytest.approx(64 / (4000 - 19))
    assert est.value == pytest.approx(est.reference, abs=0.015)


def test_gaussian_mi_ranks_dependence_and_uses_pca():
    values = []
    for r in (0.2, 0.5, 0.8):
        X, Y, _ = correlated_gaussians(1000, [r] * 8, seed=21)
        X, Y = np.hstack([X, 0.01 * X @ np.ones((8, 40))]), np.hstack([Y, Y[:, :3]])  # d > 32
        est = gaussian_mi(X, Y, n_components=8, n_bootstrap=0)
        values.append(est.value)
    assert est.extra["n_components_x"] == 8 and est.extra["n_components_y"] == 8
    assert values[0] < values[1] < values[2]


def test_gaussian_mi_needs_enough_pairs_for_cca():
    rng = np.random.default_rng(22)
    with pytest.raises(ValueError, match="n_components"):
        gaussian_mi(rng.standard_normal((20, 16)), rng.standard_normal((20, 16)), n_components=16)


# -------------------------------------------------------------------------------- KSG


@pytest.mark.parametrize("rho", [0.3, 0.9])
def test_ksg_matches_scikit_learn_in_one_dimension(rho):
    # mutual_info_regression implements the same estimator (KSG 1, max-norm) for scalar pairs;
    # the two differ only in 1e-10 tie-breaking noise, which moves no neighbour here.
    from sklearn.feature_selection import mutual_info_regression

    X, Y, _ = correlated_gaussians(1500, [rho], seed=23)
    ours = ksg_mi(X, Y, k=3, n_permutations=0, n_bootstrap=0).value
    theirs = mutual_info_regression(X, Y[:, 0], n_neighbors=3, random_state=0)[0]
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_ksg_recovers_true_mi_in_low_dimension():
    # 2 + 2 dims, N = 2000, k = 3: sd across 20 seeds measured 0.025 and mean bias +0.004
    # (Kraskov et al. 2004 likewise find KSG nearly unbiased for Gaussians); 0.1 = 4 sd.
    X, Y, mi = correlated_gaussians(2000, [0.5, 0.8], seed=24)
    est = ksg_mi(X, Y, n_components=2, n_permutations=0)
    assert est.value == pytest.approx(mi, abs=0.1)
    # no interval: with the neighbourhoods held fixed it never covered the truth (bench_coverage)
    assert est.n_bootstrap == 0 and math.isnan(est.ci_low) and math.isnan(est.ci_high)


def test_ksg_on_projection_ranks_dependence_below_truth():
    # 8 dims per side projected to 4: the estimate is MI of the projections (<= I by the data
    # processing inequality) and KSG is biased down in an 8-dim joint space, but it still ranks.
    values = []
    for r in (0.2, 0.5, 0.8):
        X, Y, mi = correlated_gaussians(1000, [r] * 8, seed=25)
        est = ksg_mi(X, Y, n_components=4, n_permutations=0, n_bootstrap=0)
        assert est.value < mi
        values.append(est.value)
    assert values[0] < values[1] < values[2]


def test_ksg_permutation_null_detects_dependence():
    X, Y, _ = correlated_gaussians(500, [0.5, 0.5], seed=26)
    est = ksg_mi(X, Y, n_components=2, n_permutations=19, n_bootstrap=0)
    assert est.p_value == pytest.approx(1 / 20)  # the smallest attainable with 19 permutations
    assert est.value > est.reference + 5 * est.extra["null_sd"]


def test_ksg_permutation_null_is_not_small_for_independent_data():
    # Under independence the p-value is ~ uniform on {1/20, ..., 1}: the mean of 5 has
    # expectation 0.525 and sd ~0.13, so a mean below 0.2 has probability ~1%.
    p_values = []
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        est = ksg_mi(rng.standard_normal((300, 2)), rng.standard_normal((300, 2)), n_permutations=19, n_bootstrap=0, seed=seed)
        p_values.append(est.p_value)
        assert abs(est.reference) < 0.05  # null mean ~ 0: KSG's bias under independence is small
    assert np.mean(p_values) > 0.2


# ------------------------------------------------------------------------------- probe


def test_probe_is_near_chance_for_language_free_data():
    # X and Y from one distribution: accuracy ~ chance 0.5 with sd ~ sqrt(0.25 / 1000) = 0.016
    # (measured 0.013 over 10 seeds); 0.06 is ~4 sd.
    rng = np.random.default_rng(27)
    est = language_probe(rng.standard_normal((500, 8)), rng.standard_normal((500, 8)))
    assert est.reference == 0.5
    assert est.value == pytest.approx(0.5, abs=0.06)


def test_probe_is_near_one_for_shifted_target():
    # Shift of norm 6 in unit-variance noise: Bayes accuracy Phi(3) = 0.9987; the fitted
    # probe loses a little, so require > 0.98.
    rng = np.random.default_rng(28)
    X = rng.standard_normal((500, 8))
    Y = rng.standard_normal((500, 8)) + np.r_[6.0, np.zeros(7)]
    est = language_probe(X, Y)
    assert est.value > 0.98 and est.higher_is_better is False


# --------------------------------------------------------------------------- cosine gap


def test_cosine_gap_matches_explicit_matrix_reference():
    X, Y, _ = correlated_gaussians(200, [0.5] * 8, seed=29, rotate=False)
    X, Y = X + 0.7, Y + 0.7
    S = unit(X) @ unit(Y).T
    off = ~np.eye(200, dtype=bool)
    est = cosine_gap(X, Y, n_bootstrap=0)
    parts = {p.name.split(".")[1]: p.value for p in est.parts}
    assert parts["paired"] == pytest.approx(np.diag(S).mean())
    assert parts["random_pairs"] == pytest.approx(S[off].mean())
    assert est.value == pytest.approx(np.diag(S).mean() - S[off].mean())
    Sx = unit(X) @ unit(X).T
    assert parts["anisotropy_x"] == pytest.approx(Sx[off].mean())


def test_cosine_gap_anisotropy_separates_isotropic_from_shared_direction():
    # Centred isotropic Gaussians: mean cosine of distinct rows is 0 with sd ~ 1 / (N sqrt(d)).
    rng = np.random.default_rng(30)
    X = rng.standard_normal((500, 16))
    est = cosine_gap(X, X + 0.01 * rng.standard_normal((500, 16)), n_bootstrap=0)
    parts = {p.name.split(".")[1]: p.value for p in est.parts}
    assert abs(parts["anisotropy_x"]) < 0.01
    assert parts["paired"] == pytest.approx(1.0, abs=1e-3)
    shifted = cosine_gap(X + 5.0, X + 5.0, n_bootstrap=0)  # |mu|^2 / (|mu|^2 + d) = 400/416
    assert {p.name: p.value for p in shifted.parts}["cosine_gap.anisotropy_x"] > 0.9


# ------------------------------------------------------------------------------- report


def test_report_is_tidy_and_equals_direct_calls():
    X, Y, _ = correlated_gaussians(120, [0.6] * 8, seed=31, rotate=False)
    options = {"ksg_mi": {"n_permutations": 3}, "infonce_bound": {"temperature": 0.1}}
    frame = alignment_report(X, Y, n_bootstrap=10, seed=3, options=options)
    assert list(frame.columns) == list(REPORT_COLUMNS)
    assert list(frame["measure"].unique()) == [m.value for m in Measure]
    assert frame.attrs == {"confidence": 0.95, "seed": 3}
    for measure, fn in MEASURES.items():
        direct = fn(X, Y, n_bootstrap=10, seed=3, **options.get(measure.value, {}))
        rows = frame[frame["measure"] == measure.value].set_index("name")
        for est in (direct, *direct.parts):
            row = rows.loc[est.name]
            got, expected = (row["value"], row["ci_low"], row["ci_high"]), (est.value, est.ci_low, est.ci_high)
            assert got == pytest.approx(expected, nan_ok=True)
            assert row["n"] == 120 and row["unit"] == est.unit and row["n_bootstrap"] == est.n_bootstrap
    assert frame.loc[frame["name"] == "infonce_bound", "reference"].item() == pytest.approx(math.log(120))
    no_interval = frame["name"].isin(["linear_cka.biased", "ksg_mi", "language_probe"])  # by design
    assert (frame.loc[~no_interval, "n_bootstrap"] == 10).all()
    assert frame.loc[no_interval, "ci_low"].isna().all() and (frame.loc[no_interval & (frame["name"] != "linear_cka.biased"), "n_bootstrap"] == 0).all()
    assert frame["higher_is_better"].dtype == "boolean"


def test_report_subset_order_and_dedup():
    X, Y, _ = correlated_gaussians(60, [0.6] * 4, seed=32)
    frame = alignment_report(X, Y, measures=["cosine_gap", Measure.ALIGNMENT_LOSS, "cosine_gap"], n_bootstrap=0)
    assert list(frame["measure"].unique()) == ["cosine_gap", "alignment_loss"]
    assert frame["ci_low"].isna().all()


def test_report_rejects_unknown_measure_and_option():
    X, Y, _ = correlated_gaussians(60, [0.6] * 4, seed=33)
    with pytest.raises(ValueError, match="'infonce_bound', 'bitext_accuracy'"):
        alignment_report(X, Y, measures=["mutual_information"])
    with pytest.raises(ValueError, match="unknown keyword 'temp'; valid keywords: temperature"):
        alignment_report(X, Y, measures=["infonce_bound"], options={"infonce_bound": {"temp": 0.1}})
    with pytest.raises(ValueError, match="not among the requested"):
        alignment_report(X, Y, measures=["cosine_gap"], options={"ksg_mi": {"k": 4}})


def test_estimate_is_a_frozen_record():
    X, Y, _ = correlated_gaussians(30, [0.6] * 4, seed=34)
    est = alignment_loss(X, Y, n_bootstrap=0)
    assert isinstance(est, Estimate) and isinstance(hash(est), int)
    with pytest.raises(AttributeError):
        est.value = 0.0  # type: ignore[misc]
    assert isinstance(alignment_report(X, Y, measures=["alignment_loss"], n_bootstrap=0), pd.DataFrame)


def test_two_pairs_give_nan_interval_without_warnings(recwarn):
    # With N = 2 half the replicates draw one item twice: no distinct pair, so no interval.
    rng = np.random.default_rng(35)
    est = uniformity_loss(rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), n_bootstrap=50)
    assert math.isfinite(est.value) and math.isnan(est.parts[0].ci_low)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_ksg_default_permutations_can_reach_significance_and_report_the_floor():
    from xqg_lab.alignment.knn import permutations_for

    X, Y, _ = correlated_gaussians(300, [0.6, 0.6], seed=27)
    est = ksg_mi(X, Y, n_components=2, n_bootstrap=0)
    assert est.extra["p_floor"] == pytest.approx(1 / (est.extra["n_permutations"] + 1))
    assert est.p_value == est.extra["p_floor"] < 0.05 / 4  # significant even after Holm over 4 tests
    frame = alignment_report(X, Y, measures=["ksg_mi"], n_bootstrap=0, options={"ksg_mi": {"n_components": 2}})
    assert frame.loc[frame["name"] == "ksg_mi", "p_floor"].item() == pytest.approx(est.extra["p_floor"])
    # Holm over m tests: the smallest adjusted p is m / (n + 1)
    for m in (1, 4, 11, 60):
        n = permutations_for(family_size=m)
        assert m / (n + 1) < 0.05 <= m / n


@pytest.mark.parametrize("config", ["demo.yaml", "alignment_demo.yaml"])
def test_demo_config_ksg_permutations_allow_p_below_005(config):
    import pathlib

    import yaml

    spec = yaml.safe_load((pathlib.Path(__file__).parents[1] / "configs" / config).read_text(encoding="utf-8"))
    (alignment,) = [nb for nb in spec["notebooks"] if nb["notebook"] == "alignment"]
    n = alignment["parameters"]["measure_options"]["ksg_mi"]["n_permutations"]
    assert 1 / (n + 1) < 0.05  # the demo applies no correction to the KSG p-values


def test_measure_table_prints_the_permutation_p_floor():
    from xqg_lab.studies.alignment_summary import measure_table

    X, Y, _ = correlated_gaussians(200, [0.6, 0.6], seed=28)
    frame = alignment_report(X, Y, measures=["ksg_mi", "linear_cka"], n_bootstrap=0,
                             options={"ksg_mi": {"n_components": 2, "n_permutations": 49}})  # fmt: skip
    frame = frame.assign(view="v", condition="plain", alpha=0.0, lang="de")
    row = measure_table(frame).iloc[0]
    assert row["ksg_mi"].endswith("p=0.02 (floor 0.02)") and "p=" not in row["linear_cka"]


@pytest.mark.slow
def test_gaussian_mi_interval_covers_when_pca_is_noisy():
    # 60-d sides, 4 correlated signal coordinates (variances 2 ... 1) among noise of variance
    # 0.5, N = 200, 4 PCA components: the sample's principal subspace is noisy. Holding it fixed
    # across replicates covered the true MI in 60% of these 60 data sets; refitted, 90% (MC sd
    # ~4%). The full setting of the notebook is bench/bench_coverage.py.
    rhos, var = np.linspace(0.8, 0.2, 4), np.linspace(2.0, 1.0, 4)
    truth = -0.5 * np.log1p(-(rhos**2)).sum()
    hits = []
    for i in range(60):
        rng = np.random.default_rng(i)
        sx = rng.standard_normal((200, 4))
        sy = rhos * sx + np.sqrt(1 - rhos**2) * rng.standard_normal((200, 4))
        X = np.hstack([sx * np.sqrt(var), np.sqrt(0.5) * rng.standard_normal((200, 56))])
        Y = np.hstack([sy * np.sqrt(var), np.sqrt(0.5) * rng.standard_normal((200, 56))])
        est = gaussian_mi(X, Y, n_components=4, n_bootstrap=100, seed=i)
        hits.append(est.ci_low <= truth <= est.ci_high)
    assert np.mean(hits) >= 0.8
