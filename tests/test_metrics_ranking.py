"""Tests for xqg_lab.metrics.ranking (R@k, MRR@k, nDCG@k via ir_measures, trec_eval semantics)."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xqg_lab.metrics.ranking import MeasureFamily, aggregate, parse_measure, per_query


def _run(rows):
    """rows: (query_id, doc_id, score); rank derived from score order as given."""
    frame = pd.DataFrame(rows, columns=["query_id", "doc_id", "score"])
    frame["rank"] = frame.groupby("query_id").cumcount() + 1
    return frame


def _qrels(rows):
    return pd.DataFrame(rows, columns=["query_id", "doc_id", "relevance"])


@pytest.fixture
def fixture_frames():
    run = _run([
        ("q1", "d1", 5.0), ("q1", "d2", 4.0), ("q1", "d3", 3.0), ("q1", "d4", 2.0), ("q1", "d5", 1.0),
        ("q2", "d1", 1.0),
    ])
    qrels = _qrels([
        ("q1", "d2", 2), ("q1", "d4", 1), ("q1", "d9", 1),  # d9 never retrieved
        ("q2", "d1", 1),
        ("q3", "d7", 1),  # q3 judged but absent from the run
    ])
    return run, qrels


def test_per_query_matches_hand_computation(fixture_frames):
    run, qrels = fixture_frames
    out = per_query(run, qrels, ["R@1", "R@3", "R@5", "MRR@1", "MRR@10", "nDCG@3", "nDCG@5"])
    assert list(out["query_id"]) == ["q1", "q2", "q3"]
    q1 = out.set_index("query_id").loc["q1"]
    # q1: relevant d2 (gain 2) at rank 2, d4 (gain 1) at rank 4, d9 (gain 1) unretrieved: 3 relevant
    assert q1["R@1"] == pytest.approx(0.0)
    assert q1["R@3"] == pytest.approx(1 / 3)
    assert q1["R@5"] == pytest.approx(2 / 3)
    assert q1["MRR@1"] == pytest.approx(0.0)
    assert q1["MRR@10"] == pytest.approx(1 / 2)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # ideal gains 2, 1, 1
    assert q1["nDCG@3"] == pytest.approx((2 / math.log2(3)) / idcg)
    assert q1["nDCG@5"] == pytest.approx((2 / math.log2(3) + 1 / math.log2(5)) / idcg)
    q2 = out.set_index("query_id").loc["q2"]
    assert q2.tolist() == pytest.approx([1.0] * 7)


def test_per_query_judged_query_absent_from_run_scores_zero(fixture_frames):
    run, qrels = fixture_frames
    out = per_query(run, qrels, ["R@5", "MRR@10", "nDCG@10"]).set_index("query_id")
    assert out.loc["q3"].tolist() == [0.0, 0.0, 0.0]


def test_per_query_empty_run_scores_zero_everywhere(fixture_frames):
    _, qrels = fixture_frames
    empty = pd.DataFrame({"query_id": pd.Series([], dtype=object), "doc_id": pd.Series([], dtype=object),
                          "score": pd.Series([], dtype=float)})
    out = per_query(empty, qrels, ["R@5", "MRR@10"])
    assert list(out["query_id"]) == ["q1", "q2", "q3"]
    assert (out[["R@5", "MRR@10"]] == 0.0).all().all()


def test_per_query_unjudged_run_query_dropped_with_warning(fixture_frames):
    run, qrels = fixture_frames
    extra = pd.concat([run, _run([("qX", "d1", 1.0), ("qY", "d1", 1.0)])], ignore_index=True)
    with pytest.warns(UserWarning, match=r"dropped 2 queries that have no qrels"):
        out = per_query(extra, qrels, ["R@5"])
    assert "qX" not in set(out["query_id"])


def test_per_query_query_with_only_nonrelevant_judgements_is_kept_and_scores_zero():
    run = _run([("q1", "d1", 1.0)])
    qrels = _qrels([("q1", "d1", 0), ("q2", "d1", 1)])
    out = per_query(run, qrels, ["R@5", "MRR@10", "nDCG@10"]).set_index("query_id")
    assert out.loc["q1"].tolist() == [0.0, 0.0, 0.0]


def test_per_query_ties_broken_by_doc_id_descending_for_every_measure():
    # a and b tie; trec_eval puts b (larger doc_id) first, so the relevant a is at rank 2
    run = pd.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["a", "b"], "score": [1.0, 1.0]})
    qrels = _qrels([("q1", "a", 1)])
    out = per_query(run, qrels, ["R@1", "MRR@10", "MRR", "nDCG@1", "nDCG@10"]).iloc[0]
    assert out["R@1"] == 0.0
    assert out["MRR@10"] == pytest.approx(0.5)  # ir_measures' msmarco provider alone would say 1.0
    assert out["MRR"] == pytest.approx(0.5)
    assert out["nDCG@1"] == 0.0
    assert out["nDCG@10"] == pytest.approx(1 / math.log2(3))


def test_per_query_orders_by_score_not_by_row_order():
    run = pd.DataFrame({"query_id": ["q1", "q1", "q1"], "doc_id": ["a", "b", "c"], "score": [0.1, 0.3, 0.2]})
    qrels = _qrels([("q1", "b", 1)])
    assert per_query(run, qrels, ["MRR@10"])["MRR@10"].iloc[0] == pytest.approx(1.0)


def test_per_query_rank_only_run_derives_score_from_rank():
    run = pd.DataFrame({"query_id": ["q1", "q1", "q1"], "doc_id": ["a", "b", "c"], "rank": [3, 1, 2]})
    qrels = _qrels([("q1", "c", 1)])
    assert per_query(run, qrels, ["MRR@10"])["MRR@10"].iloc[0] == pytest.approx(0.5)


def test_per_query_rank_inconsistent_with_score_raises():
    run = pd.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["a", "b"], "score": [0.1, 0.9], "rank": [1, 2]})
    with pytest.raises(ValueError, match=r"scores non-increasing with rank.*'q1'"):
        per_query(run, _qrels([("q1", "a", 1)]), ["MRR@10"])


def test_per_query_tied_scores_ordered_differently_by_rank_warns_and_follows_trec_eval():
    run = pd.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["a", "b"], "score": [1.0, 1.0], "rank": [1, 2]})
    with pytest.warns(UserWarning, match=r"1 queries have tied scores"):
        out = per_query(run, _qrels([("q1", "a", 1)]), ["MRR@10"])
    assert out["MRR@10"].iloc[0] == pytest.approx(0.5)
    # the documented way to follow the rank column instead
    by_rank = run.assign(score=-run["rank"])
    assert per_query(by_rank, _qrels([("q1", "a", 1)]), ["MRR@10"])["MRR@10"].iloc[0] == pytest.approx(1.0)


def test_per_query_consistent_ties_do_not_warn():
    run = pd.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["a", "b"], "score": [1.0, 1.0], "rank": [2, 1]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        per_query(run, _qrels([("q1", "a", 1)]), ["MRR@10"])


def test_per_query_does_not_mutate_inputs(fixture_frames):
    run, qrels = fixture_frames
    run_before, qrels_before = run.copy(), qrels.copy()
    per_query(run, qrels, ["nDCG@10"])
    pd.testing.assert_frame_equal(run, run_before)
    pd.testing.assert_frame_equal(qrels, qrels_before)


@pytest.mark.parametrize(
    "frame_name, column",
    [("run", "query_id"), ("run", "doc_id"), ("qrels", "relevance"), ("qrels", "query_id")],
)
def test_per_query_missing_column_raises_naming_it(fixture_frames, frame_name, column):
    run, qrels = fixture_frames
    frames = {"run": run, "qrels": qrels}
    frames[frame_name] = frames[frame_name].drop(columns=[column])
    with pytest.raises(ValueError, match=rf"{frame_name} frame: expected a column '{column}'"):
        per_query(frames["run"], frames["qrels"], ["R@5"])


def test_per_query_run_without_score_or_rank_raises(fixture_frames):
    run, qrels = fixture_frames
    with pytest.raises(ValueError, match=r"expected a column 'score'"):
        per_query(run.drop(columns=["score", "rank"]), qrels, ["R@5"])


@pytest.mark.parametrize("frame_name", ["run", "qrels"])
def test_per_query_integer_ids_raise(fixture_frames, frame_name):
    run, qrels = fixture_frames
    frames = {"run": run.copy(), "qrels": qrels.copy()}
    frames[frame_name]["query_id"] = range(len(frames[frame_name]))
    with pytest.raises(TypeError, match=r"str ids.*astype\(str\)"):
        per_query(frames["run"], frames["qrels"], ["R@5"])


def test_per_query_float_relevance_raises(fixture_frames):
    run, qrels = fixture_frames
    with pytest.raises(TypeError, match=r"integer 'relevance'"):
        per_query(run, qrels.astype({"relevance": float}), ["R@5"])


@pytest.mark.parametrize("frame_name", ["run", "qrels"])
def test_per_query_duplicate_pairs_raise(fixture_frames, frame_name):
    run, qrels = fixture_frames
    frames = {"run": run, "qrels": qrels}
    frame = frames[frame_name]
    dup = frame.iloc[[0]].copy()
    if frame_name == "run":
        dup["rank"] = 99
        dup["score"] = -1.0
    frames[frame_name] = pd.concat([frame, dup], ignore_index=True)
    with pytest.raises(ValueError, match=r"each \(query_id, doc_id\) pair at most once"):
        per_query(frames["run"], frames["qrels"], ["R@5"])


def test_per_query_nan_score_raises(fixture_frames):
    run, qrels = fixture_frames
    run = run.drop(columns=["rank"]).copy()
    run.loc[0, "score"] = float("nan")
    with pytest.raises(ValueError, match=r"NaN"):
        per_query(run, qrels, ["R@5"])


def test_per_query_empty_qrels_raises(fixture_frames):
    run, qrels = fixture_frames
    with pytest.raises(ValueError, match=r"at least one judgement"):
        per_query(run, qrels.iloc[:0], ["R@5"])


@pytest.mark.parametrize("name", ["foo@3", "ndcg@10", "Recall@5", "MRR@x", "nDCG@-1"])
def test_parse_measure_bad_name_lists_valid_families(name):
    with pytest.raises(ValueError, match=r"valid families: R, MRR, RR, nDCG"):
        parse_measure(name)


def test_parse_measure_zero_cutoff_raises():
    with pytest.raises(ValueError, match=r"cutoff k >= 1 in 'R@0'"):
        parse_measure("R@0")


def test_parse_measure_maps_mrr_to_reciprocal_rank():
    import ir_measures

    assert parse_measure("MRR@10") == ir_measures.parse_measure("RR@10")
    assert parse_measure("nDCG@10") == ir_measures.parse_measure("nDCG@10")
    assert {f.value for f in MeasureFamily} >= {"R", "MRR", "nDCG"}


def test_per_query_same_measure_twice_raises(fixture_frames):
    run, qrels = fixture_frames
    with pytest.raises(ValueError, match=r"same measure"):
        per_query(run, qrels, ["MRR@10", "RR@10"])


def test_per_query_columns_named_as_given(fixture_frames):
    run, qrels = fixture_frames
    out = per_query(run, qrels, ["MRR@10", "R@1", "nDCG@10"])
    assert list(out.columns) == ["query_id", "MRR@10", "R@1", "nDCG@10"]


# --------------------------------------------------------------------------- aggregate


def test_aggregate_overall_mean(fixture_frames):
    run, qrels = fixture_frames
    pq = per_query(run, qrels, ["MRR@10", "R@5"])
    agg = aggregate(pq)
    assert list(agg.index) == ["all"]
    # q1 0.5, q2 1.0, q3 0.0
    assert agg.loc["all", "MRR@10"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert agg.loc["all", "R@5"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert agg.loc["all", "n_queries"] == 3


def test_aggregate_matches_ir_measures_calc_aggregate(fixture_frames):
    import ir_measures

    run, qrels = fixture_frames
    pq = per_query(run, qrels, ["nDCG@10"])
    qrels_dd = {}
    for q, d, r in qrels.itertuples(index=False):
        qrels_dd.setdefault(q, {})[d] = r
    run_dd = {}
    for q, d, s, _ in run.itertuples(index=False):
        run_dd.setdefault(q, {})[d] = s
    expected = ir_measures.calc_aggregate([ir_measures.parse_measure("nDCG@10")], qrels_dd, run_dd)
    assert aggregate(pq).loc["all", "nDCG@10"] == pytest.approx(list(expected.values())[0])


def test_aggregate_by_lang_joined_from_queries(fixture_frames):
    run, qrels = fixture_frames
    pq = per_query(run, qrels, ["MRR@10"])
    queries = pd.DataFrame({"query_id": ["q1", "q2", "q3"], "lang": ["ar", "ar", "fi"], "text": ["x", "y", "z"]})
    agg = aggregate(pq, by="lang", queries=queries)
    assert agg.index.name == "lang"
    assert agg.loc["ar", "MRR@10"] == pytest.approx(0.75)
    assert agg.loc["fi", "MRR@10"] == pytest.approx(0.0)
    assert agg.loc["ar", "n_queries"] == 2
    # by a column already present
    agg2 = aggregate(pq.merge(queries[["query_id", "lang"]]), by="lang")
    pd.testing.assert_frame_equal(agg, agg2)


def test_aggregate_by_without_queries_raises(fixture_frames):
    run, qrels = fixture_frames
    pq = per_query(run, qrels, ["MRR@10"])
    with pytest.raises(ValueError, match=r"no column 'lang'; pass queries="):
        aggregate(pq, by="lang")


def test_aggregate_by_with_unmapped_query_raises(fixture_frames):
    run, qrels = fixture_frames
    pq = per_query(run, qrels, ["MRR@10"])
    queries = pd.DataFrame({"query_id": ["q1", "q2"], "lang": ["ar", "ar"]})
    with pytest.raises(ValueError, match=r"1 queries without one"):
        aggregate(pq, by="lang", queries=queries)


# --------------------------------------------------------------------------- cross-check


def _reference(run_rows, qrels_rows, k):
    """Hand implementation of trec_eval R@k, RR@k, nDCG@k (order: score desc, doc_id desc)."""
    rel = {}
    for q, d, r in qrels_rows:
        rel.setdefault(q, {})[d] = r
    ranked = {}
    for q, d, s in run_rows:
        ranked.setdefault(q, []).append((s, d))
    out = {}
    for q, judged in rel.items():
        docs = sorted(ranked.get(q, []), key=lambda x: (x[0], x[1]), reverse=True)
        top = [d for _, d in docs[:k]]
        n_rel = sum(1 for r in judged.values() if r >= 1)
        recall = sum(1 for d in top if judged.get(d, 0) >= 1) / n_rel if n_rel else 0.0
        rr = next((1 / (i + 1) for i, d in enumerate(top) if judged.get(d, 0) >= 1), 0.0)
        dcg = sum(max(judged.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(top))
        ideal = sorted((r for r in judged.values() if r > 0), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        out[q] = (recall, rr, dcg / idcg if idcg else 0.0)
    return out


_ids = st.sampled_from(["q1", "q2", "q3"])
_docs = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run_rows=st.lists(st.tuples(_ids, _docs, st.sampled_from([0.0, 0.5, 1.0, 2.0])), max_size=20,
                      unique_by=lambda t: (t[0], t[1])),
    qrels_rows=st.lists(st.tuples(_ids, _docs, st.integers(0, 3)), min_size=1, max_size=12,
                        unique_by=lambda t: (t[0], t[1])),
    k=st.integers(1, 5),
)
def test_per_query_matches_reference_with_ties(run_rows, qrels_rows, k):
    run = pd.DataFrame(run_rows, columns=["query_id", "doc_id", "score"],).astype(
        {"query_id": object, "doc_id": object, "score": float})
    qrels = _qrels(qrels_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = per_query(run, qrels, [f"R@{k}", f"MRR@{k}", f"nDCG@{k}"]).set_index("query_id")
    expected = _reference(run_rows, qrels_rows, k)
    assert sorted(expected) == list(out.index)
    for q, (recall, rr, ndcg) in expected.items():
        assert out.loc[q, f"R@{k}"] == pytest.approx(recall)
        assert out.loc[q, f"MRR@{k}"] == pytest.approx(rr)
        assert out.loc[q, f"nDCG@{k}"] == pytest.approx(ndcg)
