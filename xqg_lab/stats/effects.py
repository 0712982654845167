"""Effect sizes of paired differences: Cohen's d_z and win/tie/loss counts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from xqg_lab.stats.inputs import _paired_arrays
from xqg_lab.stats.types import WinTieLoss


def _is_constant(d: np.ndarray) -> bool:
    """All differences equal up to float rounding (relative spread <= 1e-12)."""
    return float(np.ptp(d)) <= 1e-12 * float(np.max(np.abs(d)))


def _effect_size(d: np.ndarray) -> float:
    mean = float(np.mean(d))
    sd = float(np.std(d, ddof=1))
    if sd == 0.0 or _is_constant(d):  # sd underflows to 0 for differences near the smallest floats
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd



def win_tie_loss(a: Any, b: Any, *, tolerance: float = 0.0) -> WinTieLoss:
    """Count queries where ``b`` wins (b - a > tolerance), ties (|b - a| <= tolerance) or loses.

    ``a``, ``b`` aligned as in :func:`paired_t_test` (n >= 1 here). ``tolerance`` >= 0 is in
    score units; the default 0 counts only exact equality as a tie.
    """
    if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and tolerance >= 0):
        raise ValueError(f"expected tolerance as a float >= 0 (score units), found {tolerance!r}")
    a_arr, b_arr, _ = _paired_arrays(a, b, min_n=1)
    d = b_arr - a_arr
    wins = int((d > tolerance).sum())
    losses = int((d < -tolerance).sum())
    return WinTieLoss(wins, len(d) - wins - losses, losses, len(d))

