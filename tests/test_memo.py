"""Results kept in the toolkit's cache (xqg_lab.core.memo) and the studies that use it."""

import warnings

import numpy as np
import pandas as pd
import pytest

import xqg_lab.alignment
from xqg_lab.alignment import alignment_report
from xqg_lab.core.memo import call_cached, code_key

SETTINGS = dict(measures=["linear_cka", "infonce_bound"], n_bootstrap=20, confidence=0.95, seed=0, options=None)
CALLS = []


def counted_report(X, Y, **kw):
    """alignment_report, counting the calls actually made (not read from the cache)."""
    CALLS.append(1)
    return alignment_report(X, Y, **kw)


def warning_report(X, Y, **kw):
    warnings.warn("only 60 pairs: wide intervals", UserWarning)
    return alignment_report(X, Y, **kw)


@pytest.fixture
def pairs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 16)).astype(np.float32)
    return X, X + rng.normal(size=X.shape).astype(np.float32)


@pytest.fixture(autouse=True)
def no_calls_yet():
    CALLS.clear()


def test_a_second_identical_call_is_read_back_unchanged(isolated_cache, pairs):
    code = code_key(xqg_lab.alignment)
    first = call_cached(counted_report, *pairs, code=code, **SETTINGS)
    again = call_cached(counted_report, *pairs, code=code, **SETTINGS)
    assert len(CALLS) == 1
    pd.testing.assert_frame_equal(again, first)
    pd.testing.assert_frame_equal(first, alignment_report(*pairs, **SETTINGS))


def test_other_vectors_settings_or_code_compute_afresh(isolated_cache, pairs):
    X, Y = pairs
    code = code_key(xqg_lab.alignment)
    call_cached(counted_report, X, Y, code=code, **SETTINGS)
    Y2 = Y.copy()
    Y2[0, 0] += 1e-3
    call_cached(counted_report, X, Y2, code=code, **SETTINGS)
    call_cached(counted_report, X, Y, code=code, **{**SETTINGS, "seed": 1})
    call_cached(counted_report, X, Y, code="another version of the estimators", **SETTINGS)
    assert len(CALLS) == 4


def test_warnings_of_a_cached_result_are_raised_again(isolated_cache, pairs):
    for _ in range(2):
        with pytest.warns(UserWarning, match="only 60 pairs: wide intervals"):
            call_cached(warning_report, *pairs, code="v1", **SETTINGS)


def test_code_key_follows_the_source_and_the_libraries():
    import xqg_lab.stats

    assert code_key(xqg_lab.alignment) != code_key(xqg_lab.stats)
    assert len(code_key(xqg_lab.alignment)) == 64


def test_cached_comparisons_equal_fresh_ones(isolated_cache):
    from xqg_lab.studies.grid import compare_grid

    rng = np.random.default_rng(1)
    frames = {}
    for i, name in enumerate(["zero-shot", "zero-shot + xQG", "fine-tuned", "fine-tuned + xQG"]):
        frames[name] = pd.DataFrame({
            "query_id": [f"q{j}" for j in range(40)], "lang": ["ar", "de"] * 20,
            "MRR@10": np.clip(rng.normal(0.5 + 0.05 * i, 0.2, 40), 0, 1),
        })  # fmt: skip
    fresh = compare_grid(frames, measures=["MRR@10"])
    for _ in range(2):
        cached = compare_grid(frames, measures=["MRR@10"], cache=True)
        for family in fresh:
            for condition in fresh[family]:
                pd.testing.assert_frame_equal(cached[family][condition], fresh[family][condition])
    assert list((isolated_cache / "results").glob("*.parquet"))


def test_every_measure_reads_back_equal_and_a_damaged_entry_is_computed_again(isolated_cache, pairs):
    settings = {**SETTINGS, "measures": None, "options": {"ksg_mi": {"n_permutations": 19}, "gaussian_mi": {"n_components": 4},
                                                       "language_probe": {"n_splits": 3}}}
    settings.pop("measures")
    fresh = alignment_report(*pairs, **settings)
    first = call_cached(counted_report, *pairs, code="v1", **settings)
    (entry,) = (isolated_cache / "results").glob("*.parquet")
    entry.write_bytes(entry.read_bytes()[:100])
    again = call_cached(counted_report, *pairs, code="v1", **settings)
    assert len(CALLS) == 2
    pd.testing.assert_frame_equal(first, fresh)
    pd.testing.assert_frame_equal(call_cached(counted_report, *pairs, code="v1", **settings), again)
    assert len(CALLS) == 2
