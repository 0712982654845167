"""Sharded, resumable corpus processing: passage embeddings, generated queries and query sums.

The paper's corpus (XOR-TyDi's ``enwiki_20190201_w100.tsv``) has about 18M passages and,
at 5 queries × 7 languages, 630M generated queries. This module cuts such a corpus into
deterministic shards and processes them one at a time, so that

- shard ``i`` holds the passages ``[i·shard_size, (i+1)·shard_size)`` in file order,
  whatever machine, process or backend computes it;
- every shard's outputs are written atomically and sealed by a completion marker
  (JSON with the SHA-256 of each file, ``n``, ``dim``, ``dtype`` and the encoder
  settings), so a killed run loses at most the shards in flight and a re-run skips
  finished shards and redoes the rest, ending with the same bytes as an uninterrupted
  run;
- ``shard_index`` / ``num_shards`` select the shards ``i`` with ``i % num_shards ==
  shard_index``, to spread a corpus over GPUs or hosts by hand (all writing into the
  same folder on a shared file system);
- generated queries are never held as vectors: per shard, each passage's query vectors
  are summed (``S = Σ_j q_j``, float64 accumulation stored as float32) and counted per
  language while they are encoded (about 55 GB for 18M × 768-d passages instead of about
  1.9 TB for all 630M query vectors).

Layout of a store folder ``OUT/``::

    store.json                         settings of each kind of output (checked on re-runs)
    corpus-index.json                  byte offset, first line, size and content hash of
                                       every shard (one streaming pass over the corpus)
    shard-00000.passages.npy           float16/float32 (n, dim), memory-mappable
    shard-00000.ids.txt                the n passage ids, one per line, in corpus order
    shard-00000.passages.json          completion marker
    shard-00000.queries.parquet        generated queries ``doc_id, lang, sample, text, ...``
    shard-00000.queries.json
    shard-00000.qsum-<name>.npy        float32 (n, dim): Σ of the query vectors per passage
    shard-00000.qcount-<name>.npy      int32 (n_langs, n): number of queries per language
    shard-00000.qsum-<name>.json

The work itself runs on a backend (:mod:`xqg_lab.scale`): ``"local"`` (this process) or
``"ray"`` (Ray Data actors; see :mod:`xqg_lab.scale.ray_backend`). Both call the same
per-shard workers defined here, so their outputs are identical.

Command line (``xqg-lab shards ...``)::

    xqg-lab shards encode --corpus psgs.tsv --encoder embedded:multilingual-e5-small \\
        --out OUT --shard-size 100000 [--shard-index 0 --num-shards 4] [--fp16] \\
        [--backend ray --ray-address auto --num-workers 8 --gpus-per-worker 1]
    xqg-lab shards generate --corpus psgs.tsv --out OUT --shard-size 100000 \\
        --generator seq2seq --model ielabgroup/xor-tydi-docTquery-mt5-base \\
        --langs ar,bn,fi,ja,ko,ru,te --n-per-lang 5 [--backend ray ...]
    xqg-lab shards encode-queries --out OUT --queries store --encoder ... \\
        --langs ar,bn,fi,ja,ko,ru,te [--name all]   # or --queries generated.parquet
    xqg-lab shards status --out OUT
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .encode.cache import _atomic_save_npy, _atomic_write_text, _sha256_file
from .errors import Choice, DataFormatError

if TYPE_CHECKING:
    import pandas as pd

STORE_FORMAT = 1
_BOM = "\ufeff"
_DPR_HEADER = ("id", "text", "title")


# -- choices ----------------------------------------------------------------------------


class StorageDtype(Choice):
    """Floating-point type of stored passage embeddings."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"

    @classmethod
    def label(cls) -> str:
        return "dtype"


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


# -- deterministic shards of a corpus -----------------------------------------------------


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
        raise ValueError(f"shard_size must be a positive integer; got {shard_size!r}")
    return int(shard_size)


def _iter_rows(
    path: Path, fmt: CorpusFormat, *, offset: int = 0, line: int = 1
) -> Iterator[tuple[int, int, str, str, str]]:
    """``(offset, line, doc_id, title, text)`` for each passage from byte ``offset`` on.

    DPR TSV rows are parsed like :func:`xqg_lab.data.xor_tydi.iter_dpr_corpus` (DPR's
    ``csv.reader(f, delimiter="\\t")``, header checked when reading from the start) and
    BEIR lines like :func:`xqg_lab.data.beir.load_beir`; both raise
    :class:`DataFormatError` naming the file and line.
    """
    from .data._common import _READ_ERRORS, _unreadable, open_binary

    with open_binary(path) as fh:
        try:
            if offset:
                fh.seek(offset)
            if fmt is CorpusFormat.DPR_TSV:
                yield from _iter_tsv_rows(fh, path, offset=offset, line=line)
            else:
                yield from _iter_jsonl_rows(fh, path, offset=offset, line=line)
        except _READ_ERRORS as exc:
            raise _unreadable(path, exc) from exc


def _decode(raw: bytes, path: Path, line: int, offset: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            path,
            line,
            f"invalid UTF-8 at byte offset {offset + exc.start} ({exc.reason}); expected a UTF-8 "
            "text file; re-encode it, e.g. `iconv -f <encoding> -t utf-8`",
        ) from None
    if offset == 0 and text.startswith(_BOM):
        text = text[1:]
    return text


