"""Deterministic shards of a corpus file: shard ``i`` holds the passages
``[i·shard_size, (i+1)·shard_size)`` in file order, found by byte offset and sealed by a
content hash (:class:`ShardRange`, :func:`index_corpus`, :func:`read_corpus_shard`), and the
round-robin split of shards over workers (:func:`select_shards`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xqg_lab.core.validation import expected
from xqg_lab.data.xor_tydi import check_unique_id, iter_dpr_rows
from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.shard_folder import STORE_FORMAT

if TYPE_CHECKING:
    import pandas as pd




class CorpusFormat(str, Enum):
    """Passage file layouts that can be sharded."""

    DPR_TSV = "dpr-tsv"  # id<TAB>text<TAB>title with a header row (DPR / XOR-TyDi)
    BEIR_JSONL = "beir-jsonl"  # corpus.jsonl: {"_id", "title", "text"} per line


def corpus_file(corpus: str | os.PathLike) -> tuple[Path, CorpusFormat]:
    """The passage file of ``corpus`` and its format.

    ``corpus`` is a DPR-style TSV (optionally gzipped), a BEIR folder (its
    ``corpus.jsonl`` is used) or a ``.jsonl`` / ``.jsonl.gz`` file in BEIR's corpus format.
    """
    path = Path(corpus)
    if path.is_dir():
        path = path / "corpus.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}; expected a BEIR folder with corpus.jsonl")
        return path, CorpusFormat.BEIR_JSONL
    if not path.is_file():
        raise FileNotFoundError(
            f"no such file: {path}; expected a DPR-style TSV (id, text, title) or a BEIR corpus.jsonl"
        )
    name = path.name.lower()
    fmt = CorpusFormat.BEIR_JSONL if name.endswith((".jsonl", ".jsonl.gz")) else CorpusFormat.DPR_TSV
    return path, fmt


@dataclasses.dataclass(frozen=True)
class ShardRange:
    """Where shard ``index`` lies in the corpus file.

    Attributes
    ----------
    index : shard number, from 0.
    offset : byte offset of its first passage row in the (decompressed) file.
    line : 1-based line number of that row (for error messages).
    n : number of passages, ``shard_size`` except for the last shard.
    content_sha256 : SHA-256 of the shard's ``doc_id<TAB>title<TAB>text<LF>`` rows;
        changes whenever a passage of the shard changes.
    """

    index: int
    offset: int
    line: int
    n: int
    content_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CorpusIndex:
    """The shards of one corpus file for one shard size (see :func:`index_corpus`)."""

    corpus: str
    format: CorpusFormat
    size: int
    mtime_ns: int
    shard_size: int
    shards: tuple[ShardRange, ...]

    @property
    def n_passages(self) -> int:
        return sum(s.n for s in self.shards)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": STORE_FORMAT,
                "corpus": self.corpus,
                "corpus_format": self.format.value,
                "size": self.size,
                "mtime_ns": self.mtime_ns,
                "shard_size": self.shard_size,
                "n_passages": self.n_passages,
                "shards": [s.to_dict() for s in self.shards],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> CorpusIndex:
        raw = json.loads(text)
        return cls(
            corpus=raw["corpus"],
            format=CorpusFormat(raw["corpus_format"]),
            size=int(raw["size"]),
            mtime_ns=int(raw["mtime_ns"]),
            shard_size=int(raw["shard_size"]),
            shards=tuple(ShardRange(**s) for s in raw["shards"]),
        )

    def matches(self, corpus: str | os.PathLike, *, shard_size: int) -> bool:
        """Whether this index still describes ``corpus`` (same path, size, mtime) cut into
        shards of ``shard_size``."""
        path, _ = corpus_file(corpus)
        stat = path.stat()
        return (
            str(path.resolve()) == self.corpus
            and stat.st_size == self.size
            and stat.st_mtime_ns == self.mtime_ns
            and shard_size == self.shard_size
        )


@dataclasses.dataclass(frozen=True)
class CorpusShard:
    """One shard: its place in the corpus and its passages (``doc_id, title, text``)."""

    range: ShardRange
    passages: pd.DataFrame


def _check_shard_size(shard_size: int) -> int:
    if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
        raise ValueError(expected("shard_size as a positive integer", shard_size, "fix: e.g. shard_size=100_000"))
    return int(shard_size)


def _iter_rows(
    path: Path, fmt: CorpusFormat, *, offset: int = 0, line: int = 1
) -> Iterator[tuple[int, int, str, str, str]]:
    """``(offset, line, doc_id, title, text)`` for each passage from byte ``offset`` on.

    DPR TSV rows are read by :func:`xqg_lab.data.xor_tydi.iter_dpr_rows` and BEIR lines
    parsed like :func:`xqg_lab.data.beir.load_beir`; both raise :class:`DataFormatError`
    naming the file and line. Reading from the start, a passage id met twice is refused (the
    set of ids seen is kept: about 80 bytes per passage); one shard read from its offset was
    checked by the whole-corpus pass (:func:`index_corpus`).
    """
    seen: set[str] | None = None if offset else set()
    if fmt is CorpusFormat.DPR_TSV:
        yield from iter_dpr_rows(path, offset=offset, line=line, seen=seen)
        return
    from xqg_lab.data.common import READ_ERRORS, open_binary, unreadable

    with open_binary(path) as fh:
        try:
            if offset:
                fh.seek(offset)
            for row in _iter_jsonl_rows(fh, path, offset=offset, line=line):
                if seen is not None:
                    check_unique_id(seen, row[2], row[1], path=path)
                yield row
        except READ_ERRORS as exc:
            raise unreadable(path, exc) from exc


def _iter_jsonl_rows(fh, path: Path, *, offset: int, line: int):
    from xqg_lab.data.common import decode_line, require, require_id, require_text

    pos = offset
    for number, raw in enumerate(fh, start=line):
        row_offset = pos
        pos += len(raw)
        text = decode_line(raw, path=path, line=number, offset=row_offset)
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                path, number, f"malformed JSON at column {exc.colno}: {exc.msg}; expected one JSON object per line"
            ) from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, number, f"expected a JSON object per line, found {type(obj).__name__}")
        doc_id = require_id(obj, "_id", path=path, line=number)
        title = require(obj, "title", str, path=path, line=number) if "title" in obj else ""
        body = require_text(obj, "text", path=path, line=number)
        yield row_offset, number, doc_id, title, body


def _content_hash():
    """The running hash of a shard's rows (see :attr:`ShardRange.content_sha256`)."""
    return hashlib.sha256()


