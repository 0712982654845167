"""Shared reading helpers for the data loaders: exact line numbers, strict UTF-8, gzip by magic.

Every helper reports problems as :class:`~xqg_lab.core.errors.DataFormatError` naming the file
and the 1-based line. Nothing here touches the network.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import Choice

if TYPE_CHECKING:
    import pandas as pd

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"

PASSAGE_COLUMNS = ("doc_id", "title", "text")
QUERY_COLUMNS = ("query_id", "lang", "text")
QREL_COLUMNS = ("query_id", "doc_id", "relevance")
PAIR_COLUMNS = ("pair_id", "lang", "src_text", "tgt_text")


class RetrievalData(NamedTuple):
    """A retrieval test collection as three tidy frames.

    Attributes
    ----------
    passages : DataFrame
        ``doc_id`` (str), ``title`` (str), ``text`` (str), sorted by ``doc_id``.
    queries : DataFrame
        ``query_id`` (str), ``lang`` (str), ``text`` (str) plus data-set specific columns,
        sorted by ``query_id``.
    qrels : DataFrame
        ``query_id`` (str), ``doc_id`` (str), ``relevance`` (int64), sorted by
        ``(query_id, doc_id)``.
    """

    passages: pd.DataFrame
    queries: pd.DataFrame
    qrels: pd.DataFrame


def open_binary(path: str | PathLike[str]):
    """Open ``path`` for binary reading; files starting with the gzip magic are gunzipped."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_lines(path: str | PathLike[str], *, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 text file (1-based numbers).

    Lines are split on ``\\n`` only; ``\\r\\n`` endings are removed with the line ending unless
    ``keepends``. A UTF-8 byte-order mark at the start is dropped. Invalid UTF-8 raises
    :class:`DataFormatError` naming the line and the byte offset in the (decompressed) file.
    """
    offset = 0
    with open_binary(path) as fh:
        try:
            for number, raw in enumerate(fh, start=1):
                text = decode_line(raw, path=path, line=number, offset=offset)
                offset += len(raw)
                if not keepends:
                    text = text.rstrip("\n")
                    if text.endswith("\r"):
                        text = text[:-1]
                yield number, text
        except READ_ERRORS as exc:  # e.g. a truncated or corrupt gzip stream
            raise unreadable(path, exc) from exc


def decode_line(raw: bytes, *, path: str | PathLike[str], line: int, offset: int) -> str:
    """The text of one line read as bytes from byte ``offset`` of the (decompressed) file; a
    UTF-8 byte-order mark at offset 0 is dropped, invalid UTF-8 raises :class:`DataFormatError`
    naming the line and the byte offset."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            path,
            line,
            f"invalid UTF-8 at byte offset {offset + exc.start} "
            f"({exc.reason}, byte {raw[exc.start : exc.start + 1]!r}); expected a "
            "UTF-8 text file; re-encode it, e.g. `iconv -f <encoding> -t utf-8`",
        ) from None
    return text[1:] if offset == 0 and text.startswith(_BOM) else text


def read_text(path: str | PathLike[str]) -> str:
    """Return the whole UTF-8 text of ``path``; invalid UTF-8 names the line and byte offset."""
    with open_binary(path) as fh:
        try:
            data = fh.read()
        except READ_ERRORS as exc:
            raise unreadable(path, exc) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataFormatError(
            path,
            line,
            f"invalid UTF-8 at byte offset {exc.start} ({exc.reason}); expected a UTF-8 text "
            "file; re-encode it, e.g. `iconv -f <encoding> -t utf-8`",
        ) from None
    return text[1:] if text.startswith(_BOM) else text


def read_json(path: str | PathLike[str]) -> tuple[Any, str]:
    """Parse a whole JSON document; return ``(value, raw_text)``. Parse errors name the line."""
    text = read_text(path)
    return parse_json(text, path=path, line=1), text


