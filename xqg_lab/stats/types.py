"""Closed choices and result types of :mod:`xqg_lab.stats`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from xqg_lab.core.validation import Choice


# --------------------------------------------------------------------------- closed choices


class PairedTest(Choice, label="test"):
    """Paired significance tests: ``"t"`` (paired t-test, the paper's choice), ``"wilcoxon"``
    (signed-rank) and ``"randomisation"`` (sign-flip permutation test of the mean difference)."""

    T = "t"
    WILCOXON = "wilcoxon"
    RANDOMISATION = "randomisation"


class Alternative(Choice, label="alternative"):
    """Alternative hypothesis about ``d = b - a``: ``"greater"`` means the treatment ``b`` scores higher."""

    TWO_SIDED = "two-sided"
    GREATER = "greater"
    LESS = "less"


class Correction(Choice, label="correction"):
    """Multiple-comparison correction applied by :func:`compare`: ``"holm"`` or ``"none"``."""

    HOLM = "holm"
    NONE = "none"


class CIMethod(Choice, label="method"):
    """Bootstrap interval methods of ``scipy.stats.bootstrap``: ``"BCa"`` (default), ``"percentile"``, ``"basic"``."""

    BCA = "BCa"
    PERCENTILE = "percentile"
    BASIC = "basic"


class _ZeroMethod(Choice, label="zero_method"):
    WILCOX = "wilcox"
    PRATT = "pratt"
    ZSPLIT = "zsplit"


@dataclass(frozen=True)
class TestResult:
    """Outcome of one paired test on ``d = b - a`` (treatment minus baseline).

    Attributes
    ----------
    test : ``"t"``, ``"wilcoxon"`` or ``"randomisation"`` (:class:`PairedTest` values).
    statistic : t (t-test); W as returned by scipy (two-sided: min(W+, W-), one-sided: W+)
        (Wilcoxon); mean(d) (randomisation).
    p_value : in [0, 1], uncorrected.
    n : number of paired queries (including zero differences).
    mean_diff : mean(b - a), in the units of the scores.
    effect_size : Cohen's d_z = mean(d) / sd(d, ddof=1); 0 when all d are 0, ±inf when all d are
        equal and non-zero.
    alternative : ``"two-sided"``, ``"greater"`` (b > a) or ``"less"``.
    method : how p was obtained (e.g. ``"exact: all 64 sign assignments"``).
    note : set when a convention replaced the library's answer (e.g. all differences zero).
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float
    n: int
    mean_diff: float
    effect_size: float
    alternative: str
    method: str
    note: str = ""


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap confidence interval ``[low, high]`` for ``statistic`` at level ``confidence``.

    ``estimate`` is the statistic on the original sample; ``n`` the sample size; ``method`` the
    scipy interval method; ``n_resamples`` the number of bootstrap resamples.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n_resamples: int
    n: int


@dataclass(frozen=True)
class WinTieLoss:
    """Counts of queries where ``b`` beats ``a`` (win), ties within the tolerance, or loses; ``n`` = total."""

    wins: int
    ties: int
    losses: int
    n: int

