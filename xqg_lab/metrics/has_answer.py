"""DPR's answer matching (``has_answer``) and the QA-style Recall@k built on it, per query and
per language (the MKQA protocol of mContriever and BGE-M3: one question's languages share its
English answers).

Transcribed from facebookresearch/DPR at a31212dc (``dpr/data/qa_validation.py::has_answer``
with ``match_type="string"``, ``dpr/utils/tokenizers.py::SimpleTokenizer``), the matching that
open-domain QA retrieval papers report as "top-k retrieval accuracy" and that the MKQA
evaluations of mContriever and BGE-M3 (FlagEmbedding ``research/C_MTEB/MKQA``, after
Contriever's copy of the same code) reuse:

1. the passage text and every answer are put in Unicode NFD (``unicodedata.normalize``);
2. both are split by DPR's ``SimpleTokenizer``: the regex
   ``([\\p{L}\\p{N}\\p{M}]+)|([^\\p{Z}\\p{C}])`` -- runs of letters, digits and combining marks,
   or any single other visible character (punctuation is a token of its own); flags
   IGNORECASE, UNICODE, MULTILINE as DPR sets them;
3. tokens are lower-cased (``Tokens.words(uncased=True)``);
4. a hit is an answer whose token sequence occurs as a contiguous run of the passage's tokens.

Consequences worth knowing (all DPR's): accents are *not* stripped (NFD keeps the combining
mark as part of the token, so "Bjornsson" does not match "Björnsson" -- MKQA's aliases carry the
unaccented spellings); matching is on whole tokens ("Scott" does not match "Scotts");
punctuation must match token for token ("U.S." matches "U.S." but not "US"); numbers are strings
("2017" matches "2017" but not "two thousand seventeen"). DPR matches the passage *text*
without its title (``check_answer`` reads ``doc[0]``); :func:`answer_hits` does the same unless
asked otherwise. An empty answer (no tokens) would match every passage in DPR's loop; here it is
refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["dpr_tokens", "has_answer", "answer_hits", "qa_recall_per_query", "hits_matrix", "qa_retrieval", "recall_table"]

_ALPHA_NUM = r"[\p{L}\p{N}\p{M}]+"
_NON_WS = r"[^\p{Z}\p{C}]"


@lru_cache(maxsize=1)
def _pattern():
    import regex

    return regex.compile(f"({_ALPHA_NUM})|({_NON_WS})", flags=regex.IGNORECASE | regex.UNICODE | regex.MULTILINE)


def dpr_tokens(text: str) -> list[str]:
    """DPR's normalised, uncased tokens of ``text``: NFD, ``SimpleTokenizer``, lower-case."""
    if not isinstance(text, str):
        raise TypeError(f"expected a str, found {type(text).__name__}: {text!r:.80}")
    return [m.group().lower() for m in _pattern().finditer(unicodedata.normalize("NFD", text))]


def _answer_token_lists(answers: Iterable[str]) -> list[tuple[str, ...]]:
    if isinstance(answers, str):
        raise TypeError(f"expected answers as a list of strings, found the single string {answers!r:.80}; wrap it in a list")
    lists = []
    for answer in answers:
        tokens = tuple(dpr_tokens(answer))
        if not tokens:
            raise ValueError(
                f"expected answers with at least one token, found {answer!r}; drop empty answers "
                "(DPR's loop would count such an answer as found in every passage)"
            )
        lists.append(tokens)
    return lists


def _contains(tokens: Sequence[str], answers: list[tuple[str, ...]]) -> bool:
    for answer in answers:
        n = len(answer)
        first = answer[0]
        for i in range(len(tokens) - n + 1):
            if tokens[i] == first and tuple(tokens[i : i + n]) == answer:
                return True
    return False


def has_answer(answers: Iterable[str], text: str) -> bool:
    """Whether ``text`` contains any of ``answers`` under DPR's string matching (see module doc).

    Parameters
    ----------
    answers : list of str
        Answer strings (answer and aliases); each must have at least one token.
    text : str
        The passage text.
    """
    return _contains(dpr_tokens(text), _answer_token_lists(answers))