def _iter_tsv_rows(fh, path: Path, *, offset: int, line: int):
    pos, number = offset, line - 1
    pending: list[tuple[int, int]] = []  # (offset, line) of the lines read for the next row

    def lines():
        nonlocal pos, number
        for raw in fh:
            pending.append((pos, number + 1))
            text = _decode(raw, path, number + 1, pos)
            pos += len(raw)
            number += 1
            yield text

    reader = csv.reader(lines(), delimiter="\t")
    header_seen = offset != 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataFormatError(
                path, number, f"TSV parse error: {exc}; expected id<TAB>text<TAB>title rows"
            ) from None
        row_offset, row_line = pending[0]
        pending.clear()
        if not row:
            continue
        if not header_seen:
            if tuple(row) != _DPR_HEADER:
                raise DataFormatError(
                    path, row_line, f"expected the header {'<TAB>'.join(_DPR_HEADER)}, found {row!r:.120}"
                )
            header_seen = True
            continue
        if len(row) != 3:
            raise DataFormatError(
                path,
                row_line,
                f"expected 3 tab-separated fields (id, text, title), found {len(row)}: {row!r:.120}"
                " (an unbalanced quote merges or splits rows)",
            )
        doc_id, text, title = row
        if not doc_id.strip():
            raise DataFormatError(path, row_line, "empty passage id; expected a non-empty id")
        if not text.strip():
            raise DataFormatError(path, row_line, f"empty passage text for id {doc_id!r}; expected non-empty text")
        yield row_offset, row_line, doc_id, title, text
    if not header_seen:
        raise DataFormatError(path, None, f"empty file; expected the header {'<TAB>'.join(_DPR_HEADER)}")


def _iter_jsonl_rows(fh, path: Path, *, offset: int, line: int):
    from .data._common import require, require_id, require_text

    pos = offset
    for number, raw in enumerate(fh, start=line):
        row_offset = pos
        pos += len(raw)
        text = _decode(raw, path, number, row_offset)
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
        raise ValueError(f"num_shards must be a positive integer; got {num_shards!r}")
    if isinstance(shard_index, bool) or not isinstance(shard_index, (int, np.integer)) or not (
        0 <= shard_index < num_shards
    ):
        raise ValueError(f"shard_index must be an integer in [0, num_shards={num_shards}); got {shard_index!r}")
    return [int(i) for i in indices if int(i) % num_shards == shard_index]


# -- the store ------------------------------------------------------------------------------


