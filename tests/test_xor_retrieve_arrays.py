"""Tests for xqg_lab.metrics.xor_retrieve_arrays: R@kt of a grid of rankings from index arrays,
checked question by question against xor_recall_per_query (the official scorer's rules)."""

from __future__ import annotations

import os
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xqg_lab.metrics import xor_recall_per_query, xor_recall_per_query_arrays, xor_recall_per_query_grid
from xqg_lab.metrics import xor_retrieve_arrays as xa
from xqg_lab.metrics.xor_retrieve import read_xor_data

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _xor_standin import standin_grid  # noqa: E402

DEV_FILE = Path(os.environ["XQG_LAB_MIRROR"]) / "xor-tydi" / "xor_dev_retrieve_eng_span_v1_1.jsonl"


def _data(rows):
    """rows: (query_id, lang, answers)."""
    return pd.DataFrame(rows, columns=["query_id", "lang", "answers"])


def _filler(n, word="tok"):
    """n plain tokens (word_tokenize splits them on whitespace, one token each)."""
    return " ".join([word] * n)


def _recorded(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in record if issubclass(w.category, UserWarning)]


def _same_as_reference(grid, query_ids, passages, data, ks=(2, 5)):
    """Score ``grid`` both ways; assert equal frames and warnings; return the grid's frames."""
    fast, fast_messages = _recorded(xor_recall_per_query_grid, grid, query_ids, passages, data, ks=ks)
    about_questions, about_rankings = None, []
    for key, indices in grid.items():
        ctxs = {q: [passages[r] for r in row if r >= 0] for q, row in zip(query_ids, np.asarray(indices).tolist())}
        reference, messages = _recorded(xor_recall_per_query, data, ctxs, ks=ks)
        pd.testing.assert_frame_equal(fast[key], reference)  # every question, every column, same dtypes
        general = [m for m in messages if m.startswith("XOR-Retrieve: ")]
        assert about_questions in (None, general)
        about_questions = general
        about_rankings += [m for m in messages if not m.startswith("XOR-Retrieve: ")]
    assert fast_messages == about_questions + about_rankings
    return fast


# --------------------------------------------------------------------------- hand-checked cases

# passages of the hand-checked cases; each case is (passage rows in rank order, answer, hit@2kt, hit@5kt)
_PASSAGES = [
    "w New",                                   # 0: ends with the first word of "New York (City)"
    "York w",                                  # 1
    "York",                                    # 2: the middle of "New York City"
    "City w",                                  # 3
    "",                                        # 4: no token: adds nothing, not even a space
    _filler(1998) + " New",                    # 5: "New" is token 1999
    "York City " + _filler(3000),              # 6
    _filler(1500),                             # 7
    _filler(499) + " Big Ben " + _filler(1000),  # 8: after 7, "Big" is token 2000, "Ben" 2001
    _filler(1999) + " New York",               # 9: "New" is token 2000, "York" 2001
    "York Town",                               # 10
    _filler(6000),                             # 11
]
_CASES = {
    "across two passages": ([0, 1, 11], "New York", 1.0, 1.0),
    "across three passages": ([0, 2, 3, 11], "New York City", 1.0, 1.0),
    "middle passage differs": ([0, 10, 3, 11], "New York City", 0.0, 0.0),
    "empty passage between": ([0, 4, 1, 11], "New York", 1.0, 1.0),
    "no passage (-1) between": ([0, -1, 1, 11], "New York", 1.0, 1.0),
    "budget cuts the second passage after the answer": ([5, 6], "New York", 1.0, 1.0),
    "budget cuts the answer in the second passage": ([5, 6], "New York City", 0.0, 1.0),
    "budget cuts a passage mid-way inside the answer": ([7, 8], "Big Ben", 0.0, 1.0),
    "budget cuts a passage right after the answer's first word": ([7, 8], "Big", 1.0, 1.0),
    "budget cuts the first passage inside the answer": ([9, 1, 11], "New York", 0.0, 1.0),
    "answer ending with the space between passages": ([0, 1, 11], "New ", 1.0, 1.0),
    "answer starting with the space between passages": ([0, 1, 11], " York", 1.0, 1.0),
    "answer ending with a space, last passage": ([11, 0], "New ", 0.0, 0.0),
    "past the budget": ([11, 0, 1], "New York", 0.0, 0.0),
}


@pytest.mark.parametrize("case", list(_CASES))
def test_hand_checked_case_equals_official_rules(case):
    ranks, answer, hit2, hit5 = _CASES[case]
    indices = np.array([ranks], dtype=np.int64)
    frame = _same_as_reference({0: indices}, ["q1"], _PASSAGES, _data([("q1", "fi", [answer])]))[0]
    assert (frame.loc[0, "hit@2kt"], frame.loc[0, "hit@5kt"]) == (hit2, hit5)


