"""MKQA (Longpre et al., 2021): 10k Natural Questions queries aligned across 26 languages."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xqg_lab.data.common import (
    check_new_id,
    iter_jsonl,
    require,
    require_id,
)
from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import check_langs
from xqg_lab.data.fetch import resolve_source
from xqg_lab.data.langs import MKQA_LANGS

if TYPE_CHECKING:
    import pandas as pd


MKQA_SOURCES = ("full", "sample")
"""Registry shortcuts: the full 10k file and the 6-example test sample of the MKQA repository."""

MKQA_COLUMNS = ("query_id", "question_id", "lang", "text", "answers", "answer_types")


def load_mkqa(source: str | os.PathLike[str] = "full", *, langs: Iterable[str] | str | None = None) -> pd.DataFrame:
    """Load MKQA queries in ``langs``, streaming the (gzipped) JSONL file.

    Parameters
    ----------
    source : {"full", "sample"} or path
        ``"full"`` (``mkqa.jsonl.gz``, 10,000 examples; not in the offline mirror),
        ``"sample"`` (6 examples from the MKQA test data), or the path of a file in the MKQA
        schema (``example_id``, ``queries{lang}``, ``answers{lang: [{type, text, aliases}]}``),
        gzipped or not.
    langs : iterable of str, str or None
        Codes of :data:`MKQA_LANGS` to keep (None: all 26).

    Returns
    -------
    DataFrame
        ``query_id`` (``"<example_id>-<lang>"``), ``question_id`` (str, MKQA's
        ``example_id``, shared across languages), ``lang``, ``text``, ``answers`` (list[str]:
        each answer's ``text`` then its ``aliases``, de-duplicated in order; empty for
        unanswerable and long answers), ``answer_types`` (list[str], one per answer entry,
        e.g. ``"entity"``, ``"date"``, ``"unanswerable"``); sorted by ``query_id``.

    Raises
    ------
    DataFormatError
        Malformed JSON, a missing language or field, an empty query, duplicate
        ``example_id`` -- each naming the line.
    """
    import pandas as pd

    selected = check_langs(langs, MKQA_LANGS, what="MKQA language")
    path = _resolve(source)
    rows: list[tuple[Any, ...]] = []
    for line, example_id, queries, answers in _examples(path):
        for lang in selected:
            text = _query_text(queries, lang, example_id, path, line)
            entries = _get(answers, lang, "answers", path, line)
            texts, types = _answers(entries, lang=lang, path=path, line=line)
            rows.append((f"{example_id}-{lang}", example_id, lang, text, texts, types))
    frame = pd.DataFrame(rows, columns=list(MKQA_COLUMNS))
    return frame.sort_values("query_id", ignore_index=True)


def _examples(path: Path) -> Iterator[tuple[int, str, dict[str, Any], dict[str, Any]]]:
    """``(line, example_id, queries, answers)`` of every example; ``example_id`` checked unique."""
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        example_id = require_id(obj, "example_id", path=path, line=line)
        check_new_id(seen, example_id, line, what="example_id", path=path)
        queries = require(obj, "queries", dict, path=path, line=line)
        answers = require(obj, "answers", dict, path=path, line=line)
        yield line, example_id, queries, answers


def _query_text(queries: dict[str, Any], lang: str, example_id: str, path: Path, line: int) -> str:
    text = _get(queries, lang, "queries", path, line)
    if not isinstance(text, str) or not text.strip():
        raise DataFormatError(
            path, line, f"empty or non-string queries[{lang!r}] for example {example_id}; expected non-empty text"
        )
    return text


def _get(mapping: dict[str, Any], lang: str, field: str, path: Path, line: int) -> Any:
    if lang not in mapping:
        raise DataFormatError(
            path, line, f"missing language {lang!r} in field {field!r}; found {sorted(mapping)}"
        )
    return mapping[lang]


def _answers(entries: Any, *, lang: str, path: Path, line: int) -> tuple[list[str], list[str]]:
    if not isinstance(entries, list):
        raise DataFormatError(
            path, line, f"answers[{lang!r}]: expected a list, found {type(entries).__name__}; wrap the answers in a list"
        )
    texts: list[str] = []
    types: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise DataFormatError(
                path, line, f"answers[{lang!r}]: expected each answer as an object with a string 'type', found {entry!r:.80}; "
                "add the MKQA answer type"
            )
        types.append(entry["type"])
        aliases = entry.get("aliases") or []
        if not isinstance(aliases, list):
            raise DataFormatError(
                path,
                line,
                f"answers[{lang!r}]: 'aliases': expected a list of strings, found "
                f"{type(aliases).__name__}: {aliases!r:.80}; wrap the aliases in a list",
            )
        candidates = [entry.get("text"), *aliases]
        for candidate in candidates:
            if candidate is None:
                continue
            if not isinstance(candidate, str):
                raise DataFormatError(
                    path,
                    line,
                    f"answers[{lang!r}]: answer text/alias: expected a string, "
                    f"found {candidate!r:.80}; write it as text",
                )
            if candidate and candidate not in texts:
                texts.append(candidate)
    return texts, types


def _resolve(source: str | os.PathLike[str]) -> Path:
    return resolve_source(source, MKQA_SOURCES, prefix="mkqa", kind="source", file="an MKQA JSONL(.gz) file")


MKQA_ANSWER_TYPES = (
    "entity", "long_answer", "unanswerable", "date", "number", "number_with_unit", "short_phrase", "binary",
)  # fmt: skip
"""MKQA's answer types (Longpre et al., 2021, section 3)."""