def _atomic_write_parquet(path: Path, table) -> None:
    import pyarrow.parquet as pq

    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ShardStore:
    """A folder of per-shard outputs (layout in the module docstring).

    Parameters
    ----------
    root : the folder; created on first write.

    Readers (:meth:`passage_embeddings`, :meth:`query_sums`, ...) return memory-mapped
    arrays by default, so a search can stream over shards without loading the corpus.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # paths ----------------------------------------------------------------------------

    def path(self, index: int, suffix: str) -> Path:
        """``root/shard-<index:05d>.<suffix>``."""
        return self.root / f"shard-{int(index):05d}.{suffix}"

    @staticmethod
    def _sum_kind(name: str) -> str:
        if not name or any(c in name for c in "/\\. \t\n") or name != name.strip():
            raise ValueError(f"query-sum name must be a plain word (letters, digits, '-', '_'); got {name!r}")
        return f"qsum-{name}"

    # markers --------------------------------------------------------------------------

    def marker(self, kind: str, index: int) -> dict | None:
        """The completion marker of shard ``index`` for ``kind`` (``"passages"``,
        ``"queries"``, ``"qsum-<name>"``), or ``None`` when there is none."""
        try:
            return json.loads(self.path(index, f"{kind}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def is_done(self, kind: str, index: int, *, verify: bool = True) -> bool:
        """Whether shard ``index`` has a complete, intact ``kind`` output: a marker whose
        files exist with the recorded sizes (and, with ``verify``, SHA-256 checksums)."""
        marker = self.marker(kind, index)
        if marker is None or not isinstance(marker.get("files"), dict):
            return False
        for name, info in marker["files"].items():
            path = self.root / name
            try:
                if path.stat().st_size != info["size"]:
                    return False
                if verify and _sha256_file(path) != info["sha256"]:
                    return False
            except (OSError, KeyError, TypeError):
                return False
        return True

    def done(self, kind: str = "passages") -> list[int]:
        """Shard numbers with a ``kind`` marker (not verified), sorted."""
        suffix = f".{kind}.json"
        out = []
        for p in self.root.glob(f"shard-*{suffix}"):
            number = p.name[len("shard-") : -len(suffix)]
            if number.isdigit():
                out.append(int(number))
        return sorted(out)

    def write_outputs(self, kind: str, index: int, files: Mapping[str, Any], meta: Mapping[str, Any]) -> dict:
        """Write shard ``index``'s ``kind`` files atomically, then its marker.

        ``files`` maps suffixes to content: a NumPy array (saved as ``.npy``), a
        ``str`` (text) or a ``pyarrow.Table`` (Parquet). The old marker is removed first,
        so at no moment does a marker vouch for files it was not written with.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.path(index, f"{kind}.json").unlink(missing_ok=True)
        entries = {}
        for suffix, content in files.items():
            path = self.path(index, suffix)
            if isinstance(content, np.ndarray):
                _atomic_save_npy(path, content)
            elif isinstance(content, str):
                _atomic_write_text(path, content)
            else:
                _atomic_write_parquet(path, content)
            entries[path.name] = {"sha256": _sha256_file(path), "size": path.stat().st_size}
        marker = {"format": STORE_FORMAT, "kind": kind, "shard": int(index), **meta, "files": entries}
        _atomic_write_text(self.path(index, f"{kind}.json"), json.dumps(marker, indent=1, sort_keys=True))
        return marker

    # store-level settings -------------------------------------------------------------

    def check_settings(self, kind: str, settings: Mapping[str, Any]) -> None:
        """Record ``settings`` for ``kind`` in ``store.json``, or refuse when the store
        already holds ``kind`` outputs made with other settings."""
        path = self.root / "store.json"
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            recorded = {"format": STORE_FORMAT}
        settings = json.loads(json.dumps(settings, sort_keys=True))  # normalise tuples etc.
        if kind in recorded and recorded[kind] != settings:
            changed = sorted(
                k for k in set(settings) | set(recorded[kind]) if settings.get(k) != recorded[kind].get(k)
            )
            raise ValueError(
                f"{self.root}: the store holds '{kind}' outputs made with other settings "
                f"(differing: {', '.join(changed)}); use another output folder, or delete the "
                f"store's '{kind}' files to start over"
            )
        if kind not in recorded:
            self.root.mkdir(parents=True, exist_ok=True)
            recorded[kind] = settings
            _atomic_write_text(path, json.dumps(recorded, indent=1, sort_keys=True))

    def settings(self) -> dict:
        """The contents of ``store.json`` (empty when nothing was written yet)."""
        try:
            return json.loads((self.root / "store.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    # corpus index ---------------------------------------------------------------------

    def corpus_index(self) -> CorpusIndex | None:
        """The saved :class:`CorpusIndex`, or ``None``."""
        try:
            return CorpusIndex.from_json((self.root / "corpus-index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            return None

    def load_or_index(self, corpus: str | os.PathLike, *, shard_size: int) -> CorpusIndex:
        """The saved index when it still matches ``corpus`` and ``shard_size``; otherwise a
        fresh :func:`index_corpus`, saved."""
        index = self.corpus_index()
        if index is not None and index.matches(corpus, shard_size=shard_size):
            return index
        index = index_corpus(corpus, shard_size=shard_size)
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.root / "corpus-index.json", index.to_json())
        return index

    def shard_sizes(self) -> list[int]:
        """Passages per shard, from the corpus index (all shards, done or not)."""
        index = self.corpus_index()
        if index is None:
            raise FileNotFoundError(f"{self.root}: no corpus-index.json; encode the corpus into this store first")
        return [s.n for s in index.shards]

    def n_shards(self) -> int:
        return len(self.shard_sizes())

    def is_complete(self, kind: str = "passages") -> bool:
        """Whether every shard of the indexed corpus has a ``kind`` marker."""
        index = self.corpus_index()
        return index is not None and set(self.done(kind)) >= set(range(len(index.shards)))

    # readers --------------------------------------------------------------------------

    def _load(self, path: Path, mmap: bool) -> np.ndarray:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)

    def passage_embeddings(self, index: int, *, mmap: bool = True) -> np.ndarray:
        """Shard ``index``'s passage vectors, ``(n, dim)`` in the stored dtype."""
        return self._load(self.path(index, "passages.npy"), mmap)

    def doc_ids(self, index: int) -> list[str]:
        """Shard ``index``'s passage ids, in corpus order."""
        text = self.path(index, "ids.txt").read_text(encoding="utf-8")
        return text.split("\n")[:-1] if text else []

    def query_sums(self, index: int, *, name: str = "all", mmap: bool = True) -> np.ndarray:
        """Shard ``index``'s ``S`` (float32 ``(n, dim)``), the Σ of each passage's query vectors."""
        return self._load(self.path(index, f"{self._sum_kind(name)}.npy"), mmap)

    def query_counts(self, index: int, *, name: str = "all", mmap: bool = True) -> np.ndarray:
        """Shard ``index``'s query counts, int32 ``(n_langs, n)`` (languages in the marker)."""
        return self._load(self.path(index, f"qcount-{name}.npy"), mmap)

    def generated_queries(self, index: int) -> pd.DataFrame:
        """Shard ``index``'s generated queries (see :func:`generate_query_shards`)."""
        import pandas as pd

        return pd.read_parquet(self.path(index, "queries.parquet"))

    def require_complete(self, kind: str = "passages") -> list[int]:
        """All shard numbers, after checking every one has a ``kind`` marker."""
        index = self.corpus_index()
        if index is None:
            raise FileNotFoundError(f"{self.root}: no corpus-index.json; encode the corpus into this store first")
        missing = sorted(set(range(len(index.shards))) - set(self.done(kind)))
        if missing:
            raise ValueError(
                f"{self.root}: {len(missing)} of {len(index.shards)} shards have no '{kind}' output yet "
                f"(e.g. {missing[:5]}); run the missing shards first"
            )
        return list(range(len(index.shards)))

    def iter_passage_embeddings(self) -> Iterator[np.ndarray]:
        """Every shard's passage vectors in order (memory-mapped), for streaming search."""
        for i in self.require_complete("passages"):
            yield self.passage_embeddings(i)

    def iter_query_sums(self, *, name: str = "all") -> Iterator[np.ndarray]:
        """Every shard's ``S`` in order (memory-mapped)."""
        for i in self.require_complete(self._sum_kind(name)):
            yield self.query_sums(i, name=name)

    def all_doc_ids(self) -> list[str]:
        """The ids of every passage, in corpus order (row ``r`` of the global index)."""
        out: list[str] = []
        for i in self.require_complete("passages"):
            out.extend(self.doc_ids(i))
        return out

    def status(self) -> pd.DataFrame:
        """Per shard: ``shard, n`` and one boolean column per kind of output (marker present)."""
        import pandas as pd

        sizes = self.shard_sizes()
        kinds = sorted(
            {p.name.split(".", 1)[1][: -len(".json")] for p in self.root.glob("shard-*.json")}
        )
        frame = pd.DataFrame({"shard": range(len(sizes)), "n": sizes})
        for kind in kinds:
            done = set(self.done(kind))
            frame[kind] = frame["shard"].isin(done)
        return frame


# -- encoders and generators built inside workers --------------------------------------------


def build_encoder(spec):
    """An encoder from ``spec``: an object with ``encode_passages`` (returned as is), a
    zero-argument factory, or a mapping of :class:`xqg_lab.encode.model.Encoder` keyword
    arguments (``cache_dir`` defaults to ``False`` and ``show_progress`` to ``False``: the
    store is the cache)."""
    if hasattr(spec, "encode_passages") or hasattr(spec, "encode_queries"):
        return spec
    if isinstance(spec, Mapping):
        from .encode.model import Encoder

        kwargs = {"cache_dir": False, "show_progress": False, **spec}
        return Encoder(**kwargs)
    if callable(spec):
        return spec()
    raise TypeError(
        f"encoder must be an Encoder, a mapping of Encoder keyword arguments or a factory; "
        f"got {type(spec).__name__}"
    )


def _build_generator(spec):
    if hasattr(spec, "generate"):
        return spec
    if callable(spec):
        return spec()
    raise TypeError(f"generator must have a generate() method or be a zero-argument factory; got {type(spec).__name__}")


def _check_ids(doc_ids: Sequence[str], where: str) -> None:
    bad = [d for d in doc_ids if "\n" in d or "\r" in d]
    if bad:
        raise DataFormatError(where, None, f"passage id {bad[0]!r} contains a line break; ids must be one line")


# -- per-shard workers (shared by every backend) -----------------------------------------------


class PassageShardWorker:
    """Encodes passage shards of ``corpus`` into ``store`` with one encoder (model loaded
    once per worker, e.g. once per Ray actor).

    Call it with a task mapping (a :class:`ShardRange` as dict); returns a summary dict
    ``shard, n, status, seconds``.
    """

    def __init__(self, root, corpus, encoder, *, dtype: str = "float32", verify: bool = True):
        self.store = ShardStore(root)
        self.corpus = str(corpus)
        self.encoder = build_encoder(encoder)
        self.dtype = StorageDtype.parse(dtype)
        self.verify = verify

    def __call__(self, task: Mapping[str, Any]) -> dict:
        shard = ShardRange(**{f.name: task[f.name] for f in dataclasses.fields(ShardRange)})
        start = time.perf_counter()
        marker = self.store.marker("passages", shard.index)
        if (
            marker is not None
            and marker.get("content_sha256") == shard.content_sha256
            and self.store.is_done("passages", shard.index, verify=self.verify)
        ):
            return {"shard": shard.index, "n": shard.n, "status": "skipped", "seconds": 0.0}
        passages = read_corpus_shard(self.corpus, shard)
        self.encode_shard(shard, passages)
        return {"shard": shard.index, "n": shard.n, "status": "done", "seconds": time.perf_counter() - start}

    def encode_shard(self, shard: ShardRange, passages: pd.DataFrame) -> dict:
        """Encode ``passages`` (the rows of ``shard``) and write them; returns the marker."""
        start = time.perf_counter()
        doc_ids = passages["doc_id"].astype(str).tolist()
        _check_ids(doc_ids, self.corpus)
        vectors = np.asarray(self.encoder.encode_passages(passages), dtype=np.float32)
        stored = vectors.astype(self.dtype.value)
        if not np.isfinite(stored).all():
            raise ValueError(
                f"shard {shard.index}: passage vectors overflow {self.dtype.value}; store them as float32"
            )
        return self.store.write_outputs(
            "passages",
            shard.index,
            {"passages.npy": stored, "ids.txt": "".join(d + "\n" for d in doc_ids)},
            {
                "n": int(len(doc_ids)),
                "dim": int(vectors.shape[1]),
                "dtype": self.dtype.value,
                "encoder": self.encoder.settings("passage"),
                "offset": shard.offset,
                "line": shard.line,
                "content_sha256": shard.content_sha256,
                "seconds": round(time.perf_counter() - start, 3),
            },
        )


class QuerySource(Protocol):
    """Where the generated queries of a shard come from."""

    def iter_chunks(self, shard: int, doc_ids: Sequence[str], *, chunk_size: int) -> Iterator[pd.DataFrame]:
        """Frames of at most ``chunk_size`` rows ``doc_id, lang, text`` for the passages
        ``doc_ids`` of shard ``shard``, in a deterministic order."""
        ...


@dataclasses.dataclass(frozen=True)
class StoreQueries:
    """The generated queries kept in a store by :func:`generate_query_shards`."""

    root: str

    def iter_chunks(self, shard, doc_ids, *, chunk_size):
        import pyarrow.parquet as pq

        path = ShardStore(self.root).path(shard, "queries.parquet")
        if not ShardStore(self.root).is_done("queries", shard, verify=False):
            raise FileNotFoundError(f"{path}: shard {shard} has no generated queries yet; generate them first")
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size, columns=["doc_id", "lang", "text"]):
            yield batch.to_pandas()


@dataclasses.dataclass(frozen=True)
class ParquetQueries:
    """Generated queries in Parquet with ``doc_id, lang, text`` columns: one file, or a
    folder whose ``*.parquet`` files (recursively, in name order) are read -- e.g. a store
    of :func:`xqg_lab.generate.generate_store` (its ``shards/`` folder). Each shard reads
    only the rows of its passages. ``only_in_target_language`` keeps the rows whose
    ``in_target_language`` column is true (that store's language check)."""

    path: str
    only_in_target_language: bool = False

    def files(self) -> list[str]:
        path = Path(self.path)
        if path.is_dir():
            files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
            if not files:
                raise FileNotFoundError(f"{path}: no .parquet files of generated queries")
            return files
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}; expected Parquet generated queries")
        return [str(path)]

    def iter_chunks(self, shard, doc_ids, *, chunk_size):
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        dataset = ds.dataset(self.files(), format="parquet")
        columns = ["doc_id", "lang", "text"]
        missing = set(columns) - set(dataset.schema.names)
        if self.only_in_target_language:
            columns.append("in_target_language")
            missing |= {"in_target_language"} - set(dataset.schema.names)
        if missing:
            raise DataFormatError(self.path, None, f"generated queries lack columns {sorted(missing)}")
        condition = pc.field("doc_id").cast(pa.string()).isin(pa.array(list(doc_ids), type=pa.string()))
        if self.only_in_target_language:
            condition = condition & pc.field("in_target_language")
        scanner = dataset.scanner(
            columns=columns[:3], filter=condition, batch_size=chunk_size,
            use_threads=False,  # keep the row order deterministic
            # memory: about one row group whatever the file size (pre-buffering reads ahead
            # the column chunks of the whole file: 60 MB per 1.4M queries)
            batch_readahead=1, fragment_readahead=1,
            fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
        )
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield batch.to_pandas()