def test_all_cases_as_one_grid_with_padding_and_unscored_questions():
    depth = max(len(ranks) for ranks, *_ in _CASES.values())
    grid = {}
    for shift in range(3):  # three "α": the cases' rankings assigned to questions in a rotated order
        rows = [list(_CASES.values())[(i + shift) % len(_CASES)][0] for i in range(len(_CASES))]
        grid[shift / 10] = np.array([r + [-1] * (depth - len(r)) for r in rows] + [[0] + [-1] * (depth - 1)] * 2)
    rows = [(f"q{i:02d}", "fi", [answer]) for i, (_, answer, *_) in enumerate(_CASES.values())]
    rows += [("yn", "ja", ["yes"]), ("none", "ja", []), ("absent", "ko", ["Seoul"])]  # not scored / no prediction
    query_ids = [f"q{i:02d}" for i in range(len(_CASES))] + ["yn", "none"]
    frames = _same_as_reference(grid, query_ids, _PASSAGES, _data(rows))
    first = frames[0.0].set_index("query_id")
    assert first.loc["yn", "predicted"] and not first.loc["yn", "scored"] and np.isnan(first.loc["yn", "hit@2kt"])
    assert not first.loc["absent", "predicted"] and pd.isna(first.loc["absent", "n_tokens"])


def test_rank_order_is_the_columns_order_not_resorted():
    # the official scorer reads ctxs in the order given; there are no scores to break ties by
    data = _data([("q1", "fi", ["Portland"])])
    passages = [_filler(2500), "Portland " + _filler(100)]
    grid = {"answer first": np.array([[1, 0]]), "answer second": np.array([[0, 1]])}
    frames = _same_as_reference(grid, ["q1"], passages, data)
    assert frames["answer first"].loc[0, "hit@2kt"] == 1.0
    assert frames["answer second"].loc[0, "hit@2kt"] == 0.0 and frames["answer second"].loc[0, "hit@5kt"] == 1.0


def test_one_ranking_function_equals_the_grid():
    data = _data([("q1", "fi", ["New York"]), ("q2", "fi", ["Big Ben"])])
    indices = np.array([[0, 1, 11], [7, 8, 11]])
    one, messages = _recorded(xor_recall_per_query_arrays, indices, ["q1", "q2"], _PASSAGES, data)
    pd.testing.assert_frame_equal(one, _same_as_reference({0: indices}, ["q1", "q2"], _PASSAGES, data)[0])
    assert messages == []


def test_each_passage_tokenised_once_and_none_past_the_budget(monkeypatch):
    from nltk.tokenize import word_tokenize

    calls = []
    monkeypatch.setattr(xa, "_word_tokenizer", lambda: lambda text: calls.append(text) or word_tokenize(text))
    passages = [_filler(3000, "a"), _filler(3000, "b"), "c c", "d d"]
    grid = {0.0: np.array([[0, 1, 2], [1, 0, 2]]), 0.1: np.array([[1, 0, 3], [0, 1, 2]])}
    _recorded(xor_recall_per_query_grid, grid, ["q1", "q2"], passages, _data([("q1", "fi", ["x"]), ("q2", "fi", ["y"])]))
    assert sorted(calls) == sorted(passages[:2])  # 6000 tokens read before "c c" and "d d" in every ranking


# --------------------------------------------------------------------------- random and real data

_VOCAB = ["a", "b", "New", "York", "City", "x.", "(", ")", "Mr.", "1914", "yes", "can't"]


def _random_passage(rng):
    n = rng.choice([0, 1, 1, 2, 3, 5, 400, 999, 1000, 1999, 2500])
    return " ".join(rng.choice(_VOCAB) if rng.random() < 0.5 else f"w{rng.randrange(40)}" for _ in range(n))


def _cut_across(rng, ranked, tokenize):
    """Words cut from the ranked token stream around the space between two passages (or anywhere)."""
    texts = [t for t in ranked if tokenize(t)]
    if len(texts) < 2:
        return rng.choice(_VOCAB)
    i = rng.randrange(len(texts) - 1)
    left, right = tokenize(texts[i]), [tok for t in texts[i + 1:] for tok in tokenize(t)]
    words = left[-rng.randint(1, 2):] + right[:rng.randint(1, 3)]
    return " ".join(words)


@pytest.mark.parametrize("seed", range(4))
def test_random_grids_equal_the_reference(seed):
    """Short passages from a small vocabulary and answers cut across passage boundaries."""
    from nltk.tokenize import word_tokenize

    rng = random.Random(seed)
    for _ in range(25):
        passages = [_random_passage(rng) for _ in range(rng.randint(1, 12))]
        n, depth = rng.randint(1, 6), rng.randint(0, 8)
        grid = {}
        for alpha in (0.0, 0.1, 0.2):
            indices = np.full((n, depth), -1)
            for i in range(n):
                m = rng.randint(0, min(depth, len(passages)))
                indices[i, :m] = rng.sample(range(len(passages)), m)
            grid[alpha] = indices
        answers = []
        for row in grid[rng.choice(list(grid))].tolist():
            ranked = [passages[r] for r in row if r >= 0]
            answers.append([" " * (rng.random() < 0.1) + _cut_across(rng, ranked, word_tokenize)
                            for _ in range(rng.randint(0, 3))])  # fmt: skip
        data = _data([(f"q{i}", "fi", a) for i, a in enumerate(answers)])
        _same_as_reference(grid, [f"q{i}" for i in range(n)], passages, data)


