"""Tests for xqg_lab.metrics.ranking_arrays: array scoring equals the ir_measures path exactly."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xqg_lab.search.index import to_run, trec_sorted
from xqg_lab.metrics.ranking import per_query
from xqg_lab.metrics.ranking_arrays import per_query_arrays, per_query_grid

from _helpers import old_to_run

FAST = ["R@1", "R@3", "MRR@2", "MRR", "RR@4", "nDCG@3", "nDCG", "P@2", "Success@2"]


def _reference(scores, indices, query_ids, doc_ids, qrels, measures):
    """Today's path: a run frame scored by ir_measures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return per_query(to_run(scores, indices, query_ids, doc_ids), qrels, measures)


@st.composite
def searches(draw):
    """A search result with ties, unsorted rows, missing entries (-1), and qrels with unjudged
    run queries, judged queries absent from the run, queries without a relevant passage,
    judged passages outside the collection and negative grades."""
    n_docs = draw(st.integers(1, 8))
    n_q = draw(st.integers(1, 5))
    k = draw(st.integers(1, min(n_docs, 6)))
    doc_ids = draw(st.lists(st.sampled_from(["a", "b", "B", "c", "d1", "d10", "d2", "é", "z"]),
                            min_size=n_docs, max_size=n_docs, unique=True))  # fmt: skip
    rows_idx, rows_score = [], []
    for _ in range(n_q):
        idx = draw(st.permutations(range(n_docs)))[:k]
        n_valid = draw(st.integers(0, k))
        score = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]), min_size=k, max_size=k))
        if draw(st.booleans()):
            score = sorted(score, reverse=True)  # as a search returns them
        rows_idx.append([*idx[:n_valid], *[-1] * (k - n_valid)])
        rows_score.append(score)
    indices = np.array(rows_idx, dtype=np.int64)
    scores = np.array(rows_score, dtype=np.float32)
    query_ids = [f"q{i}" for i in range(n_q)]
    judged_q = st.sampled_from([*query_ids, "q_absent"])
    judged_d = st.sampled_from([*doc_ids, "outside"])
    rows = draw(st.lists(st.tuples(judged_q, judged_d, st.integers(0, 3)), min_size=1, max_size=12,
                         unique_by=lambda t: (t[0], t[1])))  # fmt: skip
    qrels = pd.DataFrame(rows, columns=["query_id", "doc_id", "relevance"])
    return scores, indices, query_ids, doc_ids, qrels


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(searches())
def test_per_query_arrays_equals_ir_measures_exactly(search):
    scores, indices, query_ids, doc_ids, qrels = search
    expected = _reference(scores, indices, query_ids, doc_ids, qrels, FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = per_query_arrays(scores, indices, query_ids, doc_ids, qrels, FAST)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(searches())
def test_to_run_equals_the_pandas_sort_it_replaced(search):
    scores, indices, query_ids, doc_ids, _ = search
    pd.testing.assert_frame_equal(to_run(scores, indices, query_ids, doc_ids),
                                  old_to_run(scores, indices, query_ids, doc_ids), check_exact=True)  # fmt: skip


def test_per_query_arrays_matches_hand_computation():
    # q1 retrieves d2 d0 d1 ("d1" and "d2" tie at 0.5: "d2" first, doc_id descending)
    scores = np.array([[0.9, 0.5, 0.5], [0.8, 0.7, 0.1]], dtype=np.float32)
    indices = np.array([[0, 1, 2], [2, 1, 0]])
    qrels = pd.DataFrame({"query_id": ["q1", "q1", "q2", "q3"], "doc_id": ["d1", "d9", "d0", "d0"],
                          "relevance": [2, 1, 1, 1]})  # fmt: skip
    got = per_query_arrays(scores, indices, ["q1", "q2"], ["d0", "d1", "d2"], qrels,
                           ["R@3", "MRR@10", "nDCG@3", "P@2"]).set_index("query_id")  # fmt: skip
    # q1: ranking d0, d2, d1 -> relevant d1 at rank 3 (grade 2); d9 never retrieved
    assert got.loc["q1", "R@3"] == pytest.approx(1 / 2)
    assert got.loc["q1", "MRR@10"] == pytest.approx(1 / 3)
    assert got.loc["q1", "nDCG@3"] == pytest.approx((2 / math.log2(4)) / (2 + 1 / math.log2(3)))
    assert got.loc["q1", "P@2"] == 0.0
    # q2: ranking d2, d1, d0 -> d0 at rank 3
    assert got.loc["q2", "MRR@10"] == pytest.approx(1 / 3)
    assert got.loc["q2", "P@2"] == 0.0
    # q3: judged, absent from the search -> 0 everywhere
    assert (got.loc["q3"] == 0).all()


def test_per_query_arrays_negative_grade_is_neither_relevant_nor_a_gain():
    scores = np.array([[2.0, 1.0]], dtype=np.float32)
    qrels = pd.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["a", "b"], "relevance": [-1, 1]})
    got = per_query_arrays(scores, np.array([[0, 1]]), ["q1"], ["a", "b"], qrels, ["R@1", "MRR@2", "nDCG@2"])
    assert got.iloc[0, 1:].tolist() == pytest.approx([0.0, 1 / 2, (1 / math.log2(3)) / 1.0])


