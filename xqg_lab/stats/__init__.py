"""Significance statistics over per-query scores.

The paper (Zhuang, Shou and Zuccon, SIGIR 2023, arXiv 2305.03950) marks improvements with a
paired t-test at p < 0.05. This package offers that test, two alternatives (Wilcoxon
signed-rank, paired randomisation), Holm correction over a family of comparisons, bootstrap
confidence intervals, win/tie/loss counts and :func:`compare`, which puts them in one tidy frame;
the tables that report them are :mod:`xqg_lab.present.tables`.

Conventions used everywhere in this package:

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

Modules: ``types`` (closed choices, result types), ``paired`` (t-test, Wilcoxon, any test by
name), ``permutation`` (randomisation test), ``correction`` (Holm), ``bootstrap`` (intervals),
``effects`` (Cohen's d_z, win/tie/loss), ``comparison`` (:func:`compare`: per group and measure, in one frame).
The significance level is called ``level`` (``alpha`` is the fusion weight of xQG).
"""

from xqg_lab.stats.bootstrap import bootstrap_ci, paired_bootstrap_ci
from xqg_lab.stats.comparison import (
    COMPARE_COLUMNS,
    check_measures,
    compare,
    comparison_group_column,
    stack_comparisons,
    win_tie_loss_by,
)
from xqg_lab.stats.correction import holm
from xqg_lab.stats.effects import win_tie_loss
from xqg_lab.stats.paired import paired_t_test, paired_test, wilcoxon_test
from xqg_lab.stats.permutation import randomisation_test
from xqg_lab.stats.types import Alternative, BootstrapCI, CIMethod, Correction, PairedTest, TestResult, WinTieLoss

__all__ = [
    "PairedTest",
    "Alternative",
    "Correction",
    "CIMethod",
    "TestResult",
    "BootstrapCI",
    "WinTieLoss",
    "COMPARE_COLUMNS",
    "paired_t_test",
    "wilcoxon_test",
    "randomisation_test",
    "paired_test",
    "holm",
    "bootstrap_ci",
    "paired_bootstrap_ci",
    "win_tie_loss",
    "win_tie_loss_by",
    "check_measures",
    "compare",
    "comparison_group_column",
    "stack_comparisons",
]