@dataclasses.dataclass(frozen=True)
class FrameQueries:
    """Generated queries in memory (a ``doc_id, lang, text`` frame): small data, tests."""

    frame: pd.DataFrame

    def iter_chunks(self, shard, doc_ids, *, chunk_size):
        mine = self.frame[self.frame["doc_id"].astype(str).isin(set(doc_ids))]
        for start in range(0, len(mine), chunk_size):
            yield mine.iloc[start : start + chunk_size]


class QuerySumShardWorker:
    """Encodes each shard's generated queries with the **query** encoder and stores, per
    passage, ``S = Σ_j q_j`` over the queries of ``langs`` (float64 accumulation, stored
    float32 ``(n, dim)``) and their counts per language (int32 ``(n_langs, n)``).
    Memory: one shard's sums plus one chunk of queries, whatever the number of queries.
    """

    def __init__(self, root, source: QuerySource, encoder, *, langs: Sequence[str], name: str = "all",
                 chunk_size: int = 8192, verify: bool = True):
        self.store = ShardStore(root)
        self.kind = ShardStore._sum_kind(name)
        self.name = name
        self.source = source
        self.encoder = build_encoder(encoder)
        self.langs = tuple(langs)
        self.chunk_size = chunk_size
        self.verify = verify

    def __call__(self, task: Mapping[str, Any]) -> dict:
        index = int(task["index"])
        start = time.perf_counter()
        passages = self.store.marker("passages", index)
        if passages is None:
            raise FileNotFoundError(f"{self.store.root}: shard {index} has no passages yet; encode the corpus first")
        marker = self.store.marker(self.kind, index)
        if (
            marker is not None
            and marker.get("passages_sha256") == passages["content_sha256"]
            and self.store.is_done(self.kind, index, verify=self.verify)
        ):
            return {"shard": index, "n": passages["n"], "status": "skipped", "seconds": 0.0}
        self.encode_shard(index)
        return {"shard": index, "n": passages["n"], "status": "done", "seconds": time.perf_counter() - start}

    def encode_shard(self, index: int) -> dict:
        start = time.perf_counter()
        doc_ids = self.store.doc_ids(index)
        row_of = {d: i for i, d in enumerate(doc_ids)}
        lang_of = {lang: i for i, lang in enumerate(self.langs)}
        sums: np.ndarray | None = None
        counts = np.zeros((len(self.langs), len(doc_ids)), dtype=np.int32)
        n_queries = 0
        for chunk in self.source.iter_chunks(index, doc_ids, chunk_size=self.chunk_size):
            chunk = chunk[chunk["lang"].isin(self.langs)]
            if chunk.empty:
                continue
            rows = chunk["doc_id"].astype(str).map(row_of)
            if rows.isna().any():
                unknown = chunk["doc_id"][rows.isna()].astype(str).unique()[:5].tolist()
                raise ValueError(f"shard {index}: generated queries name passages not in the shard, e.g. {unknown}")
            rows = rows.to_numpy(dtype=np.int64)
            vectors = np.asarray(self.encoder.encode_queries(chunk["text"].tolist()), dtype=np.float32)
            if sums is None:
                sums = np.zeros((len(doc_ids), vectors.shape[1]), dtype=np.float64)
            np.add.at(sums, rows, vectors)
            np.add.at(counts, (chunk["lang"].map(lang_of).to_numpy(), rows), 1)
            n_queries += len(chunk)
        if sums is None:
            dim = int(self.store.passage_embeddings(index).shape[1])
            sums = np.zeros((len(doc_ids), dim), dtype=np.float64)
        passages = self.store.marker("passages", index)
        return self.store.write_outputs(
            self.kind,
            index,
            {f"{self.kind}.npy": sums.astype(np.float32), f"qcount-{self.name}.npy": counts},
            {
                "n": len(doc_ids),
                "dim": int(sums.shape[1]),
                "dtype": "float32",
                "langs": list(self.langs),
                "n_queries": int(n_queries),
                "encoder": self.encoder.settings("query"),
                "passages_sha256": passages["content_sha256"],
                "seconds": round(time.perf_counter() - start, 3),
            },
        )


