"""Named wall-clock steps of a notebook, as a table that adds up to its wall time."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pandas as pd


class StepTimer:
    """Record the seconds of named steps; :meth:`table` lists them with what is left over.

    The clock starts at construction: the table's ``total`` is the wall time since then and
    ``other (not in a step)`` the part no step accounts for, so the rows add up to the total.
    Sub-steps (e.g. a result's ``seconds``) are listed under their step without being counted
    twice.
    """

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._steps: dict[str, float] = {}
        self._parts: dict[str, dict[str, float]] = {}

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

    def table(self) -> pd.DataFrame:
        """``step, seconds, share`` (share of the total wall time): steps in order, their
        parts as ``"  step / part"``, then ``other (not in a step)`` and ``total``."""
        total = time.perf_counter() - self._start
        rows = []
        for name, seconds in self._steps.items():
            rows.append((name, seconds))
            rows += [(f"  {name} / {part}", s) for part, s in self._parts.get(name, {}).items()]
        rows.append(("other (not in a step)", total - sum(self._steps.values())))
        rows.append(("total", total))
        frame = pd.DataFrame(rows, columns=["step", "seconds"])
        frame["share"] = frame["seconds"] / total if total > 0 else 0.0
        return frame
