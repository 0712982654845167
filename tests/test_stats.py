"""Tests for xqg_lab.stats (paired tests, Holm, bootstrap intervals, win/tie/loss, compare()) and the
tables of xqg_lab.present.tables."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from xqg_lab.stats import (
    Alternative,
    BootstrapCI,
    PairedTest,
    TestResult,
    WinTieLoss,
    bootstrap_ci,
    compare,
    holm,
    paired_bootstrap_ci,
    paired_t_test,
    paired_test,
    randomisation_test,
    wilcoxon_test,
    win_tie_loss,
    win_tie_loss_by,
)
from xqg_lab.present.tables import significance_caption, significance_table, to_csv, to_latex, to_markdown

A = np.array([0.20, 0.50, 0.10, 0.80, 0.40, 0.30, 0.90])
B = np.array([0.35, 0.55, 0.05, 0.95, 0.70, 0.30, 0.85])


def _series(values, ids):
    return pd.Series(np.asarray(values, dtype=float), index=list(ids))


def _holm_by_hand(p):
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adjusted_sorted = np.maximum.accumulate([min(1.0, (m - i) * p[j]) for i, j in enumerate(order)])
    out = np.empty(m)
    out[order] = adjusted_sorted
    return out


# --------------------------------------------------------------------------- t-test


def test_paired_t_test_matches_hand_computation():
    d = B - A
    n = len(d)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(n))
    res = paired_t_test(A, B)
    assert isinstance(res, TestResult)
    assert res.test == "t" and res.n == n and res.alternative == "two-sided"
    assert res.statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(2 * sps.t.sf(abs(t), n - 1))
    assert res.mean_diff == pytest.approx(d.mean())
    assert res.effect_size == pytest.approx(d.mean() / d.std(ddof=1))  # Cohen's d_z
    ref = sps.ttest_rel(B, A)
    assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue))


@pytest.mark.parametrize(
    "alternative, expected",
    [("greater", lambda t, df: sps.t.sf(t, df)), ("less", lambda t, df: sps.t.cdf(t, df))],
)
def test_paired_t_test_one_sided(alternative, expected):
    d = B - A
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    assert paired_t_test(A, B, alternative=alternative).p_value == pytest.approx(expected(t, len(d) - 1))


def test_paired_t_test_direction_is_b_minus_a():
    forward, backward = paired_t_test(A, B), paired_t_test(B, A)
    assert forward.statistic == pytest.approx(-backward.statistic)
    assert forward.p_value == pytest.approx(backward.p_value)
    assert forward.mean_diff > 0


def test_paired_t_test_aligns_series_by_query_id():
    ids = [f"q{i}" for i in range(len(A))]
    a = _series(A, ids)
    b = _series(B, ids).iloc[::-1]  # same ids, reversed order
    res = paired_t_test(a, b)
    assert res.statistic == pytest.approx(paired_t_test(A, B).statistic)


def test_paired_t_test_constant_nonzero_difference_is_infinite():
    res = paired_t_test([0.0, 0.25, 0.5], [0.5, 0.75, 1.0])
    assert res.statistic == math.inf and res.p_value == 0.0 and res.effect_size == math.inf
    assert paired_t_test([0.0, 0.25, 0.5], [0.5, 0.75, 1.0], alternative="less").p_value == 1.0
    assert res.note


# --------------------------------------------------------------------------- shared edge cases


@pytest.mark.parametrize("test", [t.value for t in PairedTest])
def test_all_zero_differences_give_p_one(test):
    a = [0.5, 0.0, 1.0, 0.25]
    res = paired_test(a, list(a), test=test)
    assert res.p_value == 1.0
    assert res.statistic == 0.0
    assert res.effect_size == 0.0 and res.mean_diff == 0.0 and res.n == 4
    assert "zero" in res.note


def test_wilcoxon_zsplit_all_zero_statistic_matches_scipy_convention():
    res = wilcoxon_test([1.0] * 5, [1.0] * 5, zero_method="zsplit")
    assert res.statistic == 5 * 6 / 4 and res.p_value == 1.0


@pytest.mark.parametrize("test", [t.value for t in PairedTest])
def test_single_query_is_refused(test):
    with pytest.raises(ValueError, match="at least 2 paired queries, found 1"):
        paired_test([0.5], [0.7], test=test)


@pytest.mark.parametrize("test", [t.value for t in PairedTest])
def test_nan_scores_are_refused_naming_query_ids(test):
    a = _series([0.1, np.nan, 0.3, 0.2], ["q1", "q2", "q3", "q4"])
    b = _series([0.2, 0.2, np.nan, 0.1], ["q1", "q2", "q3", "q4"])
    with pytest.raises(ValueError, match=r"NaN or inf for 1 queries \(query ids \['q2'\]\)"):
        paired_test(a, b, test=test)
    with pytest.raises(ValueError, match=r"in b, found NaN or inf for 1 queries \(query ids \['q3'\]\)"):
        paired_test(a.fillna(0.0), b, test=test)


def test_nan_in_arrays_is_refused_naming_positions():
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        paired_t_test([0.1, float("nan"), 0.3], [0.1, 0.2, 0.3])


def test_misaligned_series_are_refused_naming_how_many_ids_differ():
    a = _series([0.1, 0.2, 0.3], ["q1", "q2", "q3"])
    b = _series([0.1, 0.2, 0.3], ["q1", "q2", "q9"])
    with pytest.raises(ValueError, match=r"2 query ids that differ: 1 only in a \(e.g. \['q3'\]\), 1 only in b"):
        paired_t_test(a, b)


def test_different_lengths_are_refused():
    with pytest.raises(ValueError, match=r"same length .* found 3 and 4 \(1 queries differ\)"):
        paired_t_test([0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4])


def test_mixed_series_and_array_are_refused():
    with pytest.raises(TypeError, match="both as Series"):
        paired_t_test(_series([0.1, 0.2], ["q1", "q2"]), [0.1, 0.3])


def test_duplicated_query_ids_are_refused():
    with pytest.raises(ValueError, match="duplicated ids"):
        paired_t_test(_series([0.1, 0.2], ["q1", "q1"]), _series([0.1, 0.2], ["q1", "q2"]))


def test_test_result_is_frozen():
    res = paired_t_test(A, B)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.p_value = 0.0  # type: ignore[misc]


# --------------------------------------------------------------------------- Wilcoxon


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_wilcoxon_matches_scipy(zero_method, alternative):
    a = np.array([0.0, 0.5, 0.25, 1.0, 0.5, 0.0, 0.75, 0.2])
    b = np.array([0.0, 1.0, 0.5, 0.5, 1.0, 0.25, 0.75, 0.9])  # two zero differences, tied |d|
    res = wilcoxon_test(a, b, alternative=alternative, zero_method=zero_method)
    ref = sps.wilcoxon(b - a, zero_method=zero_method, alternative=alternative)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.effect_size == pytest.approx((b - a).mean() / (b - a).std(ddof=1))
    assert repr(zero_method) in res.method


def test_wilcoxon_exact_small_sample_by_hand():
    # d = 1..6, all positive: W- = 0 is the most extreme of 2**6 sign patterns on each side
    res = wilcoxon_test(np.zeros(6), np.arange(1.0, 7.0))
    assert res.statistic == 0.0
    assert res.p_value == pytest.approx(2 / 64)


# --------------------------------------------------------------------------- randomisation


D6 = np.array([1.0, 2.0, 3.0, 4.0, 5.0, -1.0])


def test_randomisation_exact_enumeration_n6():
    # all 2**6 sign flips enumerated by hand: observed sum 14; |d| = 1,2,3,4,5,1 (total 16).
    # |flipped sum| >= 14 needs the negated magnitudes to sum to <= 1: {}, {1}, {1'} -> 3 per side.
    flips = np.array(list(itertools.product([-1.0, 1.0], repeat=6)))
    null = (flips * np.abs(D6)).mean(axis=1)
    observed = D6.mean()
    p_two = np.mean(np.abs(null) >= abs(observed) - 1e-12)
    p_greater = np.mean(null >= observed - 1e-12)
    assert p_two == pytest.approx(6 / 64)
    assert p_greater == pytest.approx(3 / 64)

    res = randomisation_test(np.zeros(6), D6)  # 2**6 <= n_resamples: exact enumeration
    assert res.method.startswith("exact: all 64")
    assert res.p_value == pytest.approx(p_two)
    assert res.statistic == pytest.approx(observed) and res.mean_diff == pytest.approx(observed)
    assert randomisation_test(np.zeros(6), D6, alternative="greater").p_value == pytest.approx(p_greater)
    p_less = np.mean(null <= observed + 1e-12)  # all but the single pattern with sum 16
    assert p_less == pytest.approx(63 / 64)
    assert randomisation_test(np.zeros(6), D6, alternative="less").p_value == pytest.approx(p_less)


def test_randomisation_monte_carlo_close_to_exact_and_seeded():
    rng = np.random.default_rng(3)
    d = np.round(rng.normal(0.1, 0.3, size=14), 2)  # 2**14 = 16384 > 9999: Monte Carlo
    flips = np.array(list(itertools.product([-1.0, 1.0], repeat=14)))
    exact = np.mean(np.abs(flips @ np.abs(d)) >= abs(d.sum()) - 1e-9)
    res = randomisation_test(np.zeros(14), d, n_resamples=9999, seed=1)
    assert res.method.startswith("Monte Carlo: 9999")
    assert res.p_value == pytest.approx(exact, abs=0.015)
    assert randomisation_test(np.zeros(14), d, n_resamples=9999, seed=1) == res
    # enough resamples switches to exact enumeration
    assert randomisation_test(np.zeros(14), d, n_resamples=2**14).p_value == pytest.approx(exact)


def test_randomisation_rejects_bad_n_resamples():
    with pytest.raises(ValueError, match="n_resamples"):
        randomisation_test(A, B, n_resamples=0)


# --------------------------------------------------------------------------- dispatcher


def test_paired_test_dispatches_to_each_test():
    assert paired_test(A, B, test="t") == paired_t_test(A, B)
    assert paired_test(A, B, test=PairedTest.WILCOXON, zero_method="pratt") == wilcoxon_test(A, B, zero_method="pratt")
    assert paired_test(A, B, test="randomisation", seed=5) == randomisation_test(A, B, seed=5)


def test_paired_test_unknown_name_lists_valid_values():
    with pytest.raises(ValueError, match=r"one of 't', 'wilcoxon', 'randomisation', found 'sign'"):
        paired_test(A, B, test="sign")


def test_paired_test_rejects_options_of_other_tests():
    with pytest.raises(TypeError, match=r"unexpected \['zero_method'\]"):
        paired_test(A, B, test="t", zero_method="wilcox")


def test_unknown_alternative_lists_valid_values():
    valid = ", ".join(repr(a.value) for a in Alternative)
    with pytest.raises(ValueError, match=f"one of {valid}"):
        paired_t_test(A, B, alternative="bigger")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=3, max_size=20))
@example([(0.0, 0.0), (0.0, 0.0), (0.0, 5e-324)])  # sd and mean underflow to 0: scipy gives NaN
def test_paired_t_test_swapping_inputs_negates_statistic(pairs):
    a, b = np.array(pairs).T
    forward, backward = paired_t_test(a, b), paired_t_test(b, a)
    assert forward.p_value == pytest.approx(backward.p_value, nan_ok=True)
    assert 0.0 <= forward.p_value <= 1.0


# --------------------------------------------------------------------------- Holm


def test_holm_hand_worked_example():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running max 0.06)
    expected = [0.03, 0.06, 0.06, 0.02]
    assert holm(p) == pytest.approx(expected)
    assert holm(p) == pytest.approx(_holm_by_hand(p))


def test_holm_caps_at_one_and_handles_empty():
    assert holm([0.5, 0.6, 1.0]) == pytest.approx([1.0, 1.0, 1.0])
    assert holm([]).shape == (0,)


@pytest.mark.parametrize("bad", [[0.1, float("nan")], [0.1, 1.5], [-0.1]])
def test_holm_rejects_invalid_p_values(bad):
    with pytest.raises(ValueError, match=r"p-values in \[0, 1\]"):
        holm(bad)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_matches_hand_rule(p):
    adjusted = holm(p)
    assert adjusted == pytest.approx(_holm_by_hand(p))
    assert (adjusted >= np.asarray(p) - 1e-15).all()


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_covers_true_mean_in_seeded_simulation():
    rng = np.random.default_rng(0)
    true_mean, covered = 0.4, 0
    n_reps = 100
    for rep in range(n_reps):
        sample = rng.normal(true_mean, 0.25, size=30)
        ci = bootstrap_ci(sample, n_resamples=999, seed=rep)
        covered += ci.low <= true_mean <= ci.high
    assert 0.85 <= covered / n_reps <= 1.0  # nominal 0.95


def test_bootstrap_ci_shrinks_with_n():
    rng = np.random.default_rng(1)
    small = bootstrap_ci(rng.random(25), n_resamples=999)
    large = bootstrap_ci(rng.random(400), n_resamples=999)
    assert (large.high - large.low) < 0.5 * (small.high - small.low)  # width ~ 1/sqrt(n): ratio ~ 1/4


@pytest.mark.parametrize("method", ["BCa", "percentile", "basic"])
def test_bootstrap_ci_matches_scipy_with_same_seed(method):
    x = np.random.default_rng(2).random(20)
    ci = bootstrap_ci(x, n_resamples=499, method=method, seed=7, confidence=0.9)
    ref = sps.bootstrap((x,), np.mean, n_resamples=499, method=method, confidence_level=0.9,
                        rng=np.random.default_rng(7)).confidence_interval
    assert isinstance(ci, BootstrapCI)
    assert (ci.low, ci.high) == pytest.approx((ref.low, ref.high))
    assert ci.estimate == pytest.approx(x.mean()) and ci.n == 20 and ci.method == method


def test_bootstrap_ci_constant_data_is_degenerate_interval():
    ci = bootstrap_ci(np.full(5, 0.25))
    assert (ci.estimate, ci.low, ci.high) == (0.25, 0.25, 0.25)


def test_bootstrap_ci_other_statistic():
    x = np.arange(1.0, 12.0)
    ci = bootstrap_ci(x, statistic=np.median, method="percentile", n_resamples=999)
    assert ci.estimate == 6.0 and ci.low <= 6.0 <= ci.high


def test_bootstrap_ci_rejects_bad_options():
    with pytest.raises(ValueError, match=r"one of 'BCa', 'percentile', 'basic'"):
        bootstrap_ci(A, method="bca")
    with pytest.raises(ValueError, match=r"confidence in \(0, 1\)"):
        bootstrap_ci(A, confidence=95)
    with pytest.raises(ValueError, match="at least 2 values"):
        bootstrap_ci([0.3])


def test_paired_bootstrap_ci_is_bootstrap_of_differences():
    assert paired_bootstrap_ci(A, B, n_resamples=499) == bootstrap_ci(B - A, n_resamples=499)


# --------------------------------------------------------------------------- win / tie / loss


def test_win_tie_loss_hand_fixture():
    a = [0.5, 0.5, 0.2, 1.0, 0.0]
    b = [0.7, 0.5, 0.1, 1.0, 0.05]
    assert win_tie_loss(a, b) == WinTieLoss(wins=2, ties=2, losses=1, n=5)
    assert win_tie_loss(a, b, tolerance=0.06) == WinTieLoss(wins=1, ties=3, losses=1, n=5)
    assert win_tie_loss([0.3], [0.4]) == WinTieLoss(1, 0, 0, 1)  # a single query is fine here
    with pytest.raises(ValueError, match="tolerance"):
        win_tie_loss(a, b, tolerance=-1)


# --------------------------------------------------------------------------- compare()


@pytest.fixture
def frames():
    """Two languages x 4 queries; MRR@10 improves, R@5 is unchanged (ar) or mixed (fi)."""
    baseline = pd.DataFrame({
        "query_id": ["a1", "a2", "a3", "a4", "f1", "f2", "f3", "f4"],
        "lang": ["ar"] * 4 + ["fi"] * 4,
        "MRR@10": [0.5, 0.25, 0.5, 0.0, 0.2, 0.4, 0.6, 0.1],
        "R@5": [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0],
    })
    treatment = pd.DataFrame({
        "query_id": ["a1", "a2", "a3", "a4", "f1", "f2", "f3", "f4"],
        "lang": ["ar"] * 4 + ["fi"] * 4,
        "MRR@10": [1.0, 0.75, 0.625, 0.5, 0.7, 0.9, 1.0, 0.6],  # d_ar = .5 .5 .125 .5; d_fi = .5 .5 .4 .5
        "R@5": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0],  # d_ar = 0; d_fi = 1 0 -1 0
    })
    return baseline, treatment


def _t_p(d):
    d = np.asarray(d)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    return t, 2 * sps.t.sf(abs(t), len(d) - 1)


def test_compare_two_languages_expected_rows(frames):
    baseline, treatment = frames
    out = compare(baseline, treatment, measures=["MRR@10", "R@5"], n_resamples=999)
    assert list(out["lang"]) == ["ar", "ar", "fi", "fi"]
    assert list(out["measure"]) == ["MRR@10", "R@5", "MRR@10", "R@5"]
    assert list(out["n"]) == [4, 4, 4, 4]

    t_ar, p_ar = _t_p([0.5, 0.5, 0.125, 0.5])  # t = 0.40625 / (0.1875 / 2) = 4.333
    t_fi, p_fi = _t_p([0.5, 0.5, 0.4, 0.5])  # t = 0.475 / (0.05 / 2) = 19
    assert t_ar == pytest.approx(0.40625 / 0.09375) and t_fi == pytest.approx(19.0)
    assert out["statistic"].tolist() == pytest.approx([t_ar, 0.0, t_fi, 0.0])
    p = [p_ar, 1.0, p_fi, 1.0]  # all-zero (ar R@5) and zero-mean (fi R@5) rows give p = 1
    assert out["p_value"].tolist() == pytest.approx(p)
    # Holm over the 4 rows: p_fi*4, p_ar*3 (= 0.068 > 0.05), then 1, 1
    assert out["p_adjusted"].tolist() == pytest.approx([3 * p_ar, 1.0, 4 * p_fi, 1.0])
    assert p_ar < 0.05 < 3 * p_ar
    assert out["significant"].tolist() == [False, False, True, False]

    assert out["baseline_mean"].tolist() == pytest.approx([0.3125, 0.5, 0.325, 0.5])
    assert out["treatment_mean"].tolist() == pytest.approx([0.71875, 0.5, 0.8, 0.5])
    assert out["diff"].tolist() == pytest.approx([0.40625, 0.0, 0.475, 0.0])
    assert out["rel_diff_pct"].tolist() == pytest.approx([130.0, 0.0, 100 * 0.475 / 0.325, 0.0])
    assert out["effect_size"].tolist() == pytest.approx([0.40625 / 0.1875, 0.0, 0.475 / 0.05, 0.0])
    assert out[["wins", "ties", "losses"]].to_numpy().tolist() == [[4, 0, 0], [0, 4, 0], [4, 0, 0], [1, 2, 1]]
    assert (out["ci_low"] <= out["diff"] + 1e-12).all() and (out["diff"] <= out["ci_high"] + 1e-12).all()
    assert (out.loc[1, "ci_low"], out.loc[1, "ci_high"]) == (0.0, 0.0)
    ci = paired_bootstrap_ci(baseline["MRR@10"][:4], treatment["MRR@10"][:4], n_resamples=999)
    assert (out.loc[0, "ci_low"], out.loc[0, "ci_high"]) == pytest.approx((ci.low, ci.high))
    assert out["test"].unique().tolist() == ["t"] and out["correction"].unique().tolist() == ["holm"]
    assert out["level"].unique().tolist() == [0.05] and out["family_size"].unique().tolist() == [4]


def test_compare_without_correction_keeps_raw_p(frames):
    out = compare(*frames, measures=["MRR@10", "R@5"], correction="none", n_resamples=99)
    assert out["p_adjusted"].tolist() == pytest.approx(out["p_value"].tolist())
    assert out["significant"].tolist() == [True, False, True, False]


def test_compare_family_is_the_rows_of_the_call(frames):
    one = compare(*frames, measures=["MRR@10"], n_resamples=99)
    _, p_ar = _t_p([0.5, 0.5, 0.125, 0.5])
    _, p_fi = _t_p([0.5, 0.5, 0.4, 0.5])
    # family of 2 rows: the smaller p (fi) is doubled, the larger (ar) kept
    assert one["p_adjusted"].tolist() == pytest.approx([p_ar, 2 * p_fi])
    assert one["family_size"].unique().tolist() == [2]


def test_compare_is_independent_of_row_order(frames):
    baseline, treatment = frames
    shuffled = treatment.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(
        compare(baseline, shuffled, measures=["MRR@10", "R@5"], n_resamples=99),
        compare(baseline, treatment, measures=["MRR@10", "R@5"], n_resamples=99),
    )


@pytest.mark.parametrize("test", ["wilcoxon", "randomisation"])
def test_compare_other_tests_match_the_functions(frames, test):
    baseline, treatment = frames
    out = compare(baseline, treatment, measures=["MRR@10"], test=test, n_resamples=999)
    a = _series(baseline["MRR@10"][4:], baseline["query_id"][4:])
    b = _series(treatment["MRR@10"][4:], treatment["query_id"][4:])
    res = paired_test(a, b, test=test, **({"n_resamples": 999} if test == "randomisation" else {}))
    assert out.loc[out["lang"] == "fi", "p_value"].item() == pytest.approx(res.p_value)
    assert out["test"].unique().tolist() == [test]


def test_compare_by_none_is_one_group(frames):
    out = compare(*frames, measures=["MRR@10"], by=None, n_resamples=99)
    assert list(out.columns[:2]) == ["group", "measure"]
    assert out["group"].tolist() == ["all"] and out["n"].tolist() == [8]


def test_compare_refuses_misaligned_query_ids(frames):
    baseline, treatment = frames
    with pytest.raises(ValueError, match=r"2 query ids that differ: 1 only in baseline \(e.g. \['a4'\]\), 1 only"):
        compare(baseline, treatment.replace({"query_id": {"a4": "a5"}}), measures=["MRR@10"])


def test_compare_refuses_inconsistent_languages(frames):
    baseline, treatment = frames
    treatment = treatment.assign(lang=["ar"] * 5 + ["fi"] * 3)
    with pytest.raises(ValueError, match=r"same 'lang' .* 1 query ids that differ \(e.g. 'f1'"):
        compare(baseline, treatment, measures=["MRR@10"])


def test_compare_refuses_nan_naming_query_ids(frames):
    baseline, treatment = frames
    treatment = treatment.copy()
    treatment.loc[treatment["query_id"] == "f3", "R@5"] = np.nan
    with pytest.raises(ValueError, match=r"treatment frame: expected finite 'R@5' scores, .* \(\['f3'\]\)"):
        compare(baseline, treatment, measures=["MRR@10", "R@5"])


def test_compare_refuses_single_query_groups(frames):
    baseline, treatment = frames
    relabel = {"lang": ["ar"] * 4 + ["fi"] * 3 + ["sw"]}
    with pytest.raises(ValueError, match=r"at least 2 queries per 'lang' group .* \{'sw': 1\}"):
        compare(baseline.assign(**relabel), treatment.assign(**relabel), measures=["MRR@10"])


def test_compare_refuses_missing_columns_and_bad_options(frames):
    baseline, treatment = frames
    with pytest.raises(ValueError, match=r"expected a column 'lang'.*merge\(queries"):
        compare(baseline.drop(columns="lang"), treatment, measures=["MRR@10"])
    with pytest.raises(ValueError, match=r"measure columns \['nDCG@10'\]"):
        compare(baseline, treatment, measures=["nDCG@10"])
    with pytest.raises(ValueError, match=r"correction to be one of 'holm', 'none'"):
        compare(baseline, treatment, measures=["MRR@10"], correction="bonferroni")
    with pytest.raises(ValueError, match="zero_method applies to test='wilcoxon' only"):
        compare(baseline, treatment, measures=["MRR@10"], zero_method="pratt")
    with pytest.raises(ValueError, match=r"level \(the significance level\) in \(0, 1\)"):
        compare(baseline, treatment, measures=["MRR@10"], level=5)
    with pytest.raises(TypeError, match="str query ids"):
        compare(baseline.assign(query_id=range(8)), treatment, measures=["MRR@10"])


def test_win_tie_loss_by_language(frames):
    out = win_tie_loss_by(*frames, measures=["R@5", "MRR@10"])
    assert out.columns.tolist() == ["lang", "measure", "wins", "ties", "losses", "n"]
    assert out.values.tolist() == [
        ["ar", "R@5", 0, 4, 0, 4], ["ar", "MRR@10", 4, 0, 0, 4],
        ["fi", "R@5", 1, 2, 1, 4], ["fi", "MRR@10", 4, 0, 0, 4],
    ]


# --------------------------------------------------------------------------- tables


@pytest.fixture
def comparison(frames):
    return compare(*frames, measures=["MRR@10", "R@5"], n_resamples=99)


def test_significance_table_marks_significant_cells(comparison):
    table = significance_table(comparison, baseline_name="BM25", treatment_name="xQG")
    assert table.index.tolist() == ["ar", "fi"] and table.index.name == "lang"
    assert table.columns.tolist() == [("MRR@10", "BM25"), ("MRR@10", "xQG"), ("R@5", "BM25"), ("R@5", "xQG")]
    assert table.loc["fi", ("MRR@10", "xQG")] == "0.800†"  # Holm-significant
    assert table.loc["ar", ("MRR@10", "xQG")] == "0.719"  # p = 0.023 raw, 0.068 after Holm
    assert table.loc["fi", ("MRR@10", "BM25")] == "0.325"
    assert table.loc["ar", ("R@5", "xQG")] == "0.500"
    caption = table.attrs["caption"]
    for part in ["paired t-test", "two-sided", "Holm", "4 comparisons", "p < 0.05", "BM25"]:
        assert part in caption


def test_significance_table_options(comparison):
    table = significance_table(comparison, measures=["MRR@10"], percent=True, digits=1, arrows=True,
                               show_baseline=False, marker="*")
    assert table.columns.tolist() == [("MRR@10", "treatment")]
    assert table[("MRR@10", "treatment")].tolist() == ["71.9", "80.0*↑"]
    assert "↑/↓" in table.attrs["caption"] and table.attrs["caption"].startswith("*")


def test_significance_table_several_systems(frames, comparison):
    baseline, treatment = frames
    other = compare(baseline, treatment.assign(**{"MRR@10": baseline["MRR@10"] + 0.01}),
                    measures=["MRR@10", "R@5"], n_resamples=99)
    table = significance_table({"xQG": comparison, "doc2query": other}, measures=["MRR@10"])
    assert table.columns.tolist() == [("MRR@10", "baseline"), ("MRR@10", "xQG"), ("MRR@10", "doc2query")]
    assert table.loc["fi", ("MRR@10", "doc2query")] == "0.335†"  # constant +0.01 gain: t = inf, p = 0
    assert "within each system separately" in table.attrs["caption"] and "not corrected jointly" in table.attrs["caption"]
    with pytest.raises(ValueError, match="treatment_name applies to a single comparison"):
        significance_table({"xQG": comparison}, treatment_name="x")
    shifted = compare(baseline.assign(**{"MRR@10": baseline["MRR@10"] + 0.1}), treatment,
                      measures=["MRR@10", "R@5"], n_resamples=99)
    with pytest.raises(ValueError, match="share the baseline"):
        significance_table({"xQG": comparison, "other": shifted})


def test_significance_table_refuses_mixed_settings(frames, comparison):
    wilcoxon = compare(*frames, measures=["MRR@10", "R@5"], test="wilcoxon", n_resamples=99)
    with pytest.raises(ValueError, match="expected one 'test'"):
        significance_caption({"a": comparison, "b": wilcoxon})
    with pytest.raises(ValueError, match=r"\(the output of compare\(\)\) with the column\(s\) 'p_adjusted', found columns"):
        significance_table(comparison.drop(columns="p_adjusted"))


def test_to_markdown_contains_expected_cells(comparison):
    md = to_markdown(significance_table(comparison))
    lines = md.splitlines()
    assert lines[0] == "| lang | MRR@10 baseline | MRR@10 treatment | R@5 baseline | R@5 treatment |"
    assert lines[1] == "|:---|---:|---:|---:|---:|"
    assert lines[3] == "| fi | 0.325 | 0.800† | 0.500 | 0.500 |"
    assert lines[-1].startswith("Table: † marks a significant difference")
    assert "Table:" not in to_markdown(significance_table(comparison), caption="")


def test_to_latex_contains_expected_cells(comparison):
    tex = to_latex(significance_table(comparison), label="tab:xqg")
    assert r"\begin{table}" in tex and r"\label{tab:xqg}" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex
    assert r"\multicolumn{2}{c}{MRR@10}" in tex
    assert r"fi & 0.325 & 0.800\textsuperscript{\dag} & 0.500 & 0.500 \\" in tex
    assert r"\caption{\textsuperscript{\dag} marks a significant difference" in tex
    assert r"p $<$ 0.05" in tex


def test_to_latex_escapes_special_characters():
    table = pd.DataFrame({"R_5 (%)": ["50%", "1&2"]}, index=pd.Index(["zh_cn", "ja"], name="lang"))
    tex = to_latex(table)
    assert r"R\_5 (\%)" in tex and r"zh\_cn & 50\% \\" in tex and r"ja & 1\&2 \\" in tex
    assert r"\begin{table}" not in tex  # no caption, no label: a bare tabular


def test_to_csv_contains_expected_cells(comparison):
    text = to_csv(significance_table(comparison))
    assert text.splitlines()[0] == "measure,MRR@10,MRR@10,R@5,R@5"
    assert "fi,0.325,0.800†,0.500,0.500" in text.splitlines()


def test_stack_comparisons_puts_systems_in_one_frame():
    from xqg_lab.stats import stack_comparisons

    a = pd.DataFrame({"query_id": ["1", "2", "3"], "lang": "ar", "m": [0.1, 0.2, 0.3]})
    b = a.assign(m=[0.2, 0.4, 0.3])
    stacked = stack_comparisons({"x": compare(a, b, measures=["m"]), "y": compare(a, a, measures=["m"])})
    assert stacked.columns[0] == "system" and stacked["system"].tolist() == ["x", "y"]
    assert stacked["diff"].tolist() == pytest.approx([0.1, 0.0])
    with pytest.raises(ValueError, match="empty mapping"):
        stack_comparisons({})


# --------------------------------------------------------------------- progress bars


class _RecordingBar:
    """Stands in for ``xqg_lab.core.progress.tqdm``: records totals and updates."""

    made: list = []

    def __init__(self, *, total, disable=False, **_):
        self.total, self.disable, self.n, self.closed = total, disable, 0, False
        _RecordingBar.made.append(self)

    def update(self, n=1):
        self.n += n

    def close(self):
        self.closed = True


@pytest.mark.parametrize("module", ["bootstrap", "permutation"])
def test_progress_bar_counts_resamples_and_leaves_the_numbers_alone(module, monkeypatch):
    import importlib

    monkeypatch.setattr(importlib.import_module(f"xqg_lab.stats.{module}"), "tqdm", _RecordingBar)
    _RecordingBar.made = []
    x = np.linspace(-1.0, 2.0, 40)
    if module == "bootstrap":
        plain, shown = (bootstrap_ci(x, n_resamples=500, progress=p) for p in (False, True))
    else:
        plain, shown = (randomisation_test(np.zeros(40), x, n_resamples=500, progress=p) for p in (False, True))
    assert plain == shown
    bar = _RecordingBar.made[-1]
    assert not bar.disable and bar.closed and bar.total == 500 and bar.n == 500


def test_compare_progress_bar_has_one_step_per_row(frames, monkeypatch):
    import importlib

    compare_module = importlib.import_module("xqg_lab.stats.comparison")

    monkeypatch.setattr(compare_module, "tqdm", _RecordingBar)
    _RecordingBar.made = []
    shown = compare(*frames, measures=["MRR@10", "R@5"], n_resamples=99, progress=True)
    pd.testing.assert_frame_equal(shown, compare(*frames, measures=["MRR@10", "R@5"], n_resamples=99))
    bar = _RecordingBar.made[0]
    assert bar.total == bar.n == len(shown) == 4 and bar.closed


# --------------------------------------------------------------------- writing the tables


def test_write_significance_tables_writes_every_format_of_each_comparison(comparison, tmp_path):
    from xqg_lab.present.tables import write_significance_tables
    from xqg_lab.stats import stack_comparisons

    tables = write_significance_tables(
        {"held-out human": comparison, "two systems": {"a": comparison, "b": comparison}}, "xqg",
        baseline_name={"held-out human": "baseline", "two systems": "BM25"}, treatment_suffix=" α=0.3",
        output_dir=tmp_path,
    )  # fmt: skip
    single = significance_table(comparison, baseline_name="baseline", treatment_name="held-out human α=0.3")
    pd.testing.assert_frame_equal(tables["held-out human"], single)
    assert (tmp_path / "xqg_held_out_human_table.md").read_text() == to_markdown(single)
    assert (tmp_path / "xqg_held_out_human_table.tex").read_text() == to_latex(single)
    assert (tmp_path / "xqg_held_out_human_table.csv").read_text() == to_csv(single)
    assert (tmp_path / "xqg_held_out_human_comparison.csv").read_text() == comparison.to_csv(index=False)
    both = significance_table({"a": comparison, "b": comparison}, baseline_name="BM25")
    assert (tmp_path / "xqg_two_systems_table.md").read_text() == to_markdown(both)
    stacked = stack_comparisons({"a": comparison, "b": comparison})
    assert (tmp_path / "xqg_two_systems_comparison.csv").read_text() == stacked.to_csv(index=False)
    assert "level" in comparison.columns and "alpha" not in comparison.columns
