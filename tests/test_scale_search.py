"""Search over shards: streaming top-k merge, sharded α grid, approximate indexes with a
recall check (xqg_lab.scale.search)."""

from __future__ import annotations

import numpy as np
import pytest

from xqg_lab.search.index import search, search_alpha_grid
from xqg_lab.scale.search import (
    TopK,
    build_index,
    recall_at_k,
    recall_check,
    search_alpha_grid_sharded,
    search_sharded,
)


def random_data(n=2000, dim=16, n_queries=50, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal((n, dim)).astype(np.float32)
    s = (3 * p + rng.standard_normal((n, dim))).astype(np.float32)  # a query sum correlated with p
    q = rng.standard_normal((n_queries, dim)).astype(np.float32)
    return q, p, s


def cut(x, bounds):
    """Consecutive shards of ``x`` ending at ``bounds`` (uneven, one empty, one smaller than k)."""
    return [x[a:b] for a, b in zip([0, *bounds], [*bounds, len(x)])]


BOUNDS = [700, 700, 705, 1500]  # shards of 700, 0, 5, 795 and 500 rows


def test_topk_merge_keeps_the_best_k_in_order_with_ties_by_index():
    top = TopK(1, k=3)
    top.push(np.array([[0.5, 0.9]]), np.array([[10, 11]]))
    top.push(np.array([[0.9, 0.1, 0.7]]), np.array([[3, 4, -1]]))  # -1: empty slot, ignored
    np.testing.assert_array_equal(top.indices_, [[3, 11, 10]])  # 0.9 (index 3) before 0.9 (index 11)
    np.testing.assert_allclose(top.scores_, [[0.9, 0.9, 0.5]])
    with pytest.raises(ValueError, match="expected scores and indices of shape"):
        top.push(np.zeros((2, 1)), np.zeros((2, 1)))


def assert_same_ranking(got, want):
    """Equal scores, and equal ids wherever a score is not tied with another in its row
    (FAISS orders exact float32 ties arbitrarily; the merge puts the smaller index first)."""
    (gs, gi), (ws, wi) = got, want
    np.testing.assert_array_equal(gs, ws)
    tied = np.zeros(ws.shape, dtype=bool)
    tied[:, 1:] |= ws[:, 1:] == ws[:, :-1]
    tied[:, :-1] |= ws[:, :-1] == ws[:, 1:]
    np.testing.assert_array_equal(gi[~tied], wi[~tied])
    for row in np.flatnonzero(tied[:, :-1].any(axis=1)):  # ties inside the list: same ids
        inner = tied[row] & (ws[row] > ws[row, -1])
        assert set(gi[row, inner]) == set(wi[row, inner])


def test_streaming_merge_equals_in_memory_search():
    q, p, _ = random_data()
    for k in (1, 10, 100):
        want = search(q, p, k=k)
        got = search_sharded(q, cut(p, BOUNDS), k=k)
        assert_same_ranking(got, want)


def test_streaming_merge_memory_is_k_per_query_whatever_the_shards():
    q, p, _ = random_data(n=3000)
    top = TopK(len(q), k=5)
    for i, shard in enumerate(cut(p, list(range(100, 3000, 100)))):
        scores, ids = search(q, shard, k=5)
        top.push(scores, ids + 100 * i)
        assert top.scores_.shape == (len(q), 5)
    assert_same_ranking((top.scores_, top.indices_), search(q, p, k=5))


def test_sharded_search_reads_float16_memory_mapped_shards(tmp_path):
    q, p, _ = random_data()
    paths = []
    for i, shard in enumerate(cut(p.astype(np.float16), [1000])):
        paths.append(tmp_path / f"{i}.npy")
        np.save(paths[-1], shard)
    got = search_sharded(q, (np.load(x, mmap_mode="r") for x in paths), k=10)
    assert_same_ranking(got, search(q, p.astype(np.float16).astype(np.float32), k=10))


def test_sharded_alpha_grid_equals_in_memory_alpha_grid():
    q, p, s = random_data()
    alphas = [0.0, 0.01, 0.1, 0.5, 1.0]
    want = search_alpha_grid(q, p, s, alphas, k=10)
    got = search_alpha_grid_sharded(q, cut(p, BOUNDS), cut(s, BOUNDS), alphas, k=10)
    for alpha in alphas:
        assert_same_ranking(got[alpha], want[alpha])
        # and both equal one exact search of the augmented passages, to float32 rounding
        exact = search(q, (1 - alpha) * p + alpha * s, k=10)
        np.testing.assert_array_equal(got[alpha][1], exact[1])
        np.testing.assert_allclose(got[alpha][0], exact[0], rtol=1e-5, atol=1e-5)


def test_sharded_alpha_grid_needs_aligned_shards():
    q, p, s = random_data(n=100)
    with pytest.raises(ValueError, match="fewer query-sum shards"):
        search_alpha_grid_sharded(q, cut(p, [50]), [s[:50]], [0.1], k=5)
    with pytest.raises(ValueError, match="differ in shape"):
        search_alpha_grid_sharded(q, cut(p, [50]), cut(s, [60]), [0.1], k=5)


def clustered(n=4000, dim=32, n_clusters=64, n_queries=200, seed=0):
    """Topic clusters that overlap a little, so that near neighbours may lie in other cells."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    p = centres[rng.integers(n_clusters, size=n)] + rng.standard_normal((n, dim))
    q = centres[rng.integers(n_clusters, size=n_queries)] + rng.standard_normal((n_queries, dim))
    return q.astype(np.float32), p.astype(np.float32)


def test_recall_check_is_one_for_flat_and_below_one_for_ivf_with_one_probe():
    q, p = clustered()
    shards = cut(p, [1000, 2500])
    flat = recall_check(build_index(shards, "Flat"), q, shards, k=10, factory="Flat")
    assert flat.recall == 1.0 and flat.n_queries == 200 and flat.approx_qps > 0 and flat.exact_qps > 0
    ivf = recall_check(build_index(shards, "IVF32,Flat", seed=0), q, shards, k=10, factory="IVF32,Flat",
                       params="nprobe=1")
    assert 0.3 < ivf.recall < 0.95  # 0.77 with this seed
    more = recall_check(build_index(shards, "IVF32,Flat", seed=0), q, shards, k=10, params="nprobe=32")
    assert more.recall == pytest.approx(1.0)  # every list probed: exhaustive again


def test_recall_at_k_by_hand():
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    approx = np.array([[4, 3, 9, -1], [5, 6, 7, 8]])
    np.testing.assert_allclose(recall_at_k(approx, exact, k=4), [0.5, 1.0])
    np.testing.assert_allclose(recall_at_k(approx, exact, k=2), [0.0, 1.0])


def test_invalid_factory_string_names_examples():
    with pytest.raises(ValueError, match="invalid FAISS index factory string 'IVF,Nope'.*examples"):
        build_index(np.zeros((10, 4), dtype=np.float32), "IVF,Nope")
