import numpy as np
import pandas as pd
import pytest

from xqg_lab.augment import (
    QuerySums,
    accumulate_query_sums,
    augment_passages,
    check_alpha,
    select_queries,
)
from xqg_lab.search.index import search, search_alpha_grid


class FakeEncoder:
    """Deterministic: the vector of text 'v:x,y' is (x, y)."""

    def __init__(self):
        self.calls = 0

    def encode_queries(self, texts):
        self.calls += 1
        return np.array([[float(v) for v in t.split(":")[1].split(",")] for t in texts], dtype=np.float32)


GENERATED = pd.DataFrame(
    {
        "doc_id": ["d1", "d1", "d1", "d2"],
        "lang": ["de", "de", "zh", "zh"],
        "sample": [0, 1, 0, 0],
        "text": ["v:1,0", "v:3,0", "v:0,2", "v:0,4"],
    }
)


def test_fusion_rule_matches_hand_computation():
    sums = accumulate_query_sums(GENERATED, ["d1", "d2"], FakeEncoder(), langs=["de", "zh"])
    np.testing.assert_array_equal(sums.counts, [[2, 0], [1, 1]])
    # sum over all languages: d1 = (1,0)+(3,0)+(0,2) = (4,2); d2 = (0,4)
    np.testing.assert_array_equal(sums.fused(rule="sum"), [[4, 2], [0, 4]])
    # mean: d1 = (4,2)/3, d2 = (0,4)/1
    np.testing.assert_allclose(sums.fused(rule="mean"), [[4 / 3, 2 / 3], [0, 4]])
    # language subset: German only; d2 has no German query, so S = 0
    np.testing.assert_array_equal(sums.fused(rule="sum", langs=["de"]), [[4, 0], [0, 0]])
    p = np.array([[1.0, 1.0], [2.0, 0.0]], dtype=np.float32)
    # p' = (1 - 0.25) p + 0.25 S
    np.testing.assert_allclose(
        augment_passages(p, sums.fused(), alpha=0.25), [[0.75 + 1.0, 0.75 + 0.5], [1.5, 1.0]]
    )


def test_accumulation_in_chunks_equals_one_pass():
    enc = FakeEncoder()
    chunked = accumulate_query_sums(GENERATED, ["d1", "d2"], enc, chunk_size=1)
    whole = accumulate_query_sums(GENERATED, ["d1", "d2"], FakeEncoder())
    assert enc.calls == 4
    np.testing.assert_array_equal(chunked.sums, whole.sums)


def test_max_per_lang_keeps_the_first_samples():
    kept = select_queries(GENERATED, max_per_lang=1)
    assert sorted(zip(kept["doc_id"], kept["lang"], kept["sample"])) == [("d1", "de", 0), ("d1", "zh", 0), ("d2", "zh", 0)]


def test_failed_language_check_can_be_dropped():
    frame = GENERATED.assign(in_target_language=[True, False, True, True])
    assert len(select_queries(frame, only_in_target_language=True)) == 3
    with pytest.raises(ValueError, match="in_target_language"):
        select_queries(GENERATED, only_in_target_language=True)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_outside_unit_interval_is_refused(alpha):
    with pytest.raises(ValueError, match=r"expected alpha in \[0, 1\]"):
        check_alpha(alpha)


def test_queries_naming_unknown_passages_are_refused():
    with pytest.raises(ValueError, match=r"name passages not in the corpus, e.g. \['d2'\]"):
        accumulate_query_sums(GENERATED, ["d1"], FakeEncoder())


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        augment_passages(np.ones((3, 2)), np.ones((2, 2)), alpha=0.1)


def test_unknown_language_subset_is_refused():
    sums = QuerySums(("d1",), ("de",), np.zeros((1, 1, 2), np.float32), np.zeros((1, 1), int))
    with pytest.raises(ValueError, match=r"\['ja'\] have no generated queries"):
        sums.fused(langs=["ja"])


@pytest.mark.parametrize("depth", [None, 5])
def test_alpha_grid_equals_one_search_per_alpha(depth):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(40, 16)).astype(np.float32)
    p = rng.normal(size=(300, 16)).astype(np.float32)
    s = 5 * rng.normal(size=(300, 16)).astype(np.float32)  # S far from p: rankings change with α
    alphas = np.linspace(0, 1, 11)
    grid = search_alpha_grid(q, p, s, alphas, k=10, depth=depth)
    for alpha in alphas:
        want_scores, want_ids = search(q, augment_passages(p, s, alpha=alpha), k=10)
        got_scores, got_ids = grid[alpha]
        np.testing.assert_allclose(got_scores, want_scores, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(got_ids, want_ids)


def test_target_keeps_passages_without_queries_and_literal_zeroes_them():
    from xqg_lab.augment import fusion_target

    sums = accumulate_query_sums(GENERATED, ["d1", "d2"], FakeEncoder(), langs=["de", "zh"])
    p = np.array([[1.0, 1.0], [2.0, 0.0]], dtype=np.float32)
    # German only: d2 has no query. Kept: S = p there, so p' = p for every α.
    target = sums.target(p, rule="sum", langs=["de"], doc_ids=["d1", "d2"])
    np.testing.assert_array_equal(target, [[4, 0], [2, 0]])
    for alpha in (0.1, 0.5, 1.0):
        np.testing.assert_allclose(augment_passages(p, target, alpha=alpha)[1], p[1], rtol=1e-7)
    literal = sums.target(p, rule="sum", langs=["de"], on_no_query="literal")
    np.testing.assert_allclose(augment_passages(p, literal, alpha=0.25)[1], 0.75 * p[1])
    # every passage has a query over all languages: both choices give the plain S
    np.testing.assert_array_equal(sums.target(p, rule="mean"), sums.fused(rule="mean"))
    with pytest.raises(ValueError, match="n_queries of shape"):
        fusion_target(p, p, np.zeros(3, dtype=int))


def test_alpha_grid_with_kept_passages_scores_them_q_dot_p():
    from xqg_lab.augment import fusion_target

    rng = np.random.default_rng(1)
    q = rng.normal(size=(30, 8)).astype(np.float32)
    p = rng.normal(size=(200, 8)).astype(np.float32)
    s = 5 * rng.normal(size=(200, 8)).astype(np.float32)
    n = rng.integers(0, 3, size=200)  # about a third of the passages without queries
    target = fusion_target(p, np.where((n == 0)[:, None], 0, s), n)
    for alpha, (scores, ids) in search_alpha_grid(q, p, target, [0.2, 0.7, 1.0], k=20, depth=5).items():
        lonely = n[ids] == 0
        direct = np.einsum("qd,qkd->qk", q, p[ids])
        np.testing.assert_allclose(scores[lonely], direct[lonely], rtol=1e-5, atol=1e-5)