def _frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=["doc_id", "title", "text"])


def iter_corpus_shards(corpus: str | os.PathLike, *, shard_size: int) -> Iterator[CorpusShard]:
    """Stream ``corpus`` as deterministic shards of ``shard_size`` passages, in file order.

    Holds one shard at a time. Shard ``i`` has the passages ``[i·shard_size,
    (i+1)·shard_size)``; the frames equal those of
    :func:`xqg_lab.data.xor_tydi.iter_dpr_corpus` with ``batch_size=shard_size`` for a DPR
    TSV. Yields :class:`CorpusShard` (range and ``doc_id, title, text`` frame).
    """
    shard_size = _check_shard_size(shard_size)
    path, fmt = corpus_file(corpus)
    rows: list[tuple[str, str, str]] = []
    start: tuple[int, int] | None = None
    digest = _content_hash()
    index = 0
    for offset, line, doc_id, title, text in _iter_rows(path, fmt):
        if start is None:
            start = (offset, line)
        rows.append((doc_id, title, text))
        digest.update(f"{doc_id}\t{title}\t{text}\n".encode())
        if len(rows) == shard_size:
            yield CorpusShard(ShardRange(index, start[0], start[1], len(rows), digest.hexdigest()), _frame(rows))
            rows, start, digest, index = [], None, _content_hash(), index + 1
    if rows:
        yield CorpusShard(ShardRange(index, start[0], start[1], len(rows), digest.hexdigest()), _frame(rows))
    elif index == 0:
        raise _empty_corpus(path)