def parse_json(text: str, *, path: str | PathLike[str], line: int, expected: str = "") -> Any:
    """Parse JSON ``text`` that starts on ``line`` of ``path``.

    Malformed JSON raises :class:`DataFormatError` naming the line (and column), with
    ``expected`` appended to the message. So does an escape of a lone UTF-16 surrogate
    (``"\\ud800"`` without its pair): valid JSON syntax, but no character, and every later
    UTF-8 encode (pandas string columns, Parquet) would fail far from the file.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            path,
            line + exc.lineno - 1,
            f"malformed JSON at column {exc.colno}: {exc.msg}{expected}",
        ) from None
    match = _LONE_SURROGATE.search(text) if _SURROGATE_ESCAPE.search(text) else None
    if match is not None:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise DataFormatError(
                path,
                line + text.count("\n", 0, match.start()),
                f"JSON escape {match.group()!r} is a lone UTF-16 surrogate, not a character; "
                "expected valid Unicode text; repair the escape (or drop the record)",
            ) from None
    return value


def iter_jsonl(path: str | PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON-lines file.

    Raises :class:`DataFormatError` naming the line for malformed JSON (including a truncated
    last line) and for a line that holds something other than a JSON object; naming the file
    when it holds no object at all (an empty file is usually an interrupted download).
    """
    found = False
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        obj = parse_json(
            text,
            path=path,
            line=number,
            expected="; expected one JSON object per line (a truncated line usually means an "
            "interrupted download)",
        )
        if not isinstance(obj, dict):
            raise DataFormatError(
                path, number, f"expected a JSON object per line, found {type(obj).__name__}"
            )
        found = True
        yield number, obj
    if not found:
        raise DataFormatError(
            path,
            None,
            "no JSON object in the file; expected one JSON object per line (an empty file "
            "usually means an interrupted download); re-download it",
        )


def require(
    obj: dict[str, Any],
    field: str,
    types: type | tuple[type, ...],
    *,
    path: str | PathLike[str],
    line: int | None,
) -> Any:
    """Return ``obj[field]`` after checking presence and type; otherwise DataFormatError."""
    if field not in obj:
        raise DataFormatError(path, line, f"missing field {field!r}; found fields {sorted(obj)}")
    value = obj[field]
    allowed = _as_tuple(types)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        names = " or ".join(t.__name__ for t in allowed)
        raise DataFormatError(
            path,
            line,
            f"field {field!r}: expected {names}, found {type(value).__name__}: {value!r:.80}; write it as {names}",
        )
    return value


def require_text(
    obj: dict[str, Any], field: str, *, path: str | PathLike[str], line: int | None
) -> str:
    """Return ``obj[field]`` as a non-empty (non-blank) string; otherwise DataFormatError."""
    value = require(obj, field, str, path=path, line=line)
    check_nonempty(value, what=f"field {field!r}", path=path, line=line)
    return value


def require_id(
    obj: dict[str, Any], field: str, *, path: str | PathLike[str], line: int | None
) -> str:
    """Return ``obj[field]`` (a string or an integer in the file) as a non-empty string."""
    value = require(obj, field, (str, int), path=path, line=line)
    value = str(value)
    check_nonempty(value, what=f"id field {field!r}", path=path, line=line)
    return value


def check_nonempty(text: str, *, what: str, path: str | PathLike[str], line: int | None) -> None:
    """Raise DataFormatError when ``text`` is empty or only whitespace."""
    if not text.strip():
        raise DataFormatError(path, line, f"empty {what}; expected non-empty text")


def check_new_id(
    seen: dict[str, int], key: str, line: int, *, what: str, path: str | PathLike[str]
) -> None:
    """Record ``key`` as seen on ``line``; a key seen before raises DataFormatError (both lines)."""
    first = seen.setdefault(key, line)
    if first != line:
        raise DataFormatError(
            path, line, f"duplicate {what} {key!r} (first on line {first}); expected unique ids"
        )


def line_of(raw: str, needle: str) -> int | None:
    """1-based line of the first occurrence of ``needle`` in ``raw`` (None when absent)."""
    pos = raw.find(needle)
    return None if pos < 0 else raw.count("\n", 0, pos) + 1


READ_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
# a JSON \uXXXX escape of a high surrogate without a low one after it, or of a low one
# without a high one before it
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
# any surrogate escape: a scan 10x quicker than the lookbehind above, which runs only if it finds one
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def unreadable(path: str | PathLike[str], exc: BaseException) -> DataFormatError:
    return DataFormatError(
        path,
        None,
        f"cannot read the file ({type(exc).__name__}: {exc}); expected a complete text or gzip "
        "file; re-download it",
    )


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


class OnEmpty(Choice, label="on_empty"):
    """What a line-aligned pair loader does with a pair whose text is empty on either side."""

    RAISE = "raise"
    """Raise :class:`DataFormatError` naming the file and line."""
    DROP = "drop"
    """Drop the pair and warn, listing the files and lines dropped."""