def answer_hits(answers: Iterable[str], texts: Sequence[str]) -> np.ndarray:
    """Bool array (len(texts),): ``has_answer(answers, texts[j])`` for each passage ``j``."""
    lists = _answer_token_lists(answers)
    return np.fromiter((_contains(dpr_tokens(t), lists) for t in texts), dtype=bool, count=len(texts))


def qa_recall_per_query(
    hits: np.ndarray,
    *,
    ks: Sequence[int],
) -> np.ndarray:
    """QA-style Recall@k (DPR "top-k accuracy"; RocketQA's "Recall@k") of each query.

    Parameters
    ----------
    hits : bool array (n_queries, depth)
        ``hits[i, r]``: the passage at rank ``r`` (0-based) of query ``i`` contains an answer;
        a retrieval shorter than ``depth`` is padded with False.
    ks : cut-offs, each in 1..depth.

    Returns
    -------
    float array (n_queries, len(ks)) of 0.0 / 1.0: an answer-bearing passage is in the top ``k``.
    """
    hits = np.asarray(hits)
    if hits.ndim != 2 or hits.dtype != bool:
        raise ValueError(f"expected a 2-d bool array (n_queries, depth), found {hits.dtype} of shape {hits.shape}")
    out = np.empty((hits.shape[0], len(ks)), dtype=float)
    for j, k in enumerate(ks):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= hits.shape[1]:
            raise ValueError(f"expected each k in 1..{hits.shape[1]} (the retrieval depth), found {k!r}")
        out[:, j] = hits[:, :k].any(axis=1)
    return out


def hits_matrix(questions: pd.DataFrame, rows: np.ndarray, texts: Mapping[int, str]) -> np.ndarray:
    """bool ``(n_questions, depth)``: DPR ``has_answer`` of each retrieved passage (text only).

    The languages of one MKQA question share its (English) answers, so each distinct passage
    retrieved for a question is matched once, whichever languages retrieved it.
    """
    out = np.zeros(rows.shape, dtype=bool)
    for _, positions in questions.groupby("question_id", sort=False).indices.items():
        answers = questions["answers"].iat[positions[0]]
        if not len(answers):
            continue
        block = rows[positions]
        unique = np.unique(block[block >= 0])
        found = dict(zip(unique.tolist(), answer_hits(answers, [texts[int(r)] for r in unique])))
        out[positions] = np.vectorize(lambda r: found.get(int(r), False), otypes=[bool])(block)
    return out


def qa_retrieval(questions: pd.DataFrame, rows: np.ndarray, texts: Mapping[int, str], *, ks: Sequence[int]):
    """Per-query QA Recall@k of the scored questions: ``(per_query, hits)``.

    ``per_query``: ``query_id, lang`` and ``R@k`` columns (0/1), one row per scored question
    (``questions["scored"]``); ``hits``: the bool matrix of :func:`hits_matrix` for all rows.
    """
    hits = hits_matrix(questions, rows, texts)
    scored = questions["scored"].to_numpy(dtype=bool)
    recall = qa_recall_per_query(hits[scored], ks=ks)
    frame = questions.loc[scored, ["query_id", "lang"]].reset_index(drop=True)
    for j, k in enumerate(ks):
        frame[f"R@{k}"] = recall[:, j]
    return frame, hits


def recall_table(per_query: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Percent Recall@k per condition and language, plus ``"avg"`` (unweighted mean over languages)
    and ``n_scored``: columns ``condition, lang, n_scored, R@k...``."""
    import pandas as pd

    frames = []
    for condition, frame in per_query.items():
        measures = [c for c in frame.columns if c.startswith("R@")]
        by_lang = frame.groupby("lang", sort=True)[measures].mean() * 100
        by_lang.insert(0, "n_scored", frame.groupby("lang", sort=True).size())
        avg = by_lang[measures].mean().to_frame("avg").T
        avg.insert(0, "n_scored", int(by_lang["n_scored"].sum()))
        table = pd.concat([by_lang, avg]).rename_axis("lang").reset_index()
        frames.append(table.assign(condition=condition))
    out = pd.concat(frames, ignore_index=True)
    return out[["condition", "lang", *[c for c in out.columns if c not in ("condition", "lang")]]]