class GenerationShardWorker:
    """Generates queries for passage shards with one generator (loaded once per worker).

    ``generator.generate(passages, *, langs, n_per_lang, seed)`` must return a frame with
    ``doc_id, lang, sample, text`` (the interface of :mod:`xqg_lab.generate`); the same
    ``seed`` is passed for every shard, so a shard's queries do not depend on which worker
    made them.
    """

    def __init__(self, root, corpus, generator, *, langs: Sequence[str], n_per_lang: int, seed: int,
                 verify: bool = True):
        self.store = ShardStore(root)
        self.corpus = str(corpus)
        self.generator = _build_generator(generator)
        self.langs = list(langs)
        self.n_per_lang = int(n_per_lang)
        self.seed = int(seed)
        self.verify = verify

    def __call__(self, task: Mapping[str, Any]) -> dict:
        shard = ShardRange(**{f.name: task[f.name] for f in dataclasses.fields(ShardRange)})
        start = time.perf_counter()
        marker = self.store.marker("queries", shard.index)
        if (
            marker is not None
            and marker.get("content_sha256") == shard.content_sha256
            and self.store.is_done("queries", shard.index, verify=self.verify)
        ):
            return {"shard": shard.index, "n": shard.n, "status": "skipped", "seconds": 0.0}
        passages = read_corpus_shard(self.corpus, shard)
        self.generate_shard(shard, passages)
        return {"shard": shard.index, "n": shard.n, "status": "done", "seconds": time.perf_counter() - start}

    def generate_shard(self, shard: ShardRange, passages: pd.DataFrame) -> dict:
        import pyarrow as pa

        start = time.perf_counter()
        generated = self.generator.generate(passages, langs=self.langs, n_per_lang=self.n_per_lang, seed=self.seed)
        missing = {"doc_id", "lang", "sample", "text"} - set(generated.columns)
        if missing:
            raise ValueError(f"the generator's output lacks columns {sorted(missing)}")
        generated = generated.reset_index(drop=True)
        if "in_target_language" not in generated.columns:
            from .generate.langcheck import check_languages

            generated["in_target_language"] = check_languages(
                generated["text"].astype(str).tolist(), generated["lang"].astype(str).tolist()
            )
        table = pa.Table.from_pandas(generated, preserve_index=False)
        return self.store.write_outputs(
            "queries",
            shard.index,
            {"queries.parquet": table},
            {
                "n": int(shard.n),
                "n_queries": int(len(generated)),
                "langs": self.langs,
                "n_per_lang": self.n_per_lang,
                "seed": self.seed,
                "generator": _describe(self.generator),
                "content_sha256": shard.content_sha256,
                "seconds": round(time.perf_counter() - start, 3),
            },
        )