def _real_grid(n_questions, n_passages):
    data = read_xor_data(DEV_FILE)
    data = data.iloc[:n_questions] if n_questions else data
    grid, query_ids, passages, crossing = standin_grid(data, [0.0, 0.02, 0.05, 0.1], n_passages=n_passages, seed=7)
    return data, grid, query_ids, passages, crossing


@pytest.mark.skipif(not DEV_FILE.exists(), reason="XOR-Retrieve dev file not in the data mirror")
def test_real_dev_questions_alpha_grid_equal_the_reference():
    data, grid, query_ids, passages, crossing = _real_grid(300, 400)
    frames = _same_as_reference(grid, query_ids, passages, data)
    hits = frames[0.0].set_index("query_id")["hit@5kt"]
    assert 0.2 < hits.mean() < 0.8 and hits[crossing].sum() >= 10  # answers found across two passages too
    assert any(not frames[0.0][c].equals(frames[0.1][c]) for c in ("hit@2kt", "n_tokens"))  # α changes rankings


@pytest.mark.slow
@pytest.mark.skipif(not DEV_FILE.exists(), reason="XOR-Retrieve dev file not in the data mirror")
def test_all_real_dev_questions_alpha_grid_equal_the_reference():
    data, grid, query_ids, passages, crossing = _real_grid(None, 3000)
    frames = _same_as_reference(grid, query_ids, passages, data)
    assert frames[0.0]["scored"].sum() == 2110 - 182  # the yes/no-only questions are not scored
    assert frames[0.0].set_index("query_id")["hit@5kt"][crossing].sum() >= 100


# --------------------------------------------------------------------------- refusals, as the other paths


def test_passage_twice_in_a_row_refused():
    data = _data([("q1", "fi", ["x"]), ("q2", "fi", ["y"])])
    grid = {0.0: np.array([[0, 1], [1, -1]]), 0.1: np.array([[0, 1], [2, 2]])}
    with pytest.raises(ValueError, match=r"run 0\.1: expected each passage at most once per query, found passage 2 "
                                         r"twice for query 'q2'"):  # fmt: skip
        xor_recall_per_query_grid(grid, ["q1", "q2"], ["p0", "p1", "p2"], data)


def test_equal_texts_in_different_rows_are_scored_like_the_reference():
    # two passage rows with the same text are two passages (a corpus may hold duplicates)
    data = _data([("q1", "fi", ["Portland"])])
    _same_as_reference({0: np.array([[0, 1]])}, ["q1"], ["Portland " + _filler(2500)] * 2, data)


@pytest.mark.parametrize(
    "grid, query_ids, passages, error, match",
    [
        ([np.array([[0]])], ["q1"], ["p"], TypeError, "mapping key -> int array"),
        ({0: np.array([0])}, ["q1"], ["p"], ValueError, r"run 0: expected an integer array of shape \(1, depth\)"),
        ({0: np.array([[0.0]])}, ["q1"], ["p"], ValueError, "expected an integer array"),
        ({0: np.array([[0], [0]])}, ["q1"], ["p"], ValueError, r"shape \(1, depth\)"),
        ({0: np.array([[1]])}, ["q1"], ["p"], ValueError, r"expected passage rows in \[-1, 1\), found 1"),
        ({0: np.array([[-2]])}, ["q1"], ["p"], ValueError, r"found -2"),
        ({0: np.array([[0], [0]])}, ["q1", "q1"], ["p"], ValueError, "'q1' repeated"),
        ({0: np.array([[0]])}, [1], ["p"], TypeError, "str question ids"),
        ({0: np.array([[0]])}, ["q1"], [{"text": "p"}], TypeError, r"passages\[0\]: expected a passage text"),
    ],
)
def test_bad_inputs_raise(grid, query_ids, passages, error, match):
    with pytest.raises(error, match=match):
        xor_recall_per_query_grid(grid, query_ids, passages, _data([("q1", "fi", ["x"])]))


def test_data_and_ks_checked_as_xor_recall_per_query():
    with pytest.raises(ValueError, match="ks"):
        xor_recall_per_query_grid({0: np.array([[0]])}, ["q1"], ["p"], _data([("q1", "fi", ["x"])]), ks=(2, 2))
    with pytest.raises(ValueError, match="non-empty strings"):
        xor_recall_per_query_grid({0: np.array([[0]])}, ["q1"], ["p"], _data([("q1", "fi", [""])]))
