"""XOR-TyDi QA, XOR-Retrieve (Asai et al., 2021): questions, their English translations, DPR corpus.

- questions: the English-span JSONL files ``{id, question, answers, lang, split}``
  (dev v1.1: 2,110 questions; train: 15,250);
- translations: human translations of the questions into English, line-aligned text files
  ``<l>-en/<l>.txt`` / ``en.txt``;
- corpus: the DPR-style passage TSV ``id<TAB>text<TAB>title`` (``enwiki_20190201_w100.tsv``,
  about 18M passages; not mirrored -- pass its path).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from xqg_lab.data.common import (
    PASSAGE_COLUMNS,
    OnEmpty,
    check_new_id,
    iter_jsonl,
    read_aligned_pairs,
    require,
    require_id,
    require_text,
)
from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import check_choice, check_langs, check_positive_int
from xqg_lab.data.fetch import resolve_source
from xqg_lab.data.langs import XOR_LANGS

if TYPE_CHECKING:
    import pandas as pd


XOR_SPLITS = ("dev", "train")
"""Splits of the XOR-Retrieve English-span questions available through :func:`fetch`."""

DPR_HEADER = ("id", "text", "title")
"""Header row of a DPR-style passage TSV."""

QUESTION_COLUMNS = ("query_id", "lang", "text", "answers", "split")


def load_xor_questions(
    source: str | os.PathLike[str] = "dev",
    *,
    langs: Iterable[str] | str | None = None,
) -> pd.DataFrame:
    """Load XOR-Retrieve questions (JSONL ``{id, question, answers, lang, split}``).

    Parameters
    ----------
    source : {"dev", "train"} or path
        A split name (fetched: dev = ``xor_dev_retrieve_eng_span_v1_1.jsonl``, train =
        ``xor_train_retrieve_eng_span.jsonl``) or the path of a file in that format (pass a
        ``Path`` to read a file literally named ``dev``). Gzipped files are read transparently.
    langs : iterable of str, str or None
        Keep only these languages of :data:`XOR_LANGS` (None: all). The whole file is
        validated either way.

    Returns
    -------
    DataFrame
        ``query_id`` (str, the file's ``id``), ``lang`` (str, ISO 639-1; the train file's
        ``" ar"`` is stripped to ``"ar"``), ``text`` (str, the question), ``answers``
        (list[str], English answer strings, may contain ``"yes"``/``"no"``), ``split`` (str);
        sorted by ``query_id``.

    Raises
    ------
    DataFormatError
        Malformed JSON (line), missing or mistyped field (field and line), empty question or
        answer, unknown language code (line), duplicate id (both lines), invalid UTF-8, an
        empty file.
    """
    import pandas as pd

    selected = check_langs(langs, XOR_LANGS, what="XOR-TyDi language")
    path = _resolve_split(source)
    rows = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        query_id = require_id(obj, "id", path=path, line=line)
        check_new_id(seen, query_id, line, what="question id", path=path)
        text = require_text(obj, "question", path=path, line=line)
        answers = require(obj, "answers", list, path=path, line=line)
        if not all(isinstance(a, str) for a in answers):
            raise DataFormatError(
                path, line, f"field 'answers': expected a list of strings, found {answers!r:.120}; quote each answer"
            )
        if not all(a.strip() for a in answers):
            raise DataFormatError(
                path,
                line,
                f"empty string in field 'answers' {answers!r:.120}; expected non-empty answers (an "
                "empty answer is a substring of every retrieval, so R@kt would count a hit)",
            )
        raw_lang = require(obj, "lang", str, path=path, line=line)
        lang = raw_lang.strip()
        if lang not in XOR_LANGS:
            raise DataFormatError(
                path,
                line,
                f"unknown language code {raw_lang!r}; expected one of: {', '.join(XOR_LANGS)}",
            )
        split = require(obj, "split", str, path=path, line=line)
        rows.append((query_id, lang, text, list(answers), split))
    frame = pd.DataFrame(rows, columns=list(QUESTION_COLUMNS))
    frame = frame[frame["lang"].isin(selected)]
    return frame.sort_values("query_id", ignore_index=True)


def load_xor_translations(
    lang: str,
    *,
    folder: str | os.PathLike[str] | None = None,
    on_empty: OnEmpty | str = OnEmpty.DROP,
) -> pd.DataFrame:
    """Load the human English translations of XOR-TyDi questions in ``lang`` as aligned pairs.

    Parameters
    ----------
    lang : str
        One of :data:`XOR_LANGS`.
    folder : path, optional
        Folder holding ``<lang>-en/<lang>.txt`` and ``<lang>-en/en.txt``; fetched if omitted.
    on_empty : {"drop", "raise"}
        A pair with an empty side: ``"drop"`` skips it with a warning (the upstream Arabic file
        has one such pair, line 428), ``"raise"`` raises :class:`DataFormatError`.

    Returns
    -------
    DataFrame
        ``pair_id`` (``"<lang>-<line:06d>"``), ``lang``, ``src_text`` (English translation),
        ``tgt_text`` (original question in ``lang``), in line order.

    Raises
    ------
    DataFormatError
        The two files have different line counts (names both), invalid UTF-8, or an empty
        line with ``on_empty="raise"``.
    """
    check_choice(lang, XOR_LANGS, what="XOR-TyDi language")
    if folder is None:
        from xqg_lab.data.fetch import fetch

        other_path = fetch(f"xor_tydi.translation.{lang}.{lang}")
        eng_path = fetch(f"xor_tydi.translation.{lang}.en")
    else:
        other_path = Path(folder) / f"{lang}-en" / f"{lang}.txt"
        eng_path = Path(folder) / f"{lang}-en" / "en.txt"
    return read_aligned_pairs(eng_path, other_path, lang=lang, on_empty=on_empty)


def check_dpr_header(row: Sequence[str], *, path: str | os.PathLike, line: int) -> None:
    """Refuse a first row that is not the DPR corpus header ``id<TAB>text<TAB>title``."""
    if tuple(row) != DPR_HEADER:
        raise DataFormatError(path, line, f"expected the header {'<TAB>'.join(DPR_HEADER)}, found {row!r:.120}")


def parse_dpr_row(row: Sequence[str], *, path: str | os.PathLike, line: int) -> tuple[str, str, str]:
    """``(doc_id, text, title)`` of one DPR corpus row; a wrong field count, an empty id or an
    empty text is refused naming ``path:line``."""
    if len(row) != 3:
        raise DataFormatError(
            path,
            line,
            f"expected 3 tab-separated fields (id, text, title), found {len(row)}: {row!r:.120}"
            " (an unbalanced quote merges or splits rows)",
        )
    doc_id, text, title = row
    if not doc_id.strip():
        raise DataFormatError(path, line, "empty passage id; expected a non-empty id")
    if not text.strip():
        raise DataFormatError(path, line, f"empty passage text for id {doc_id!r}; expected non-empty text")
    return doc_id, text, title


def iter_dpr_corpus(
    path: str | os.PathLike[str], *, batch_size: int = 100_000
) -> Iterator[pd.DataFrame]:
    """Stream a DPR-style passage TSV (``id<TAB>text<TAB>title`` + header) in batches.

    Parsed like DPR's own reader (``csv.reader(f, delimiter="\\t")``: fields may be quoted,
    with ``""`` for a literal quote), but strictly: text after a closing quote, which DPR's
    reader silently joins (an unbalanced quote merging passages), is refused, and a quoted
    field running over several lines is warned about. Holds one batch plus the set of ids
    seen so far (duplicates are refused; about 80 bytes per passage); gzip is read
    transparently.

    Parameters
    ----------
    path : path
        The TSV, e.g. ``enwiki_20190201_w100.tsv`` (about 18M passages for XOR-TyDi).
    batch_size : int
        Rows per yielded frame (>= 1).

    Yields
    ------
    DataFrame
        ``doc_id`` (str), ``title`` (str, may be empty), ``text`` (str), in file order.

    Raises
    ------
    DataFormatError
        Wrong header (line 1), a row without exactly 3 fields, an empty id or text, a duplicate
        id, a CSV quoting error (an unbalanced quote), invalid UTF-8 -- each naming the line.
    """
    import pandas as pd

    check_positive_int(batch_size, "batch_size")
    rows: list[tuple[str, str, str]] = []
    for _, _, doc_id, title, text in iter_dpr_rows(path, seen=set()):
        rows.append((doc_id, title, text))
        if len(rows) == batch_size:
            yield pd.DataFrame(rows, columns=list(PASSAGE_COLUMNS))
            rows = []
    if rows:
        yield pd.DataFrame(rows, columns=list(PASSAGE_COLUMNS))


def load_dpr_corpus(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Load a small DPR-style passage TSV whole; see :func:`iter_dpr_corpus` for the format.

    Returns
    -------
    DataFrame
        ``doc_id``, ``title``, ``text`` in file order; ids checked for duplicates.
    """
    import pandas as pd

    rows = [(doc_id, title, text) for _, _, doc_id, title, text in iter_dpr_rows(path, seen={})]
    return pd.DataFrame(rows, columns=list(PASSAGE_COLUMNS))