def _describe(obj) -> dict:
    """A JSON-able description of a generator: its ``params()`` (the interface of
    :class:`xqg_lab.generate.base.Generator`) when it has them, else its class."""
    params = getattr(obj, "params", None)
    if callable(params):
        return json.loads(json.dumps(params(), default=str))
    return {"class": f"{type(obj).__module__}.{type(obj).__qualname__}"}


# -- drivers ------------------------------------------------------------------------------------


def _settings_of(encoder_spec, role: str) -> dict:
    encoder = build_encoder(encoder_spec)
    return encoder.settings(role)


def _pending(store: ShardStore, kind: str, shards: Sequence[ShardRange], *, verify: bool, key: str,
             expected: Callable[[ShardRange], str]) -> list[ShardRange]:
    out = []
    for shard in shards:
        marker = store.marker(kind, shard.index)
        if marker is not None and marker.get(key) == expected(shard) and store.is_done(kind, shard.index, verify=verify):
            continue
        out.append(shard)
    return out


def _summary(rows: list[dict], skipped: Sequence[int], sizes: Mapping[int, int]) -> pd.DataFrame:
    import pandas as pd

    rows = rows + [{"shard": i, "n": sizes[i], "status": "skipped", "seconds": 0.0} for i in skipped]
    frame = pd.DataFrame(rows, columns=["shard", "n", "status", "seconds"])
    return frame.sort_values("shard", ignore_index=True)