def check_blank_lines_align(
    eng: Sequence[str], other: Sequence[str], *, eng_path: str | PathLike[str], other_path: str | PathLike[str]
) -> None:
    """Refuse line-aligned files that each have blank lines the other lacks: with equal line
    counts that means a line was lost on one side and a blank one added on the other, so
    every pair in between is shifted. (A blank line on one side only is a missing sentence,
    left to ``on_empty``: the upstream Arabic XOR-TyDi file has one.)"""
    only_eng = [i for i, (a, b) in enumerate(zip(eng, other), start=1) if not a.strip() and b.strip()]
    only_other = [i for i, (a, b) in enumerate(zip(eng, other), start=1) if a.strip() and not b.strip()]
    if only_eng and only_other:
        first, second = sorted([(only_eng[0], eng_path), (only_other[0], other_path)], key=lambda x: x[0])
        raise DataFormatError(
            first[1],
            first[0],
            f"expected line-aligned files, found a blank line here and another at {second[1]}:{second[0]}, each "
            "with text on the other side: the lines in between are probably shifted by one (a line lost on one "
            "side, a blank one added on the other); fix: re-fetch or repair the files so line i translates line i",
        )


def read_aligned_pairs(
    eng_path: str | PathLike[str],
    other_path: str | PathLike[str],
    *,
    lang: str,
    on_empty: OnEmpty | str,
) -> pd.DataFrame:
    """Read two line-aligned text files into a pairs frame.

    Returns
    -------
    DataFrame
        ``pair_id`` (``"<lang>-<line:06d>"``, the 1-based line number), ``lang``,
        ``src_text`` (line of ``eng_path``, English), ``tgt_text`` (line of ``other_path``),
        in line order (which ``pair_id`` also sorts to).
    """
    import warnings

    import pandas as pd

    policy = OnEmpty.parse(on_empty)
    eng = [text for _, text in iter_lines(eng_path)]
    other = [text for _, text in iter_lines(other_path)]
    if len(eng) != len(other):
        raise DataFormatError(
            other_path,
            None,
            f"{len(other)} lines, but its English side {eng_path} has {len(eng)}; expected "
            "line-aligned files with the same number of lines (a truncated download or a stray "
            "line break inside a sentence); re-fetch or repair the files",
        )
    check_blank_lines_align(eng, other, eng_path=eng_path, other_path=other_path)
    rows = []
    dropped: list[str] = []
    for number, (src, tgt) in enumerate(zip(eng, other, strict=True), start=1):
        empty = [p for p, t in ((eng_path, src), (other_path, tgt)) if not t.strip()]
        if empty:
            if policy is OnEmpty.RAISE:
                raise DataFormatError(
                    empty[0],
                    number,
                    "empty text; expected a sentence on every line of line-aligned files; "
                    "pass on_empty='drop' to skip such pairs",
                )
            dropped.append(f"{empty[0]}:{number}")
            continue
        rows.append((f"{lang}-{number:06d}", lang, src, tgt))
    if dropped:
        warnings.warn(
            f"dropped {len(dropped)} pair(s) with an empty side: {', '.join(dropped[:10])}"
            + (" ..." if len(dropped) > 10 else ""),
            UserWarning,
            stacklevel=3,
        )
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


class PassageFields(Choice, label="passage_fields"):
    """Which fields of a passage are encoded: ``title_text`` (``title + " " + text``) or ``text``."""

    TITLE_TEXT = "title_text"
    TEXT = "text"


def passage_text(title: str | None, text: str, fields: PassageFields | str = PassageFields.TITLE_TEXT) -> str:
    """The string a passage is encoded as: ``title + " " + text`` (DPR/Tevatron), or ``text``
    alone when the title is empty or missing (``None``, or the NaN that pandas writes for an
    absent value: never the text ``"nan"``), or with ``fields="text"``."""
    if title is None or (isinstance(title, float) and title != title) or type(title).__name__ == "NAType":
        title = ""
    if not isinstance(title, str) or not isinstance(text, str):
        bad, value = ("title", title) if not isinstance(title, str) else ("text", text)
        raise TypeError(
            f"expected the passage {bad} to be a str, found {type(value).__name__} {value!r:.60}; "
            f"fix: convert the column, e.g. passages[{bad!r}].astype(str)"
        )
    if PassageFields.parse(fields) is PassageFields.TEXT:
        return text
    return f"{title} {text}" if title else text