def warn_multiline(row: Sequence[str], first: int, last: int, *, path: str | os.PathLike) -> None:
    """Warn about a row that a quoted field carries over lines ``first..last``: valid CSV (a
    quoted line break), but DPR corpora keep one passage per line, so it usually means an
    unbalanced quote whose partner happens to close a field further on, merging passages."""
    import warnings

    warnings.warn(
        f"{path}:{first}: a quoted field runs over lines {first}-{last} (passage id {row[0]!r}); DPR corpora "
        "keep one passage per line, so check for an unbalanced quote that merged passages (further rows like "
        "this one are not reported)",
        UserWarning,
        stacklevel=3,
    )


def tsv_parse_error(exc: Exception, first: int, last: int, *, path: str | os.PathLike) -> DataFormatError:
    """The error for a row the CSV reader refuses (strict mode): typically an unbalanced quote."""
    span = f"line {first}" if last <= first else f"lines {first}-{last}"
    return DataFormatError(
        path,
        first,
        f"TSV parse error in {span}: expected id<TAB>text<TAB>title rows where a field that starts with a "
        f"quote ends with one right before the next tab or line end, found {exc} (an unbalanced quote "
        'merges passages); fix: balance the quote, or double a literal quote inside a quoted field ("")',
    )


def check_unique_id(seen: set[str], doc_id: str, line: int, *, path: str | os.PathLike) -> None:
    """Refuse a passage id met before in the same stream (``seen`` holds the ids so far:
    about 80 bytes each, 1.5 GB for the 18M XOR-TyDi passages)."""
    if doc_id in seen:
        raise DataFormatError(
            path, line, f"expected unique passage ids, found {doc_id!r} again (on an earlier line); fix: "
            "deduplicate the corpus (each id must name one passage)"
        )
    seen.add(doc_id)


