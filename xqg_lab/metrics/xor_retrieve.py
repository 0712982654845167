"""XOR-Retrieve R@2kt / R@5kt, reproducing the official scorer exactly.

Reference: ``evals/eval_xor_retrieve.py`` of github.com/AkariAsai/XORQA (Asai et al., 2021,
"XOR QA: Cross-lingual Open-Retrieval Question Answering"). Its rules, reproduced here:

1. a prediction is, per question id, a list of ranked passage *texts* (strings; DPR-style
   ``{"text": ...}`` dicts are not accepted by the official script either);
2. answers exactly equal to ``"yes"`` or ``"no"`` (case-sensitive, so ``"Yes"`` stays) are
   dropped; a question with no answer left is not scored;
3. passages are tokenised in rank order with ``nltk.word_tokenize`` and their tokens appended
   until at least ``k·1000`` are collected; exactly the first ``k·1000`` are kept and joined
   with single spaces (so an answer may span two passages);
4. hit = some remaining answer is a plain, case-sensitive substring of that string;
5. per language: hits / scored × 100; the headline is the unweighted mean over languages.

Differences, all loud rather than silent: questions without a prediction are not counted
(as in the official script) but warned about; retrievals shorter than ``k·1000`` tokens are
scored on what there is (as in the official script) and warned about; questions whose answer
list is empty (``"answers": []``) are not scored (as in the official script) but warned about and
counted; predictions for ids not in the data are ignored (as in the official script) with a
warning; an empty data file is an error, not "no scored question". The language of a question
is the data file's ``lang`` with surrounding whitespace stripped (the train file writes
``" ar"``); the official script groups by the prediction's ``lang``, so a prediction whose
language differs from the data's raises ``ValueError`` instead of being regrouped.
Exact agreement also needs the same NLTK tokeniser version (Punkt tables and Treebank rules).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from os import PathLike

import numpy as np
import pandas as pd

from xqg_lab.core.errors import DataFormatError

__all__ = [
    "read_xor_data",
    "read_xor_predictions",
    "xor_recall_per_query",
    "xor_recall",
    "main",
]

TOKENS_PER_K = 1000
YES_NO = ("yes", "no")
_CACHE_SIZE = 1 << 14  # distinct passages whose tokens are kept (about 100 MB for 100-word passages)


# --------------------------------------------------------------------------- loading


def read_xor_data(path: str | PathLike) -> pd.DataFrame:
    """Read an XOR-Retrieve JSONL file (one ``{id, question, answers, lang, ...}`` per line).

    Returns a frame with ``query_id`` (str), ``lang`` (str, whitespace stripped: the train file
    writes ``" ar"``), ``text`` (the question, or None when absent) and ``answers`` (list of str),
    in file order. Raises :class:`DataFormatError` (``path:line: ...``) for invalid JSON or UTF-8,
    missing or mistyped fields, a language not in XOR-Retrieve, empty answer strings and
    duplicate ids.
    """
    from xqg_lab.data.common import iter_lines, parse_json
    from xqg_lab.data.xor_tydi import XOR_LANGS

    rows = []
    seen: dict[str, str] = {}
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        obj = parse_json(line, path=path, line=lineno, expected="; expected one JSON object per line")
        if not isinstance(obj, dict):
            raise DataFormatError(path, lineno, f"expected a JSON object, found {type(obj).__name__}")
        for field in ("id", "answers", "lang"):
            if field not in obj:
                raise DataFormatError(
                    path, lineno, f"expected a field {field!r}, found fields {sorted(obj)}"
                )
        qid, answers, lang = obj["id"], obj["answers"], obj["lang"]
        _check_id_and_lang(qid, lang, seen, at=f"on line {lineno}", path=path, line=lineno)
        if lang.strip() not in XOR_LANGS:
            raise DataFormatError(
                path, lineno, f"unknown language code {lang!r}; expected one of: {', '.join(XOR_LANGS)}"
            )
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise DataFormatError(path, lineno, f"expected 'answers' to be a list of strings, found {answers!r}")
        if not all(a.strip() for a in answers):
            raise DataFormatError(
                path, lineno, f"expected non-empty answer strings, found {answers!r:.120}; an empty answer is a "
                f"substring of every retrieval, so it would count as a hit; remove it"
            )
        text = obj.get("question")
        rows.append((qid, lang.strip(), text if isinstance(text, str) else None, list(answers)))
    if not rows:
        raise DataFormatError(
            path, None, "expected one XOR-Retrieve question per line ({id, question, answers, lang}), found an "
            "empty file (an interrupted download or the wrong file?); fix: pass the data file, e.g. "
            "xor_dev_retrieve_eng_span_v1_1.jsonl"
        )
    return pd.DataFrame(rows, columns=["query_id", "lang", "text", "answers"])


def read_xor_predictions(path: str | PathLike) -> pd.DataFrame:
    """Read an official-format prediction file: a JSON list of ``{"id", "lang", "ctxs"}``.

    ``ctxs`` must be a list of passage texts (str) in rank order, as the official scorer
    requires. Returns a frame with ``query_id`` (str), ``lang`` (str, stripped) and ``ctxs``
    (list of str), in file order. Raises :class:`DataFormatError` naming the file and item
    index for invalid JSON, missing fields, non-string passages and duplicate ids.
    """
    from xqg_lab.data.common import read_json

    items, _ = read_json(path)
    if not isinstance(items, list):
        raise DataFormatError(
            path, None, f"expected a JSON list of {{'id', 'lang', 'ctxs'}} objects, found {type(items).__name__}"
        )
    rows = []
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        where = f"item {i}"
        if not isinstance(item, dict):
            raise DataFormatError(path, None, f"{where}: expected a JSON object, found {type(item).__name__}")
        for field in ("id", "lang", "ctxs"):
            if field not in item:
                raise DataFormatError(path, None, f"{where}: expected a field {field!r}, found fields {sorted(item)}")
        qid, lang, ctxs = item["id"], item["lang"], item["ctxs"]
        _check_id_and_lang(qid, lang, seen, at=f"at item {i}", path=path, line=None, where=f"{where}: ",
                           fix="; keep one ranking per question")
        if not isinstance(ctxs, list):
            raise DataFormatError(path, None, f"{where}: expected 'ctxs' to be a list of passage texts, found {type(ctxs).__name__}")
        for j, ctx in enumerate(ctxs):
            if not isinstance(ctx, str):
                hint = " (DPR-style output: keep only the text, ctxs = [c['text'] for c in ctxs])" if isinstance(ctx, dict) else ""
                raise DataFormatError(
                    path, None, f"{where} (id {qid!r}): expected ctxs[{j}] to be a passage text (str), "
                    f"found {type(ctx).__name__}{hint}"
                )
        rows.append((qid, lang.strip(), list(ctxs)))
    return pd.DataFrame(rows, columns=["query_id", "lang", "ctxs"])


# --------------------------------------------------------------------------- scoring


def _word_tokenizer():
    """Return a callable ``text -> list[str]``: NLTK's ``word_tokenize`` with Punkt data available."""
    try:
        from xqg_lab.data.fetch import ensure_punkt
    except ModuleNotFoundError as e:  # until xqg_lab.data.fetch exists
        if e.name not in ("xqg_lab.data.fetch",):
            raise
    else:
        ensure_punkt()
    from nltk.tokenize import word_tokenize

    return word_tokenize


