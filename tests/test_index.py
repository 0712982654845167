import numpy as np
import pandas as pd
import pytest

from xqg_lab.search.index import (
    _inner_products_by_idx,
    fixed_6,
    read_trec_run,
    search,
    search_alpha_grid,
    to_run,
    write_trec_run,
)


def test_search_returns_exact_inner_product_top_k_in_order():
    rng = np.random.default_rng(0)
    q, p = rng.normal(size=(5, 8)), rng.normal(size=(50, 8))
    scores, idx = search(q, p, k=10)
    full = q @ p.T
    want_idx = np.argsort(-full, axis=1)[:, :10]
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(scores, np.take_along_axis(full, want_idx, 1), rtol=1e-5)


def test_search_caps_k_at_the_number_of_passages():
    scores, idx = search(np.eye(2), np.eye(2), k=100)
    assert scores.shape == idx.shape == (2, 2)


def test_search_rejects_dimension_mismatch_and_nan():
    with pytest.raises(ValueError, match="same dimension, found 3 and 4"):
        search(np.ones((1, 3)), np.ones((2, 4)), k=1)
    bad = np.ones((3, 2))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf values in rows \[1\]"):
        search(np.ones((1, 2)), bad, k=1)


def test_run_keeps_string_ids_and_ranks_from_one():
    scores, idx = search(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 0.0]]), k=2)
    run = to_run(scores, idx, ["q1"], ["007", "010"])
    assert run.to_dict("list") == {
        "query_id": ["q1", "q1"],
        "doc_id": ["010", "007"],
        "score": [1.0, 0.0],
        "rank": [1, 2],
    }


def test_trec_run_round_trips(tmp_path):
    run = pd.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["007", "d2"], "score": [2.5, 1.0], "rank": [1, 2]})
    write_trec_run(run, tmp_path / "run.trec", tag="e5")
    assert (tmp_path / "run.trec").read_text().splitlines()[0] == "q1 Q0 007 1 2.500000 e5"
    pd.testing.assert_frame_equal(read_trec_run(tmp_path / "run.trec"), run)


def test_trec_scores_are_formatted_as_pythons_six_decimals():
    """fixed_6 rounds in integers; Python's f"{v:.6f}" (correct rounding of the binary value) is
    the reference, on ties, signed zeros, tiny and huge values, non-finite ones and random scores."""
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 5e-7, 1.5e-6, 2.5e-6, -5e-7, 1.0000005, 0.1234565, 0.9999995, 123.4567895, 999999.9999995,
               -1e-9, 1e-300, 1e12, -1e12, 5e15, 1e300, np.nan, np.inf, -np.inf]  # fmt: skip
    values = np.concatenate([
        special, rng.normal(size=50_000), rng.normal(size=50_000).astype(np.float32),
        np.round(rng.normal(size=20_000), 6) + 5e-7, rng.uniform(-1e9, 1e9, 20_000),
    ])  # fmt: skip
    assert fixed_6(values).to_pylist() == [f"{v:.6f}" for v in values.tolist()]


def test_malformed_trec_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.trec"
    path.write_text("q1 Q0 d1 1 2.0 tag\nq1 Q0 d2 two 1.0 tag\n")
    with pytest.raises(ValueError, match=r"bad.trec:2: expected an integer rank"):
        read_trec_run(path)


def test_inner_products_by_idx_equals_gathered_dot_products():
    rng = np.random.default_rng(0)
    q, x = rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=(30, 6)).astype(np.float32)
    ids = rng.integers(0, 30, size=(4, 7))
    want = np.einsum("qd,qcd->qc", q, x[ids])
    np.testing.assert_allclose(_inner_products_by_idx(q, x, ids), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("depth", [None, 10, 10_000])
def test_search_alpha_grid_is_exact_with_and_without_the_certificate(depth):
    # depth = k: the threshold bound fails for many queries, which are searched in full;
    # depth >= n: every passage is a candidate and no certificate is needed.
    rng = np.random.default_rng(1)
    q = rng.normal(size=(30, 8)).astype(np.float32)
    p = rng.normal(size=(400, 8)).astype(np.float32)
    s = 4 * rng.normal(size=(400, 8)).astype(np.float32)
    alphas = [0.0, 0.1, 0.5, 1.0]
    grid = search_alpha_grid(q, p, s, alphas, k=10, depth=depth)
    assert list(grid) == alphas
    for alpha in alphas:
        full = q @ ((1 - alpha) * p + alpha * s).T
        want_ids = np.argsort(-full, axis=1, kind="stable")[:, :10]
        scores, ids = grid[alpha]
        assert scores.shape == ids.shape == (30, 10)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, np.take_along_axis(full, want_ids, 1), rtol=1e-4, atol=1e-4)


def test_search_alpha_grid_rejects_misaligned_sums():
    with pytest.raises(ValueError, match="same shape"):
        search_alpha_grid(np.ones((1, 2)), np.ones((3, 2)), np.ones((2, 2)), [0.1], k=1)


def test_to_run_ranks_tied_scores_as_trec_eval_does():
    # d1 and d3 tie: trec_eval puts the larger doc_id first, whatever order FAISS returned.
    run = to_run(np.array([[0.9, 0.5, 0.5]]), np.array([[1, 0, 2]]), ["q"], ["d1", "d2", "d3"])
    assert run["doc_id"].tolist() == ["d2", "d3", "d1"]
    assert run["rank"].tolist() == [1, 2, 3]
