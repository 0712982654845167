"""Tests for xqg_lab.core.timing (StepTimer) and xqg_lab.core.progress (coarse, switchable bars)."""

from __future__ import annotations

import time

import pytest

from xqg_lab.core.progress import MIN_INTERVAL_S, tqdm
from xqg_lab.core.timing import StepTimer


def test_step_timer_rows_add_up_to_the_total():
    timer = StepTimer()
    with timer.step("a"):
        time.sleep(0.02)
    time.sleep(0.01)
    with timer.step("b"):
        time.sleep(0.01)
    timer.parts("a", {"x": 0.015, "y": 0.004})
    table = timer.table().set_index("step")
    assert list(table.index) == ["a", "  a / x", "  a / y", "b", "other (not in a step)", "total"]
    top = table.loc[["a", "b", "other (not in a step)"], "seconds"].sum()
    assert top == pytest.approx(table.loc["total", "seconds"])
    assert table.loc["a", "seconds"] >= 0.02
    assert table.loc["other (not in a step)", "seconds"] >= 0.01
    assert table.loc["total", "share"] == 1.0


def test_step_timer_parts_of_an_unknown_step_raise():
    with pytest.raises(ValueError, match=r"expected a step named 'z' timed before its parts"):
        StepTimer().parts("z", {"x": 1.0})


def test_progress_bar_is_coarse_and_can_be_switched_off(monkeypatch):
    assert tqdm(range(2)).mininterval == MIN_INTERVAL_S >= 1.0
    assert tqdm(range(2), mininterval=0.5).mininterval == 0.5
    monkeypatch.setenv("XQG_LAB_PROGRESS", "0")
    assert tqdm(range(2)).disable