class _TokenCache:
    """Bounded LRU cache of token lists per distinct passage text (within one scoring call)."""

    def __init__(self, tokenize, maxsize: int = _CACHE_SIZE):
        self._tokenize = tokenize
        self._maxsize = maxsize
        self._store: OrderedDict[str, list[str]] = OrderedDict()

    def __call__(self, text: str) -> list[str]:
        tokens = self._store.get(text)
        if tokens is not None:
            self._store.move_to_end(text)
            return tokens
        tokens = self._tokenize(text)
        self._store[text] = tokens
        if len(self._store) > self._maxsize:
            self._store.popitem(last=False)
        return tokens


def _check_ks(ks) -> tuple[int, ...]:
    if isinstance(ks, int):
        ks = (ks,)
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f"expected ks as positive integers (thousands of tokens), e.g. (2, 5), found {ks!r}")
    if len(set(ks)) != len(ks):
        raise ValueError(f"expected distinct ks, found {ks!r}")
    return tuple(int(k) for k in ks)


def _check_question_frame(frame: pd.DataFrame, name: str, columns: Sequence[str], *, fix: str) -> None:
    """``columns`` present and one row per ``query_id``; ``fix`` ends the missing-column message."""
    for col in columns:
        if col not in frame.columns:
            raise ValueError(f"{name} frame: expected a column {col!r}, found columns {list(frame.columns)}; {fix}")
    dup = frame["query_id"].duplicated()
    if dup.any():
        raise ValueError(
            f"{name} frame: expected one row per question, found duplicate query_id "
            f"{frame.loc[dup, 'query_id'].iloc[0]!r}; keep one row per question"
        )


