"""Input checks shared by the tests of :mod:`xqg_lab.stats`: aligned, finite per-query vectors."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from xqg_lab.stats.types import Alternative, PairedTest, TestResult


def _finite_vector(values: Any, name: str, ids: np.ndarray | None) -> np.ndarray:
    """float64 copy of a 1-D numeric vector; NaN/inf refused, naming query ids (or positions)."""
    if isinstance(values, pd.DataFrame):
        raise TypeError(
            f"expected {name} as a 1-D vector of per-query scores, found a DataFrame; select one measure, "
            f"e.g. frame.set_index('query_id')['nDCG@10']"
        )
    if isinstance(values, pd.Series):
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise TypeError(f"expected numeric scores in {name}, found dtype {values.dtype}")
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise ValueError(f"expected {name} as a 1-D vector of per-query scores, found shape {arr.shape}")
        if arr.dtype.kind == "O" and pd.api.types.infer_dtype(arr, skipna=True) in (
            "floating", "integer", "mixed-integer-float", "empty"
        ):
            arr = pd.Series(arr).to_numpy(dtype=np.float64, na_value=np.nan)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"expected numeric scores in {name}, found dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = [str(x) for x in ids[bad][:5]] if ids is not None else np.flatnonzero(bad)[:5].tolist()
        what = "query ids" if ids is not None else "positions"
        more = " ..." if bad.sum() > 5 else ""
        raise ValueError(
            f"expected finite scores in {name}, found NaN or inf for {int(bad.sum())} queries ({what} "
            f"{where}{more}); decide what such a query scores (per_query scores a missing query 0) or drop it "
            f"from both inputs"
        )
    return arr


def _paired_arrays(a: Any, b: Any, *, min_n: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Aligned float arrays (a, b) and the sorted ids (None for positional input)."""
    a_series, b_series = isinstance(a, pd.Series), isinstance(b, pd.Series)
    if a_series != b_series:
        raise TypeError(
            "expected a and b both as Series indexed by query_id (aligned by id) or both as arrays "
            f"(aligned by position), found {type(a).__name__} and {type(b).__name__}; convert one of them"
        )
    if a_series:
        for name, s in (("a", a), ("b", b)):
            if s.index.has_duplicates:
                dup = s.index[s.index.duplicated()].unique()
                raise ValueError(
                    f"expected each query_id once in {name}, found {len(dup)} duplicated ids "
                    f"(e.g. {[str(x) for x in dup[:5]]}); aggregate or deduplicate first"
                )
        only_a = a.index.difference(b.index)
        only_b = b.index.difference(a.index)
        if len(only_a) or len(only_b):
            raise ValueError(
                f"expected a and b to score the same queries, found {len(only_a) + len(only_b)} query ids that "
                f"differ: {len(only_a)} only in a (e.g. {[str(x) for x in only_a[:3]]}), {len(only_b)} only in b "
                f"(e.g. {[str(x) for x in only_b[:3]]}); score every query in both runs or restrict both to "
                f"a.index.intersection(b.index)"
            )
        a = a.sort_index()
        b = b.reindex(a.index)
        ids = a.index.to_numpy()
        a_arr = _finite_vector(a, "a", ids)
        b_arr = _finite_vector(b, "b", ids)
    else:
        ids = None
        a_arr = _finite_vector(a, "a", None)
        b_arr = _finite_vector(b, "b", None)
        if len(a_arr) != len(b_arr):
            raise ValueError(
                f"expected a and b of the same length (one score per query, same order), found {len(a_arr)} and "
                f"{len(b_arr)} ({abs(len(a_arr) - len(b_arr))} queries differ); pass Series indexed by query_id "
                f"to align by id"
            )
    if len(a_arr) < min_n:
        raise ValueError(
            f"expected at least {min_n} paired queries, found {len(a_arr)}; a paired test or interval needs "
            f"n >= {min_n} (pool small groups or drop them)"
        )
    return a_arr, b_arr, ids


def _paired_differences(a: Any, b: Any, alternative: str) -> tuple[Alternative, np.ndarray, np.ndarray, np.ndarray]:
    """The prologue of the paired tests: ``alternative`` parsed, the aligned scores (a, b) and d = b - a."""
    alt = Alternative.parse(alternative)
    a_arr, b_arr, _ = _paired_arrays(a, b)
    return alt, a_arr, b_arr, b_arr - a_arr


def _rng_kwargs(func: Callable, seed: int | None) -> dict:
    """scipy >= 1.15 takes ``rng``; older releases ``random_state``."""
    gen = np.random.default_rng(seed)
    params = inspect.signature(func).parameters
    return {"rng": gen} if "rng" in params else {"random_state": gen}


def _batch(n: int) -> int:
    # keep resample matrices near 2**22 floats (32 MiB)
    return max(1, (1 << 22) // max(n, 1))


def _counted(statistic: Callable, n: int, bar) -> Callable:
    """``statistic`` that also advances ``bar`` by the number of length-``n`` resamples scipy
    hands it (a batch of shape ``(..., n)`` per call; jackknife samples of length n - 1 and the
    1-D original sample are not counted). Same values, same vectorisation as ``statistic``."""
    if "axis" in inspect.signature(statistic).parameters:

        def counted(x, axis=-1):
            shape = np.shape(x)
            if len(shape) >= 2 and shape[axis] == n:
                bar.update(int(np.prod(shape)) // n)
            return statistic(x, axis=axis)

        return counted

    def counted_one(x):
        bar.update(int(np.shape(x)[-1] == n))
        return statistic(x)

    return counted_one


def _all_zero_result(test: PairedTest, d: np.ndarray, alternative: Alternative, method: str, statistic: float = 0.0):
    return TestResult(
        test=test.value,
        statistic=statistic,
        p_value=1.0,
        n=len(d),
        mean_diff=0.0,
        effect_size=0.0,
        alternative=alternative.value,
        method=method,
        note="all differences are zero: p = 1 by convention (no evidence of a difference)",
    )

