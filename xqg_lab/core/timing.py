"""Wall-clock timings of a notebook, as tables whose rows add up to its wall time.

- :class:`StepTimer`: named steps inside one cell (e.g. encoding, search, scoring);
- the cell clock (:func:`start_cell_clock`, :func:`cell_table`): every cell of the kernel, from
  IPython's ``pre_run_cell`` / ``post_run_cell`` events, with the steps of the StepTimers
  created in a cell listed under it. Written by hand: ``%%time`` / ``%timeit`` time one cell
  or statement, and the extensions that time every cell only print.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd

LABEL_CHARS = 44
"""Characters of a cell's first line of code kept in its row label (pandas shows 50 of a cell)."""
PART = "  └ "
"""Prefix of the rows of :func:`cell_table` that are parts of the cell above them (HTML shows
leading spaces as one)."""


class StepTimer:
    """Record the seconds of named steps; :meth:`table` lists them with what is left over.

    The clock starts at construction: the table's ``total`` is the wall time since then and
    ``other (not in a step)`` the part no step accounts for, so the rows add up to the total.
    Sub-steps (e.g. a result's ``seconds``) are listed under their step without being counted
    twice. A StepTimer created while the cell clock runs is also listed under its cell in
    :func:`cell_table`.
    """

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._steps: dict[str, float] = {}
        self._parts: dict[str, dict[str, float]] = {}
        if _CLOCK is not None:
            _CLOCK.attach(self)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as step ``name`` (added to it if it ran before)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._steps[name] = self._steps.get(name, 0.0) + time.perf_counter() - start

    def parts(self, name: str, seconds: Mapping[str, float]) -> None:
        """Sub-steps of step ``name`` (seconds per sub-step), shown indented under it."""
        if name not in self._steps:
            raise ValueError(f"expected a step named {name!r} timed before its parts, found steps {list(self._steps)}")
        self._parts[name] = {str(k): float(v) for k, v in seconds.items()}

    def step_rows(self, prefix: str = "") -> list[tuple[str, float]]:
        """``(name, seconds)`` of the steps in order, each followed by its parts as
        ``"<prefix>  step / part"``; step names are prefixed with ``prefix``."""
        rows = []
        for name, seconds in self._steps.items():
            rows.append((f"{prefix}{name}", seconds))
            rows += [(f"{prefix}  {name} / {part}", s) for part, s in self._parts.get(name, {}).items()]
        return rows

    def stepped_seconds(self) -> float:
        """Seconds spent inside steps (parts not counted again)."""
        return sum(self._steps.values())

    def table(self) -> pd.DataFrame:
        """``step, seconds, share`` (share of the total wall time): steps in order, their
        parts as ``"  step / part"``, then ``other (not in a step)`` and ``total``."""
        total = time.perf_counter() - self._start
        rows = [*self.step_rows(), ("other (not in a step)", total - self.stepped_seconds()), ("total", total)]
        return _with_share(rows, total)


@dataclass
class _Cell:
    """One run of a cell: ``perf_counter`` seconds at its start and end (``None`` while it
    runs), its execution count and source, and the StepTimers created in it."""

    start: float
    count: int | None = None
    source: str = ""
    end: float | None = None
    timers: list[StepTimer] = field(default_factory=list)

    def label(self) -> str:
        return f"[{self.count}] {cell_label(self.source)}"


