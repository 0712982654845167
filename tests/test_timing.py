"""Tests for xqg_lab.core.timing (StepTimer, the cell clock) and xqg_lab.core.progress (coarse,
switchable bars)."""

from __future__ import annotations

import time

import pytest

from xqg_lab.core import timing
from xqg_lab.core.progress import MIN_INTERVAL_S, tqdm
from xqg_lab.core.timing import LABEL_CHARS, PART, StepTimer, cell_label


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


@pytest.fixture
def shell(monkeypatch):
    """A real IPython shell (no kernel) and no cell clock yet; both gone after the test."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setattr(timing, "_CLOCK", None)
    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


def _run(shell, source):
    result = shell.run_cell(source, store_history=True)
    assert result.success, result.error_in_exec or result.error_before_exec


def test_cell_clock_rows_add_up_to_the_wall_time_since_the_kernel_started(shell):
    import psutil

    _run(shell, "import time\nfrom xqg_lab.core import timing")  # a cell before the clock
    _run(shell, "clock = timing.start_cell_clock()\ntime.sleep(0.05)")
    _run(shell, "# a comment\nfrom xqg_lab.core.timing import StepTimer\ntimer = StepTimer()\n"
                "with timer.step('encode'):\n    time.sleep(0.1)\ntimer.parts('encode', {'chunks': 0.04})\ntime.sleep(0.03)")
    _run(shell, "time.sleep(0.02)")
    _run(shell, "table = timing.cell_table()\nassert timing.start_cell_clock() is clock  # once per kernel")
    since_start = time.time() - psutil.Process().create_time()
    table = shell.user_ns["table"].set_index("step")
    assert list(table.index) == [
        "kernel start and 1 cell before the clock", "[2] clock = timing.start_cell_clock()",
        "[3] timer = StepTimer()", f"{PART}encode", f"{PART}  encode / chunks", f"{PART}other (not in a step)",
        "[4] time.sleep(0.02)", "[5] table = timing.cell_table()",
        "between cells (kernel idle)", "total (since the kernel started)",
    ]  # fmt: skip
    seconds = table["seconds"]
    top = [name for name in table.index[:-1] if not name.startswith(" ")]
    assert seconds[top].sum() == pytest.approx(seconds.iloc[-1])
    assert seconds.iloc[-1] == pytest.approx(since_start, abs=0.5)
    assert seconds["[2] clock = timing.start_cell_clock()"] >= 0.05
    assert seconds["[3] timer = StepTimer()"] >= 0.13 and seconds[f"{PART}encode"] >= 0.1
    assert seconds[f"{PART}encode"] + seconds[f"{PART}other (not in a step)"] == pytest.approx(
        seconds["[3] timer = StepTimer()"]
    )
    assert seconds[f"{PART}  encode / chunks"] == 0.04
    assert 0 <= seconds["between cells (kernel idle)"] < 0.5
    assert table["share"].iloc[-1] == 1.0


def test_cell_table_without_a_clock_says_why_instead_of_failing(shell, monkeypatch):
    import IPython

    assert "start_cell_clock() was not called" in timing.cell_table()["step"].iloc[0]
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert timing.start_cell_clock() is None and timing._CLOCK is None
    table = timing.cell_table()
    assert list(table["step"]) == ["not timed per cell: not running in IPython", "total (since the process started)"]
    assert table["seconds"].iloc[0] == table["seconds"].iloc[1] > 0


@pytest.mark.parametrize("source, label", [
    ("import os\n\n# set up\nx = os.sep", "x = os.sep"),
    ("from a import b\nimport c", "from a import b"),
    ("# only a comment", "(empty cell)"),
    ("y = " + "1 + " * 20 + "1", ("y = " + "1 + " * 20)[: LABEL_CHARS - 1] + "…"),
])  # fmt: skip
def test_a_cell_is_labelled_by_its_first_line_of_code_that_is_no_import(source, label):
    assert cell_label(source) == label


def test_progress_bar_is_coarse_and_can_be_switched_off(monkeypatch):
    assert tqdm(range(2)).mininterval == MIN_INTERVAL_S >= 1.0
    assert tqdm(range(2), mininterval=0.5).mininterval == 0.5
    monkeypatch.setenv("XQG_LAB_PROGRESS", "0")
    assert tqdm(range(2)).disable