def _empty_corpus(path: Path) -> DataFormatError:
    return DataFormatError(
        path, None, "expected at least one passage, found none (an empty corpus: only a header or blank "
        "lines); fix: pass the corpus file (a DPR TSV id<TAB>text<TAB>title or a BEIR corpus.jsonl)"
    )


def index_corpus(corpus: str | os.PathLike, *, shard_size: int) -> CorpusIndex:
    """One streaming pass over ``corpus``: the byte offset, first line, size and content
    hash of every shard, so that any worker can read shard ``i`` alone
    (:func:`read_corpus_shard`). Memory does not grow with the corpus."""
    shard_size = _check_shard_size(shard_size)
    path, fmt = corpus_file(corpus)
    stat = path.stat()
    shards: list[ShardRange] = []
    count, start, digest = 0, None, _content_hash()
    for offset, line, doc_id, title, text in _iter_rows(path, fmt):
        if start is None:
            start = (offset, line)
        count += 1
        digest.update(f"{doc_id}\t{title}\t{text}\n".encode())
        if count == shard_size:
            shards.append(ShardRange(len(shards), start[0], start[1], count, digest.hexdigest()))
            count, start, digest = 0, None, _content_hash()
    if count:
        shards.append(ShardRange(len(shards), start[0], start[1], count, digest.hexdigest()))
    if not shards:
        raise _empty_corpus(path)
    return CorpusIndex(
        corpus=str(path.resolve()),
        format=fmt,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        shard_size=shard_size,
        shards=tuple(shards),
    )


def read_corpus_shard(corpus: str | os.PathLike, shard: ShardRange) -> pd.DataFrame:
    """The passages (``doc_id, title, text``) of one shard, read from its byte offset.

    Raises ``ValueError`` when the file no longer holds that shard (content hash differs:
    the corpus changed since it was indexed). A gzipped corpus is decompressed from its
    start for every shard; decompress large corpora once instead.
    """
    path, fmt = corpus_file(corpus)
    rows: list[tuple[str, str, str]] = []
    digest = _content_hash()
    if shard.n:
        for _, _, doc_id, title, text in _iter_rows(path, fmt, offset=shard.offset, line=shard.line):
            rows.append((doc_id, title, text))
            digest.update(f"{doc_id}\t{title}\t{text}\n".encode())
            if len(rows) == shard.n:
                break
    if len(rows) != shard.n or digest.hexdigest() != shard.content_sha256:
        raise ValueError(
            f"{path}: shard {shard.index} (line {shard.line}, {shard.n} passages) is not what was "
            "indexed; the corpus changed since; delete corpus-index.json in the store to re-index it"
        )
    return _frame(rows)


def select_shards(indices: Sequence[int], *, shard_index: int = 0, num_shards: int = 1) -> list[int]:
    """The shards of ``indices`` that worker ``shard_index`` of ``num_shards`` processes:
    those with ``i % num_shards == shard_index`` (round robin, so workers get shards from
    all over the corpus and finish at about the same time)."""
    if isinstance(num_shards, bool) or not isinstance(num_shards, (int, np.integer)) or num_shards < 1:
        raise ValueError(expected("num_shards as a positive integer", num_shards, "fix: e.g. num_shards=4"))
    if isinstance(shard_index, bool) or not isinstance(shard_index, (int, np.integer)) or not (
        0 <= shard_index < num_shards
    ):
        raise ValueError(expected(f"shard_index as an integer in [0, num_shards={num_shards})", shard_index, "fix: count from 0"))
    return [int(i) for i in indices if int(i) % num_shards == shard_index]