def iter_dpr_rows(
    path: str | os.PathLike[str],
    *,
    offset: int = 0,
    line: int = 1,
    seen: set[str] | dict[str, int] | None = None,
) -> Iterator[tuple[int, int, str, str, str]]:
    """``(offset, line, doc_id, title, text)`` of each passage of a DPR TSV: the toolkit's one
    DPR read loop (whole-corpus loaders here, shards in :mod:`xqg_lab.scale.shards.corpus`).

    Hand-written over ``csv.reader`` because the byte offset of every row is needed (shards
    are read from their offset) and strict-mode errors must name the row's first line.

    Parameters
    ----------
    path : the TSV (gzip read transparently).
    offset, line : start at byte ``offset`` (in the decompressed file), which is the start of
        1-based ``line``; 0 reads from the start and checks the header row.
    seen : the ids met so far, updated; a duplicate is refused naming its line (a ``dict``
        id → line also names the first line); ``None``: ids not checked.

    Raises
    ------
    DataFormatError
        See :func:`iter_dpr_corpus`.
    """
    from xqg_lab.data.common import READ_ERRORS, decode_line, open_binary, unreadable

    pos, number = offset, line - 1
    pending: list[tuple[int, int]] = []  # (offset, line) of the lines read for the next row

    def lines(fh):
        nonlocal pos, number
        for raw in fh:
            pending.append((pos, number + 1))
            text = decode_line(raw, path=path, line=number + 1, offset=pos)
            pos += len(raw)
            number += 1
            yield text

    with open_binary(path) as fh:
        try:
            if offset:
                fh.seek(offset)
            reader = csv.reader(lines(fh), delimiter="\t", strict=True)
            header_seen = offset != 0
            warned = False
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise tsv_parse_error(exc, pending[0][1] if pending else number, number, path=path) from None
                row_offset, row_line = pending[0]
                last_line = pending[-1][1]
                pending.clear()
                if not row:  # blank line
                    continue
                if last_line > row_line and not warned:
                    warn_multiline(row, row_line, last_line, path=path)
                    warned = True
                if not header_seen:
                    check_dpr_header(row, path=path, line=row_line)
                    header_seen = True
                    continue
                doc_id, text, title = parse_dpr_row(row, path=path, line=row_line)
                if isinstance(seen, dict):
                    check_new_id(seen, doc_id, row_line, what="passage id", path=path)
                elif seen is not None:
                    check_unique_id(seen, doc_id, row_line, path=path)
                yield row_offset, row_line, doc_id, title, text
        except READ_ERRORS as exc:
            raise unreadable(path, exc) from exc
    if not header_seen:
        raise DataFormatError(path, None, f"empty file; expected the header {'<TAB>'.join(DPR_HEADER)}")


def _resolve_split(source: str | os.PathLike[str]) -> Path:
    return resolve_source(source, XOR_SPLITS, prefix="xor_tydi", kind="split", file="an XOR-Retrieve JSONL file")