def test_per_query_grid_scores_each_run_and_hands_other_measures_to_ir_measures():
    rng = np.random.default_rng(0)
    n_q, n_docs, k = 40, 30, 10
    doc_ids = [f"p{j}" for j in range(n_docs)]
    query_ids = [f"q{i:02d}" for i in range(n_q)]
    qrels = pd.DataFrame({"query_id": query_ids, "doc_id": [doc_ids[j] for j in rng.integers(0, n_docs, n_q)],
                          "relevance": 1})  # fmt: skip
    grid = {}
    for alpha in (0.0, 0.1, 0.5):
        raw = np.round(rng.normal(size=(n_q, n_docs)), 1).astype(np.float32)  # many ties
        idx = np.argsort(-raw, axis=1, kind="stable")[:, :k]
        grid[alpha] = (np.take_along_axis(raw, idx, 1), idx)
    measures = ["MRR@10", "AP@10", "nDCG@5"]
    got = per_query_grid(grid, query_ids, doc_ids, qrels, measures, progress=True)
    assert list(got) == [0.0, 0.1, 0.5]
    for alpha, (scores, indices) in grid.items():
        expected = _reference(scores, indices, query_ids, doc_ids, qrels, measures)
        pd.testing.assert_frame_equal(got[alpha], expected, check_exact=True)


def test_per_query_grid_unjudged_queries_dropped_with_one_warning():
    scores = np.ones((2, 1), dtype=np.float32)
    indices = np.zeros((2, 1), dtype=np.int64)
    qrels = pd.DataFrame({"query_id": ["q1"], "doc_id": ["d"], "relevance": [1]})
    with pytest.warns(UserWarning, match=r"dropped 1 queries that have no qrels") as record:
        got = per_query_grid({0: (scores, indices), 1: (scores, indices)}, ["q1", "q2"], ["d"], qrels, ["R@1"])
    assert len(record) == 1
    assert got[1]["query_id"].tolist() == ["q1"]


@pytest.mark.parametrize(
    ("query_ids", "doc_ids", "indices", "match"),
    [
        (["q", "q"], ["a", "b"], [[0], [1]], r"expected each query id once \(one search row each\), found 'q' repeated"),
        (["q1", "q2"], ["a", "a"], [[0], [1]], r"expected each doc id once \(one passage row each\), found 'a' repeated"),
        (["q1", "q2"], ["a", "b"], [[0], [2]], r"indices name passage row 2, but only 2 doc ids"),
        (["q1"], ["a", "b"], [[0], [1]], r"expected scores and indices of shape \(1, k\)"),
    ],
)
def test_per_query_arrays_bad_input_raises(query_ids, doc_ids, indices, match):
    indices = np.array(indices)
    qrels = pd.DataFrame({"query_id": ["q1"], "doc_id": ["a"], "relevance": [1]})
    with pytest.raises(ValueError, match=match):
        per_query_arrays(np.zeros(indices.shape), indices, query_ids, doc_ids, qrels, ["R@1"])


def test_per_query_arrays_same_passage_twice_raises():
    qrels = pd.DataFrame({"query_id": ["q1"], "doc_id": ["a"], "relevance": [1]})
    with pytest.raises(ValueError, match=r"found passage 'a' twice for query 'q1'"):
        per_query_arrays(np.zeros((1, 2)), np.array([[0, 0]]), ["q1"], ["a"], qrels, ["R@1"])


def test_per_query_arrays_same_measure_twice_raises():
    qrels = pd.DataFrame({"query_id": ["q1"], "doc_id": ["a"], "relevance": [1]})
    with pytest.raises(ValueError, match=r"same measure"):
        per_query_arrays(np.zeros((1, 1)), np.array([[0]]), ["q1"], ["a"], qrels, ["MRR@10", "RR@10"])


def test_trec_sorted_leaves_strictly_decreasing_rows_alone_and_breaks_ties_by_doc_id_descending():
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 1.0, 2.0]], dtype=np.float32)
    indices = np.array([[0, 1, 2], [0, 1, -1]])
    s, i = trec_sorted(scores, indices, ["a", "b", "c"])
    assert i.tolist() == [[0, 1, 2], [1, 0, -1]]  # "b" > "a"; the missing entry last
    assert s[1, :2].tolist() == [1.0, 1.0]
    assert indices.tolist() == [[0, 1, 2], [0, 1, -1]]  # inputs untouched