UNSCORED_ANSWER_TYPES = ("unanswerable", "long_answer", "binary")
"""Answer types left out of retrieval scoring, as FlagEmbedding's MKQA evaluation (BGE-M3,
``research/C_MTEB/MKQA/README.md``: "We filter questions which types are unanswerable, binary
and long-answer. Finally we get 6,619 questions for every language"): no answer string to find
(unanswerable, long answers) or one that any passage with "yes"/"no" would match (binary)."""

MKQA_QA_COLUMNS = ("query_id", "question_id", "lang", "text", "answers", "answer_types", "scored")


def load_mkqa_qa(
    source: str | os.PathLike[str] = "full",
    *,
    langs: Iterable[str] | str | None = None,
    answer_lang: str = "en",
) -> pd.DataFrame:
    """MKQA queries with the answers to look for in English passages (retrieval evaluation).

    Every language's query of a question is scored against the answers of ``answer_lang``
    (English: the passages searched are English Wikipedia), each answer's ``text`` and
    ``aliases``. Answer entries of :data:`UNSCORED_ANSWER_TYPES` are dropped; a question with no
    answer left is kept with ``scored=False`` (counted, never scored). Dates and numbers are
    matched as the strings MKQA gives (its aliases carry the usual spellings, e.g.
    ``"18 May 2017"``, ``"2017-05-18"``); there is no numeric normalisation.

    Parameters
    ----------
    source : ``"full"``, ``"sample"`` or a path, as :func:`load_mkqa`.
    langs : the query languages (None: all 26 of :data:`MKQA_LANGS`).
    answer_lang : the language whose answers are matched (default ``"en"``).

    Returns
    -------
    DataFrame
        ``query_id`` (``"<example_id>-<lang>"``), ``question_id``, ``lang``, ``text``,
        ``answers`` (list[str], the kept answers and aliases of ``answer_lang``, in order, without
        duplicates), ``answer_types`` (list[str], the types of ``answer_lang``'s entries, all of
        them), ``scored`` (bool); sorted by ``query_id``.
    """
    import pandas as pd

    selected = check_langs(langs, MKQA_LANGS, what="MKQA language")
    answer_lang = check_langs([answer_lang], MKQA_LANGS, what="MKQA answer language")[0]
    path = _resolve(source)
    rows: list[tuple[Any, ...]] = []
    for line, example_id, queries, answers in _examples(path):
        entries = _get(answers, answer_lang, "answers", path, line)
        _, types = _answers(entries, lang=answer_lang, path=path, line=line)
        kept = [e for e in entries if e["type"] not in UNSCORED_ANSWER_TYPES]
        texts, _ = _answers(kept, lang=answer_lang, path=path, line=line)
        texts = [t for t in texts if t.strip()]
        for lang in selected:
            text = _query_text(queries, lang, example_id, path, line)
            rows.append((f"{example_id}-{lang}", example_id, lang, text, list(texts), list(types), bool(texts)))
    frame = pd.DataFrame(rows, columns=list(MKQA_QA_COLUMNS))
    return frame.sort_values("query_id", ignore_index=True)
