"""XOR-Retrieve R@kt straight from search index arrays, for many rankings at once.

:func:`xor_recall_per_query_grid` scores each ranking of a grid (``{key: indices}``: rows of a
passage table in rank order, as :func:`xqg_lab.search.index.search_alpha_grid` returns them) and
gives exactly the frame, and the warnings, of :func:`xqg_lab.metrics.xor_retrieve.xor_recall_per_query`
for the predictions ``ctxs = [passages[r] for r in row if r >= 0]``.

What does not depend on the ranking is computed once per grid: the NLTK tokens of each passage
that some ranking reads within the largest budget, and for each (question, passage) pair

- ``first_end``: the fewest leading tokens of the passage whose joined text holds an answer
  (a passage the budget cuts after ``t`` tokens hits when ``first_end <= t``);
- for each space of an answer, ``a[i] == " "`` (a *state*): whether the passage ends with
  ``a[:i]`` (an answer can start in it and cross the space the scorer puts after it), how many
  leading tokens it needs to start with ``a[i+1:]`` (one can end in it), and whether it is the
  answer's text up to its next space (one can run through it to the passage after).

Per ranking, hits are array operations over (questions, ranks): token counts, their cumulative
sums, the tokens kept of each rank, then a walk over the few boundaries where an answer can start
(one step per passage it crosses; no step when no read passage ends with an answer's first words).
Passages without tokens add nothing to the scorer's text, not even a space, so they are moved
behind the others first.
"""

from __future__ import annotations

import bisect
import warnings
from array import array
from itertools import accumulate
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from xqg_lab.metrics.ranking_arrays import _check_distinct
from xqg_lab.metrics.xor_retrieve import (
    TOKENS_PER_K,
    _check_ks,
    _checked_data,
    _coverage_warnings,
    _per_query_frame,
    _span_answers,
    _word_tokenizer,
)

__all__ = ["xor_recall_per_query_arrays", "xor_recall_per_query_grid"]