def _check_id_and_lang(qid, lang, seen: dict[str, str], *, at: str, path, line: int | None, where: str = "",
                       fix: str = "") -> None:
    """``id`` and ``lang`` of one question or prediction are strings and the id is new.

    ``seen`` maps each id to where it stood first (``at``: ``"on line 3"``, ``"at item 0"``);
    ``where`` prefixes the messages and ``fix`` ends the duplicate-id one.
    """
    if not isinstance(qid, str):
        raise DataFormatError(path, line, f"{where}expected 'id' to be a string, found {type(qid).__name__} {qid!r}")
    if not isinstance(lang, str):
        raise DataFormatError(path, line, f"{where}expected 'lang' to be a string, found {type(lang).__name__}")
    if qid in seen:
        raise DataFormatError(path, line, f"{where}duplicate id {qid!r} (first {seen[qid]}){fix}")
    seen[qid] = at


def _normalise_predictions(predictions) -> tuple[dict[str, Sequence[str]], dict[str, str]]:
    """Return (qid -> ranked texts, qid -> lang for predictions that name one)."""
    langs: dict[str, str] = {}
    if isinstance(predictions, pd.DataFrame):
        _check_question_frame(
            predictions, "predictions", ("query_id", "ctxs"),
            fix="use read_xor_predictions() or a frame with 'query_id' and 'ctxs' (list of passage texts)",
        )
        ctxs = dict(zip(predictions["query_id"], predictions["ctxs"]))
        if "lang" in predictions.columns:
            langs = {q: l for q, l in zip(predictions["query_id"], predictions["lang"]) if isinstance(l, str)}
    elif isinstance(predictions, Mapping):
        ctxs = dict(predictions)
    else:
        raise TypeError(
            f"expected predictions as a DataFrame (query_id, ctxs[, lang]) or a mapping query_id -> list of "
            f"passage texts, found {type(predictions).__name__}"
        )
    for q, texts in ctxs.items():
        if not isinstance(q, str):
            raise TypeError(f"predictions: expected str question ids, found {type(q).__name__} {q!r}; convert with str()")
        if isinstance(texts, str) or not isinstance(texts, (Sequence, np.ndarray)):
            raise TypeError(
                f"predictions for {q!r}: expected a list of passage texts in rank order, found {type(texts).__name__}"
            )
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(
                    f"predictions for {q!r}: expected passage texts (str), found {type(t).__name__}; "
                    f"pass the text only (not title or DPR dicts)"
                )
    return ctxs, langs


def _few(ids: Sequence[str], n: int = 5) -> str:
    ids = list(ids)
    return ", ".join(repr(i) for i in ids[:n]) + (", ..." if len(ids) > n else "")


def _span_answers(answers: Sequence[str]) -> list[str]:
    """The answers R@kt matches: all but those exactly ``"yes"`` or ``"no"``."""
    return [a for a in answers if a not in YES_NO]