def encode_passage_shards(
    corpus: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    encoder,
    shard_size: int,
    shard_index: int = 0,
    num_shards: int = 1,
    dtype: str | StorageDtype = StorageDtype.FLOAT32,
    backend: str = "local",
    ray_options=None,
    verify: bool = True,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Encode ``corpus`` into shard files under ``out_dir``, skipping finished shards.

    Parameters
    ----------
    corpus : DPR-style TSV or BEIR corpus (see :func:`corpus_file`).
    out_dir : the store folder (see :class:`ShardStore`).
    encoder : mapping of :class:`~xqg_lab.encode.model.Encoder` keyword arguments (each
        worker builds its own model; required by the Ray backend), a zero-argument factory,
        or an encoder instance (local backend).
    shard_size : passages per shard; fixed for the life of the store.
    shard_index, num_shards : process only the shards ``i % num_shards == shard_index``.
    dtype : ``"float32"`` or ``"float16"`` for the stored vectors (float16 halves disk and
        memory; scores then differ from float32 by about 1e-3 relative).
    backend : ``"local"`` or ``"ray"`` (:mod:`xqg_lab.scale`); ``ray_options`` is a
        :class:`xqg_lab.scale.RayOptions` or a mapping of its fields.
    verify : check finished shards' SHA-256 before skipping them (else sizes only).

    Returns
    -------
    DataFrame ``shard, n, status ("done" / "skipped"), seconds`` for the selected shards.
    """
    from .scale import run_shard_tasks

    dtype = StorageDtype.parse(dtype)
    shard_size = _check_shard_size(shard_size)
    corpus_file(corpus)  # a missing corpus is reported before anything else
    store = ShardStore(out_dir)
    store.check_settings(
        "passages",
        {"shard_size": shard_size, "dtype": dtype.value, "encoder": _settings_of(encoder, "passage")},
    )
    index = store.load_or_index(corpus, shard_size=shard_size)
    mine = set(select_shards([s.index for s in index.shards], shard_index=shard_index, num_shards=num_shards))
    selected = [s for s in index.shards if s.index in mine]
    pending = _pending(store, "passages", selected, verify=verify, key="content_sha256",
                       expected=lambda s: s.content_sha256)
    todo = {s.index for s in pending}
    skipped = [s.index for s in selected if s.index not in todo]
    factory = _Factory(PassageShardWorker, (str(store.root), str(corpus), encoder), {"dtype": dtype.value, "verify": verify})
    rows = run_shard_tasks(
        [s.to_dict() for s in pending], factory, backend=backend, ray_options=ray_options,
        show_progress=show_progress, description="encoding passage shards",
    )
    return _summary(rows, skipped, {s.index: s.n for s in selected})


def encode_query_sum_shards(
    out_dir: str | os.PathLike,
    queries,
    *,
    encoder,
    langs: Sequence[str],
    name: str = "all",
    shard_index: int = 0,
    num_shards: int = 1,
    chunk_size: int = 8192,
    backend: str = "local",
    ray_options=None,
    verify: bool = True,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Per shard, encode the generated queries of the passages and store their sum.

    Parameters
    ----------
    out_dir : a store whose passage shards are encoded.
    queries : a :class:`QuerySource`, a path to Parquet (file or folder, ``doc_id, lang,
        text``), a ``doc_id, lang, text`` frame, or ``"store"`` for the queries written by
        :func:`generate_query_shards` into the same store.
    encoder : as for :func:`encode_passage_shards`; its **query** settings are used.
    langs : languages summed into ``S`` (the paper: all 7 XOR-TyDi languages).
    name : name of this sum (``qsum-<name>``), e.g. ``"all"`` or ``"ar"`` for a
        per-language ablation.

    ``S`` matches :meth:`xqg_lab.augment.QuerySums.fused` (rule ``"sum"``) of the same
    queries to float32 rounding. Returns ``shard, n, status, seconds``.
    """
    import pandas as pd

    from .scale import run_shard_tasks

    store = ShardStore(out_dir)
    kind = ShardStore._sum_kind(name)
    langs = tuple(langs)
    if not langs:
        raise ValueError("langs must name at least one language")
    if isinstance(queries, str) and queries == "store":
        source: QuerySource = StoreQueries(str(store.root))
    elif isinstance(queries, (str, os.PathLike)):
        source = ParquetQueries(str(queries))
    elif isinstance(queries, pd.DataFrame):
        source = FrameQueries(queries)
    else:
        source = queries
    store.check_settings(kind, {"langs": list(langs), "encoder": _settings_of(encoder, "query")})
    shards = store.require_complete("passages")
    selected = select_shards(shards, shard_index=shard_index, num_shards=num_shards)
    sizes = dict(enumerate(store.shard_sizes()))
    hashes = {i: (store.marker("passages", i) or {}).get("content_sha256") for i in selected}
    pending = []
    for i in selected:
        marker = store.marker(kind, i)
        if marker is not None and marker.get("passages_sha256") == hashes[i] and store.is_done(kind, i, verify=verify):
            continue
        pending.append(i)
    skipped = [i for i in selected if i not in set(pending)]
    factory = _Factory(
        QuerySumShardWorker,
        (str(store.root), source, encoder),
        {"langs": langs, "name": name, "chunk_size": chunk_size, "verify": verify},
    )
    rows = run_shard_tasks(
        [{"index": i} for i in pending], factory, backend=backend, ray_options=ray_options,
        show_progress=show_progress, description="encoding generated queries",
    )
    return _summary(rows, skipped, sizes)


def generate_query_shards(
    corpus: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    generator,
    langs: Sequence[str],
    n_per_lang: int,
    seed: int = 0,
    shard_size: int,
    shard_index: int = 0,
    num_shards: int = 1,
    backend: str = "local",
    ray_options=None,
    verify: bool = True,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Generate ``n_per_lang`` queries per language for every passage, shard by shard,
    into ``shard-<i>.queries.parquet`` (same shards as the passage embeddings).

    ``generator``: an object with ``generate(passages, *, langs, n_per_lang, seed)``
    (local backend) or a zero-argument factory of one (any backend; each Ray actor builds
    its own). Returns ``shard, n, status, seconds``.
    """
    from .scale import run_shard_tasks

    shard_size = _check_shard_size(shard_size)
    corpus_file(corpus)
    store = ShardStore(out_dir)
    store.check_settings(
        "queries",
        {"shard_size": shard_size, "langs": list(langs), "n_per_lang": int(n_per_lang), "seed": int(seed)},
    )
    index = store.load_or_index(corpus, shard_size=shard_size)
    mine = set(select_shards([s.index for s in index.shards], shard_index=shard_index, num_shards=num_shards))
    selected = [s for s in index.shards if s.index in mine]
    pending = _pending(store, "queries", selected, verify=verify, key="content_sha256",
                       expected=lambda s: s.content_sha256)
    todo = {s.index for s in pending}
    factory = _Factory(
        GenerationShardWorker,
        (str(store.root), str(corpus), generator),
        {"langs": list(langs), "n_per_lang": n_per_lang, "seed": seed, "verify": verify},
    )
    rows = run_shard_tasks(
        [s.to_dict() for s in pending], factory, backend=backend, ray_options=ray_options,
        show_progress=show_progress, description="generating queries",
    )
    return _summary(rows, [s.index for s in selected if s.index not in todo], {s.index: s.n for s in selected})


@dataclasses.dataclass(frozen=True)
class _Factory:
    """A picklable zero-argument factory: ``cls(*args, **kwargs)``."""

    cls: type
    args: tuple
    kwargs: dict

    def __call__(self):
        return self.cls(*self.args, **self.kwargs)


# -- command line -------------------------------------------------------------------------------


def _encoder_kwargs(args) -> dict:
    kwargs = {"model_name_or_path": args.encoder, "preset": args.preset, "batch_size": args.batch_size}
    if args.device:
        kwargs["device"] = args.device
    if args.model_fp16:
        kwargs["fp16"] = True
    return kwargs


def _generator_factory(args):
    """A picklable factory of the generator named on the command line (built in each worker)."""
    import functools

    from .generate import make_generator

    kwargs = {"batch_size": args.batch_size}
    if args.device:
        kwargs["device"] = args.device
    positional = (args.model,) if args.model else ()
    return functools.partial(make_generator, args.generator, *positional, **kwargs)


def _ray_options(args):
    if args.backend != "ray":
        return None
    return {
        "address": args.ray_address,
        "num_workers": args.num_workers,
        "num_cpus_per_worker": args.cpus_per_worker,
        "num_gpus_per_worker": args.gpus_per_worker,
    }


def _add_common(parser, *, encoder: bool = True) -> None:
    parser.add_argument("--out", required=True, help="store folder (shared by all workers)")
    if encoder:
        parser.add_argument("--encoder", required=True, help="model name, folder or embedded:multilingual-e5-small")
        parser.add_argument("--preset", default="e5", help="encoder preset: e5 or dpr (default e5)")
        parser.add_argument("--model-fp16", action="store_true", help="run the model in half precision (CUDA only)")
    parser.add_argument("--batch-size", type=int, default=64 if encoder else 16, help="texts per forward pass")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--shard-index", type=int, default=0, help="this worker's number, from 0")
    parser.add_argument("--num-shards", type=int, default=1, help="number of workers sharing the shards")
    parser.add_argument("--backend", default="local", choices=["local", "ray"], help="where the shards run")
    parser.add_argument("--ray-address", default=None, help="Ray cluster address ('auto' for the running one)")
    parser.add_argument("--num-workers", type=int, default=1, help="Ray actors (one model each)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs reserved per Ray actor")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs reserved per Ray actor")
    parser.add_argument("--no-verify", action="store_true", help="skip finished shards by size, not checksum")


def main(argv: Sequence[str] | None = None) -> int:
    """``xqg-lab shards {encode,encode-queries,generate,status} ...``; returns the exit status."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="xqg-lab shards", description="Sharded, resumable corpus processing.")
    sub = parser.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="encode a corpus into passage-embedding shards")
    enc.add_argument("--corpus", required=True, help="DPR-style TSV (id, text, title) or BEIR corpus")
    enc.add_argument("--shard-size", type=int, required=True, help="passages per shard")
    enc.add_argument("--fp16", action="store_true", help="store float16 vectors (default float32)")
    _add_common(enc)
    qry = sub.add_parser("encode-queries", help="sum the vectors of generated queries per passage and shard")
    qry.add_argument("--queries", required=True, help="Parquet file/folder with doc_id, lang, text; or 'store'")
    qry.add_argument("--langs", required=True, help="comma-separated languages to sum, e.g. ar,bn,fi,ja,ko,ru,te")
    qry.add_argument("--name", default="all", help="name of this sum (default 'all')")
    _add_common(qry)
    gen = sub.add_parser("generate", help="generate queries for every passage, shard by shard")
    gen.add_argument("--corpus", required=True, help="DPR-style TSV (id, text, title) or BEIR corpus")
    gen.add_argument("--shard-size", type=int, required=True, help="passages per shard")
    gen.add_argument("--generator", default="seq2seq", help="xqg_lab.generate registry name (default seq2seq)")
    gen.add_argument("--model", default=None, help="generator model name or folder (seq2seq, causal)")
    gen.add_argument("--langs", required=True, help="comma-separated target languages, e.g. ar,bn,fi,ja,ko,ru,te")
    gen.add_argument("--n-per-lang", type=int, default=5, help="queries per passage and language (default 5)")
    gen.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    _add_common(gen, encoder=False)
    st = sub.add_parser("status", help="which shards are done")
    st.add_argument("--out", required=True, help="store folder")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "status":
            print(ShardStore(args.out).status().to_string(index=False))
            return 0
        common = dict(
            shard_index=args.shard_index,
            num_shards=args.num_shards,
            backend=args.backend,
            ray_options=_ray_options(args),
            verify=not args.no_verify,
        )
        if args.command == "generate":
            summary = generate_query_shards(
                args.corpus, args.out, generator=_generator_factory(args),
                langs=[x for x in args.langs.split(",") if x], n_per_lang=args.n_per_lang, seed=args.seed,
                shard_size=args.shard_size, **common,
            )
        elif args.command == "encode":
            common["encoder"] = _encoder_kwargs(args)
            summary = encode_passage_shards(
                args.corpus, args.out, shard_size=args.shard_size,
                dtype="float16" if args.fp16 else "float32", **common,
            )
        else:
            common["encoder"] = _encoder_kwargs(args)
            summary = encode_query_sum_shards(
                args.out, args.queries, langs=[x for x in args.langs.split(",") if x], name=args.name, **common
            )
    except (ValueError, FileNotFoundError, TypeError) as exc:
        print(f"xqg-lab shards: {exc}", file=sys.stderr)
        return 1
    counts = summary["status"].value_counts().to_dict()
    print(
        f"{len(summary)} shards: {counts.get('done', 0)} done now, {counts.get('skipped', 0)} already done "
        f"({int(summary['n'].sum())} passages) in {args.out}"
    )
    return 0