_NEVER = np.iinfo(np.int64).max // 4
"""A token count no passage reaches (``first_end`` of a passage without an answer)."""


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(found, value)`` of each ``query`` in the sorted ``keys``; value 0 where not found."""
    if len(keys) == 0:
        return np.zeros(query.shape, dtype=bool), np.zeros(query.shape, dtype=values.dtype)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    found = keys[pos] == query
    return found, np.where(found, values[pos], 0)


class _AnswerSpans:
    """What R@kt needs of each (question row, passage) pair that a ranking reads within ``max_budget``.

    ``answers[row]`` are the span answers of each scored question (rows of the rankings given to
    :meth:`hits`); ``rankings`` (n_rows, depth) int arrays, rows of ``passages``, ``-1`` for none.
    """

    def __init__(self, answers: list[list[str]], passages: np.ndarray, rankings: list[np.ndarray],
                 max_budget: int, *, progress: bool):
        from xqg_lab.core.progress import tqdm

        self.max_budget = max_budget
        self.n_passages = len(passages)
        self.n_tokens = np.full(self.n_passages, -1, dtype=np.int64)  # -1: not tokenised (never read)
        joined: dict[int, str] = {}
        ends: dict[int, array] = {}  # ends[p][t] - 1: characters of the first t >= 1 tokens joined by spaces
        tokenize = None
        depth = max((r.shape[1] for r in rankings), default=0)
        read = [np.zeros(len(answers), dtype=np.int64) for _ in rankings]  # tokens read so far per row
        for j in tqdm(range(depth), desc="R@kt: tokenising passages", unit="rank", disable=not progress):
            for indices, before in zip(rankings, read):
                if j >= indices.shape[1]:
                    continue
                column = indices[:, j]
                reading = (column >= 0) & (before < max_budget)
                new = np.unique(column[reading])
                for p in new[self.n_tokens[new] < 0].tolist():
                    text = passages[p]
                    if not isinstance(text, str):
                        raise TypeError(f"passages[{p}]: expected a passage text (str), found {type(text).__name__}; "
                                        f"pass the text only (not title or DPR dicts)")  # fmt: skip
                    tokenize = tokenize or _word_tokenizer()
                    tokens = tokenize(text)
                    self.n_tokens[p] = len(tokens)
                    joined[p] = " ".join(tokens)
                    ends[p] = array("q", accumulate((len(t) + 1 for t in tokens), initial=0))
                before[reading] += self.n_tokens[column[reading]]

        keys = [np.zeros(0, dtype=np.int64)]
        for indices in rankings:
            tokens = self._tokens(indices)
            start = np.cumsum(tokens, axis=1) - tokens
            reads = (tokens > 0) & (start < max_budget)
            keys.append(np.nonzero(reads)[0] * self.n_passages + indices[reads])
        self.keys = np.unique(np.concatenate(keys))  # row · n_passages + passage, one per pair
        self._pair_features(answers, joined, ends)

    def _pair_features(self, answers: list[list[str]], joined: dict[int, str], ends: dict[int, array]) -> None:
        states = []  # per row: (answer, i, a[:i], a[i+1:]) for each space a[i] of each distinct answer
        for span in answers:
            states.append([(a, i, a[:i], a[i + 1:]) for a in dict.fromkeys(span) for i, c in enumerate(a) if c == " "])
        self.n_states = max((len(s) for s in states), default=0) + 1
        n_pairs = len(self.keys)
        self.first_end = np.full(n_pairs + 1, _NEVER, dtype=np.int64)  # last: no pair
        starts_in, start_state, end_keys, end_need, through_keys, through_to = [], [], [], [], [], []
        for pair, (row, p) in enumerate(zip(*(x.tolist() for x in np.divmod(self.keys, self.n_passages)))):
            text, end = joined[p], ends[p]
            first_end = _NEVER
            for a in dict.fromkeys(answers[row]):
                c = text.find(a)
                if c >= 0:  # fewest tokens t with end[t] - 1 >= c + len(a)
                    first_end = min(first_end, bisect.bisect_left(end, c + len(a) + 1))
            self.first_end[pair] = first_end
            row_states = states[row]
            for k, (a, i, head, rest) in enumerate(row_states):
                if text.endswith(head):
                    starts_in.append(pair)
                    start_state.append(k)
                if text.startswith(rest):
                    end_keys.append(pair * self.n_states + k)
                    end_need.append(bisect.bisect_left(end, len(rest) + 1) if rest else 0)
                after = i + 1 + len(text)
                if after < len(a) and a[after] == " " and a.startswith(text, i + 1):
                    through_keys.append(pair * self.n_states + k)
                    through_to.append(next(j for j, s in enumerate(row_states) if s[:2] == (a, after)))
        counts = np.bincount(np.asarray(starts_in, dtype=np.int64), minlength=n_pairs + 1)
        self.has_start = counts > 0  # (n_pairs + 1,)
        self.start_ptr = np.r_[0, np.cumsum(counts)]  # CSR over pairs (starts_in is ascending)
        self.start_state = np.asarray(start_state, dtype=np.int64)
        self.end_keys, self.end_need = np.asarray(end_keys, dtype=np.int64), np.asarray(end_need, dtype=np.int64)
        self.through_keys = np.asarray(through_keys, dtype=np.int64)
        self.through_to = np.asarray(through_to, dtype=np.int64)  # ascending keys: pairs in order, states too

    def _tokens(self, indices: np.ndarray) -> np.ndarray:
        """Tokens of the passage at each rank: 0 for ``-1`` and for passages never read."""
        return np.where(indices >= 0, np.maximum(self.n_tokens[indices], 0), 0)

    def hits(self, indices: np.ndarray, ks: tuple[int, ...]) -> tuple[dict[int, np.ndarray], np.ndarray]:
        """``({k: hit (n_rows,) bool}, tokens kept for the largest budget (n_rows,))`` of one ranking."""
        n, depth = indices.shape
        tokens = self._tokens(indices)
        order = np.argsort(tokens == 0, axis=1, kind="stable")  # passages without tokens last
        indices, tokens = np.take_along_axis(indices, order, 1), np.take_along_axis(tokens, order, 1)
        start = np.cumsum(tokens, axis=1) - tokens
        reads = (tokens > 0) & (start < self.max_budget)
        pair = np.full((n, depth), len(self.keys), dtype=np.int64)  # len(keys): no pair
        pair[reads] = np.searchsorted(self.keys, np.nonzero(reads)[0] * self.n_passages + indices[reads])
        hits = {}
        for k in ks:
            budget = k * TOKENS_PER_K
            kept = np.clip(budget - start, 0, tokens)
            hit = ((kept > 0) & (self.first_end[pair] <= kept)).any(axis=1)
            joined = np.zeros((n, depth), dtype=bool)  # a space joins rank x to rank x + 1 within the budget
            joined[:, :-1] = (tokens[:, :-1] > 0) & (tokens[:, 1:] > 0) & (start[:, 1:] < budget)
            row, rank = np.nonzero(joined & self.has_start[pair])
            first, count = self.start_ptr[pair[row, rank]], np.diff(self.start_ptr)[pair[row, rank]]
            row, rank = np.repeat(row, count), np.repeat(rank, count)
            state = self.start_state[np.repeat(first - (np.cumsum(count) - count), count) + np.arange(count.sum())]
            while len(row):  # answers crossing the space after `rank`, one passage further per step
                nxt = rank + 1
                key = pair[row, nxt] * self.n_states + state
                ends, need = _lookup(self.end_keys, self.end_need, key)
                hit[row[ends & (need <= kept[row, nxt])]] = True
                runs, state = _lookup(self.through_keys, self.through_to, key)
                runs &= joined[row, nxt]
                row, rank, state = row[runs], nxt[runs], state[runs]
            hits[k] = hit
        return hits, np.minimum(tokens.sum(axis=1), self.max_budget)


def _checked_rankings(grid, n_queries: int, n_passages: int, query_ids: np.ndarray) -> dict:
    """``{key: int64 (n_queries, depth)}``; raises on shapes, dtypes, rows out of range and repeats
    (as :func:`xqg_lab.metrics.per_query_grid`)."""
    if not isinstance(grid, Mapping):
        raise TypeError(f"expected rankings as a mapping key -> int array (n_queries, depth), found "
                        f"{type(grid).__name__}; wrap one ranking as {{0: indices}}")  # fmt: skip
    out = {}
    for key, indices in grid.items():
        indices = np.asarray(indices)
        if indices.ndim != 2 or len(indices) != n_queries or not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"run {key!r}: expected an integer array of shape ({n_queries}, depth) (rows of the "
                             f"passages, -1 for none), found {indices.dtype} {indices.shape}; pass the indices of "
                             f"one search over the given query_ids")  # fmt: skip
        if indices.size and (indices.min() < -1 or indices.max() >= n_passages):
            bad = int(indices.max()) if indices.max() >= n_passages else int(indices.min())
            raise ValueError(f"run {key!r}: expected passage rows in [-1, {n_passages}), found {bad}; pass "
                             f"the passage table the search ran over")  # fmt: skip
        _check_distinct(indices, key, query_ids, range(n_passages))
        out[key] = indices.astype(np.int64, copy=False)
    return out


def _score_grid(grid, query_ids, passages, data, ks, progress) -> tuple[dict, list[str], dict[Hashable, list[str]]]:
    """``(frames, messages about the questions, messages per ranking)``."""
    ks = _check_ks(ks)
    qids, langs, answers = _checked_data(data)
    query_ids = np.asarray(query_ids, dtype=object)
    for q in query_ids:
        if not isinstance(q, str):
            raise TypeError(f"query_ids: expected str question ids, found {type(q).__name__} {q!r}; convert with str()")
    index = pd.Index(query_ids)
    if not index.is_unique:
        raise ValueError(f"query_ids: expected each question once (one ranking row each), found "
                         f"{index[index.duplicated()][0]!r} repeated; keep one row per question")  # fmt: skip
    passages = np.asarray(passages, dtype=object)
    if passages.ndim != 1:
        raise ValueError(f"passages: expected a sequence of passage texts (n_passages,), found shape {passages.shape}")
    rankings = _checked_rankings(grid, len(query_ids), len(passages), query_ids)
    messages = _coverage_warnings(qids, langs, answers, dict.fromkeys(query_ids.tolist()), {})

    row_of = index.get_indexer(qids)  # ranking row of each question of data, -1 without one
    predicted = row_of >= 0
    span = [_span_answers(a) for a in answers]
    scored = predicted & np.array([bool(s) for s in span], dtype=bool)
    rows = row_of[scored]
    max_budget = max(ks) * TOKENS_PER_K
    spans = _AnswerSpans([span[i] for i in np.flatnonzero(scored)], passages,
                         [r[rows] for r in rankings.values()], max_budget, progress=progress)  # fmt: skip
    frames, per_ranking = {}, {}
    for key, indices in rankings.items():
        hit, kept = spans.hits(indices[rows], ks)
        hits = {k: np.full(len(qids), np.nan) for k in ks}
        for k in ks:
            hits[k][scored] = hit[k].astype(np.float64)
        n_tokens = np.zeros(len(qids), dtype=np.int64)
        n_tokens[scored] = kept
        frames[key], per_ranking[key] = _per_query_frame(
            qids, langs, predicted, scored, hits, pd.arrays.IntegerArray(n_tokens, ~scored), ks
        )
    return frames, messages, per_ranking


def xor_recall_per_query_grid(
    grid: Mapping[Hashable, np.ndarray],
    query_ids: Sequence[str],
    passages: Sequence[str],
    data: pd.DataFrame,
    *,
    ks: Sequence[int] = (2, 5),
    progress: bool = False,
) -> dict[Hashable, pd.DataFrame]:
    """Per-question XOR-Retrieve hits of every ranking of a grid, from the search's index arrays.

    Parameters
    ----------
    grid : ``{key: indices}`` (keys usually α): int array (n_queries, depth), ``indices[i, j]`` the
        passage row at rank ``j + 1`` for question ``query_ids[i]``, ``-1`` for none; rank order
        is the columns' order (as the official scorer reads ``ctxs``). A row names each passage
        at most once (ValueError otherwise, as :func:`xqg_lab.metrics.per_query_grid`).
    query_ids : (n_queries,) str id of each row, each once.
    passages : (n_passages,) passage texts (no title), indexed by the rows in ``grid``.
    data : questions as for :func:`xqg_lab.metrics.xor_recall_per_query` (``query_id``, ``lang``,
        ``answers``).
    ks : budgets in thousands of whitespace-joined NLTK tokens.
    progress : show a progress bar while the passages are tokenised (once per grid).

    Returns
    -------
    ``{key: frame}``, each frame exactly as ``xor_recall_per_query(data, {q: [passages[r] for r
    in row if r >= 0]}, ks=ks)`` returns it, with the same warnings (those about the questions
    once, those about short retrievals per ranking).
    """
    frames, messages, per_ranking = _score_grid(grid, query_ids, passages, data, ks, progress)
    for message in [*messages, *(m for ms in per_ranking.values() for m in ms)]:
        warnings.warn(message, UserWarning, stacklevel=2)
    return frames


def xor_recall_per_query_arrays(
    indices: np.ndarray,
    query_ids: Sequence[str],
    passages: Sequence[str],
    data: pd.DataFrame,
    *,
    ks: Sequence[int] = (2, 5),
) -> pd.DataFrame:
    """Per-question XOR-Retrieve hits of one ranking; see :func:`xor_recall_per_query_grid`."""
    frames, messages, per_ranking = _score_grid({0: indices}, query_ids, passages, data, ks, False)
    for message in [*messages, *per_ranking[0]]:
        warnings.warn(message, UserWarning, stacklevel=2)
    return frames[0]