def _checked_data(data: pd.DataFrame) -> tuple[list[str], list[str], list[list[str]]]:
    """``(query ids, stripped langs, answers)`` of ``data`` sorted by ``query_id``; raises on bad input."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected data as a DataFrame (query_id, lang, answers), found {type(data).__name__}")
    _check_question_frame(data, "data", ("query_id", "lang", "answers"), fix="use read_xor_data()")
    data = data.sort_values("query_id", kind="stable").reset_index(drop=True)
    qids = list(data["query_id"])
    for q in qids:
        if not isinstance(q, str):
            raise TypeError(f"data frame: expected str query ids, found {type(q).__name__} {q!r}; convert with astype(str)")
    for q, answers in zip(qids, data["answers"]):
        if isinstance(answers, str) or not all(isinstance(a, str) and a.strip() for a in answers):
            raise ValueError(
                f"data frame: expected the answers of {q!r} as a list of non-empty strings, found {answers!r:.120}; "
                f"an empty answer is a substring of every retrieval (a sure hit), so remove it"
            )
    langs = [l.strip() if isinstance(l, str) else l for l in data["lang"]]
    return qids, langs, list(data["answers"])


def _coverage_warnings(qids: list[str], langs: list[str], answers: list[list[str]], predicted_ids,
                       pred_langs: Mapping[str, str]) -> list[str]:
    """Messages about predictions for unknown ids, questions without a prediction and predicted
    questions without answers; raises ValueError when a prediction's lang differs from the data's."""
    mismatched = [
        (q, pred_langs[q].strip(), lang)
        for q, lang in zip(qids, langs)
        if q in pred_langs and pred_langs[q].strip() != lang
    ]
    if mismatched:
        q, pl, dl = mismatched[0]
        raise ValueError(
            f"predictions: expected each prediction's lang to match the data's, found {len(mismatched)} mismatches, "
            f"e.g. {q!r} has lang {pl!r} in the predictions and {dl!r} in the data; the official scorer would group "
            f"it under the prediction's lang, so fix the prediction file"
        )
    messages = []
    known = set(qids)
    unknown = [q for q in predicted_ids if q not in known]
    if unknown:
        messages.append(
            f"XOR-Retrieve: ignoring predictions for {len(unknown)} question ids not in the data "
            f"(e.g. {_few(sorted(unknown))}); the official scorer skips them too"
        )
    missing = [q for q in qids if q not in predicted_ids]
    if missing:
        messages.append(
            f"XOR-Retrieve: {len(missing)} of {len(qids)} questions have no prediction and are NOT counted "
            f"(official semantics; R@kt is then over the rest), e.g. {_few(missing)}"
        )
    no_answer = [q for q, a in zip(qids, answers) if q in predicted_ids and len(a) == 0]
    if no_answer:
        messages.append(
            f"XOR-Retrieve: {len(no_answer)} predicted questions have no answer at all (\"answers\": []) and are NOT "
            f"scored (the official scorer skips them too; R@kt is over the rest), e.g. {_few(no_answer)}"
        )
    return messages


def _per_query_frame(qids: list[str], langs: list[str], predicted: np.ndarray, scored: np.ndarray,
                     hits: Mapping[int, np.ndarray], n_tokens, ks: tuple[int, ...]) -> tuple[pd.DataFrame, list[str]]:
    """The frame :func:`xor_recall_per_query` returns, and its messages about short retrievals."""
    out = pd.DataFrame({"query_id": qids, "lang": langs, "predicted": predicted, "scored": scored})
    for k in ks:
        out[f"hit@{k}kt"] = hits[k]
    out["n_tokens"] = pd.array(n_tokens, dtype="Int64")
    messages = []
    scored_tokens = out.loc[out["scored"], ["query_id", "n_tokens"]]
    for k in ks:
        budget = k * TOKENS_PER_K
        short = scored_tokens[scored_tokens["n_tokens"] < budget]
        if len(short):
            messages.append(
                f"XOR-Retrieve R@{k}kt: {len(short)} of {len(scored_tokens)} scored questions retrieved fewer than "
                f"{budget} tokens (shortest {int(short['n_tokens'].min())}; e.g. {_few(list(short['query_id']))}); "
                f"the official scorer silently scores them on what there is; retrieve more passages"
            )
    return out, messages


def xor_recall_per_query(
    data: pd.DataFrame,
    predictions: pd.DataFrame | Mapping[str, Sequence[str]],
    *,
    ks: Sequence[int] = (2, 5),
) -> pd.DataFrame:
    """Per-question XOR-Retrieve hits at ``k·1000`` tokens (official R@kt semantics).

    Parameters
    ----------
    data : frame with ``query_id`` (str), ``lang`` (str) and ``answers`` (list of str), e.g. from
        :func:`read_xor_data`.
    predictions : frame with ``query_id`` and ``ctxs`` (list of passage texts, rank order) and
        optionally ``lang`` (checked against ``data``), e.g. from :func:`read_xor_predictions`;
        or a mapping ``query_id -> list of passage texts``.
    ks : budgets in thousands of whitespace-joined NLTK tokens.

    Returns
    -------
    DataFrame, one row per question of ``data`` sorted by ``query_id``: ``query_id``, ``lang``
    (stripped), ``predicted`` (bool), ``scored`` (bool: predicted and at least one answer other
    than "yes"/"no"), ``hit@{k}kt`` per k (float 1.0 / 0.0, NaN when not scored) and ``n_tokens``
    (Int64: tokens kept for the largest budget, at most ``max(ks)·1000``; NA when not scored).

    Warns (UserWarning) about questions without a prediction (not counted), predicted questions
    with an empty answer list (not scored, as in the official script), predictions for unknown
    ids (ignored) and scored questions whose retrieval is shorter than a budget.
    """
    ks = _check_ks(ks)
    qids, langs, answers = _checked_data(data)
    ctxs, pred_langs = _normalise_predictions(predictions)
    for message in _coverage_warnings(qids, langs, answers, ctxs, pred_langs):
        warnings.warn(message, UserWarning, stacklevel=2)

    budgets = [k * TOKENS_PER_K for k in ks]
    max_budget = max(budgets)
    tokenize = None  # created on first use so that yes/no-only data needs no NLTK
    n = len(qids)
    predicted = np.zeros(n, dtype=bool)
    scored = np.zeros(n, dtype=bool)
    hits = {k: np.full(n, np.nan) for k in ks}
    n_tokens = [pd.NA] * n

    for i, q in enumerate(qids):
        if q not in ctxs:
            continue
        predicted[i] = True
        span_answers = _span_answers(answers[i])
        if not span_answers:
            continue
        scored[i] = True
        if tokenize is None:
            tokenize = _TokenCache(_word_tokenizer())
        tokens: list[str] = []
        for text in ctxs[q]:
            tokens += tokenize(text)
            if len(tokens) >= max_budget:
                break
        del tokens[max_budget:]
        n_tokens[i] = len(tokens)
        for k, budget in zip(ks, budgets):
            concat = " ".join(tokens[:budget])
            hits[k][i] = 1.0 if any(a in concat for a in span_answers) else 0.0

    out, messages = _per_query_frame(qids, langs, predicted, scored, hits, n_tokens, ks)
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=2)
    return out


def xor_recall(per_query: pd.DataFrame) -> pd.DataFrame:
    """Per-language and macro-averaged R@kt (percent, 0-100) from :func:`xor_recall_per_query`.

    Returns a DataFrame indexed by ``lang`` (sorted languages with at least one scored question,
    then ``"avg"``), one column ``R@{k}kt`` per ``hit@{k}kt`` column (per language: hits /
    scored × 100; ``avg``: unweighted mean over languages, as the official script) and
    ``n_scored`` (int; the total on the ``avg`` row).
    """
    for col in ("lang", "scored"):
        if col not in per_query.columns:
            raise ValueError(
                f"per_query frame: expected a column {col!r}, found {list(per_query.columns)}; "
                f"pass the output of xor_recall_per_query()"
            )
    hit_cols = [c for c in per_query.columns if c.startswith("hit@") and c.endswith("kt")]
    if not hit_cols:
        raise ValueError(f"per_query frame: expected hit@<k>kt columns, found {list(per_query.columns)}")
    scored = per_query[per_query["scored"].astype(bool)]
    if len(scored) == 0:
        raise ValueError("XOR-Retrieve: no scored question (none predicted with a non-yes/no answer); nothing to average")
    rows = {}
    for lang, group in scored.groupby("lang", sort=True):
        count = len(group)
        row = {}
        for c in hit_cols:
            hit = int(group[c].sum())
            row["R@" + c[len("hit@"):]] = (hit / count) * 100  # same float expression as the official script
        row["n_scored"] = count
        rows[lang] = row
    avg = {
        "R@" + c[len("hit@"):]: statistics.mean(r["R@" + c[len("hit@"):]] for r in rows.values()) for c in hit_cols
    }
    avg["n_scored"] = len(scored)
    rows["avg"] = avg
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "lang"
    out["n_scored"] = out["n_scored"].astype(int)
    return out


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``xqg-lab score-xor --data_file DEV.jsonl --pred_file PRED.json [--json]``; returns the exit code.

    Prints per-language and macro-averaged R@2kt / R@5kt in the official script's layout, or
    with ``--json`` exactly one JSON object ``{"R@2kt": {lang: score, ..., "avg": s}, "R@5kt": {...}}``
    (percent). Warnings go to stderr.
    """
    parser = argparse.ArgumentParser(
        prog="xqg-lab score-xor",
        description="XOR-Retrieve R@2kt / R@5kt, exactly as the official eval_xor_retrieve.py.",
    )
    parser.add_argument("--data_file", required=True, help="XOR-Retrieve JSONL with id, question, answers, lang")
    parser.add_argument("--pred_file", required=True, help='JSON list of {"id", "lang", "ctxs": [passage text, ...]}')
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the official layout")
    args = parser.parse_args(argv)

    try:
        data = read_xor_data(args.data_file)
        predictions = read_xor_predictions(args.pred_file)
        table = xor_recall(xor_recall_per_query(data, predictions, ks=(2, 5)))
    except (OSError, ValueError, TypeError) as e:
        print(f"xqg-lab score-xor: error: {e}", file=sys.stderr)
        return 1

    if args.json:
        result = {col: {lang: float(v) for lang, v in table[col].items()} for col in ("R@2kt", "R@5kt")}
        print(json.dumps(result))
        return 0
    langs = [lang for lang in table.index if lang != "avg"]
    for k in (2, 5):
        col = f"R@{k}kt"
        print(f"Evaluating R@{k}kt")
        for lang in langs:
            print(f"performance on {lang} ({table.loc[lang, 'n_scored']} examples)")
            print(float(table.loc[lang, col]))
        print("Final macro averaged score: ")
        print(float(table.loc["avg", col]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