class CellClock:
    """The wall seconds of every cell a kernel runs, from IPython's cell events.

    ``origin`` is the kernel process's start (``perf_counter`` seconds), so the table also
    accounts for the kernel start and the cells run before the clock started; the cell that
    starts the clock is timed from that moment on.
    """

    def __init__(self, shell) -> None:
        import psutil

        now = time.perf_counter()
        self._shell = shell
        self._origin = now - (time.time() - psutil.Process().create_time())
        count, source = self._running_cell()
        self._cells_before = max(count - 1, 0)
        self._cells = [_Cell(now, count, source)]
        shell.events.register("pre_run_cell", self._pre_run_cell)
        shell.events.register("post_run_cell", self._post_run_cell)

    def _running_cell(self) -> tuple[int, str]:
        """Execution count and source of the cell running now: the last of the input history
        (IPython stores a cell there before running it; its count moved in IPython 9)."""
        history = self._shell.history_manager.input_hist_raw
        return len(history) - 1, history[-1]

    def _pre_run_cell(self, info) -> None:
        self._cells.append(_Cell(time.perf_counter(), source=info.raw_cell))

    def _post_run_cell(self, result) -> None:
        cell = self._cells[-1]
        cell.end, cell.count, cell.source = time.perf_counter(), result.execution_count, result.info.raw_cell

    def attach(self, timer: StepTimer) -> None:
        """List ``timer``'s steps under the cell running now."""
        self._cells[-1].timers.append(timer)

    def table(self) -> pd.DataFrame:
        """``step, seconds, share``: the kernel start and the cells before the clock, each cell
        run since (``[n] first line of code``; the one running now until this call) with the
        steps of its StepTimers under it (rows starting with :data:`PART`), the kernel's idle
        time between cells, and ``total``, the wall time since the kernel started. The rows not
        indented add up to it."""
        now = time.perf_counter()
        n = self._cells_before
        before = f"kernel start and {n} cell{'s' if n != 1 else ''} before the clock"
        rows = [(before, self._cells[0].start - self._origin)]
        idle = 0.0
        for cell, after in zip(self._cells, [*self._cells[1:], None]):
            if cell.end is None:  # the cell running now
                cell.count = self._running_cell()[0]
            end = now if cell.end is None else cell.end
            seconds = end - cell.start
            rows.append((cell.label(), seconds))
            for timer in cell.timers:
                rows += timer.step_rows(prefix=PART)
            if cell.timers:
                rows.append((f"{PART}other (not in a step)", seconds - sum(t.stepped_seconds() for t in cell.timers)))
            if after is not None:
                idle += after.start - end
        total = now - self._origin
        rows += [("between cells (kernel idle)", idle), ("total (since the kernel started)", total)]
        return _with_share(rows, total)


_CLOCK: CellClock | None = None
"""The kernel's cell clock, once :func:`start_cell_clock` ran in IPython."""


def cell_label(source: str) -> str:
    """The first line of ``source`` that is code and not an import (else its first code
    line), cut to :data:`LABEL_CHARS` characters."""
    lines = [line.strip() for line in source.splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    plain = [line for line in code if not line.startswith(("import ", "from "))]
    line = (plain or code or ["(empty cell)"])[0]
    return line if len(line) <= LABEL_CHARS else line[: LABEL_CHARS - 1] + "…"


def start_cell_clock() -> CellClock | None:
    """Start timing every cell of this IPython kernel (once; later calls return the same
    clock). Outside IPython (plain ``python``) nothing is timed and ``None`` is returned."""
    global _CLOCK
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return None
    if _CLOCK is None or _CLOCK._shell is not shell:
        _CLOCK = CellClock(shell)
    return _CLOCK


def cell_table() -> pd.DataFrame:
    """The cell clock's table (:meth:`CellClock.table`). Without a clock (outside IPython, or
    :func:`start_cell_clock` never called) one row says why, beside the process's wall time."""
    if _CLOCK is not None:
        return _CLOCK.table()
    import psutil
    from IPython import get_ipython

    why = "not running in IPython" if get_ipython() is None else "start_cell_clock() was not called"
    total = time.time() - psutil.Process().create_time()
    return _with_share([(f"not timed per cell: {why}", total), ("total (since the process started)", total)], total)


def _with_share(rows: list[tuple[str, float]], total: float) -> pd.DataFrame:
    """``step, seconds, share`` from ``(step, seconds)`` rows; ``share`` of ``total``."""
    frame = pd.DataFrame(rows, columns=["step", "seconds"])
    frame["share"] = frame["seconds"] / total if total > 0 else 0.0
    return frame
