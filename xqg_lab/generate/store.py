"""A resumable, sharded store of generated queries, in the toolkit's one store format
(:mod:`xqg_lab.core.shard_folder`).

Layout of a store folder written by :func:`generate_store`::

    store.json                         {"format": 1, "queries": {...}}: generator name and
                                       params, seed, langs, n, shard size, shard count, a hash
                                       of the passages
    shard-00000.queries.parquet        the queries of passages [0, shard_size) (by position)
    shard-00000.queries.json           completion marker: SHA-256 and size of the Parquet
                                       file, row count, ``content_sha256`` of the shard's
                                       passages, library versions
    ...

This is the layout of :func:`xqg_lab.scale.shards.generate_query_shards` too: a store
generated here for a corpus's passages in file order, with the same shard size, is a
corpus store's ``queries`` output (``content_sha256`` matches its corpus shards). Every file
is written to a temporary name and renamed into place, the Parquet file before its marker; a
shard counts as complete only when its marker exists and matches the file's size and hash. A
re-run of :func:`generate_store` with the same arguments skips the complete shards and
regenerates the others, so killing the process at any point and running again gives the same
final store, with nothing lost or duplicated (generation is deterministic given the seed; see
:mod:`xqg_lab.generate._hf`). A re-run with different generator params, seed, languages,
``n``, shard size or passages is refused with a message naming what differs. A file lock
keeps two processes from writing one store.

With ``cache=True`` (as the query_generation notebook runs it) each generated shard is also
kept in the toolkit's cache, keyed
by the params hash and the shard's ``content_sha256``, so that a new run folder (or a forced
re-run) takes the same queries from there instead of generating them again.

Stores of the older layout (``params.json`` + ``shards/shard-00000.parquet`` +
``shards/shard-00000.json``) are still read by :func:`read_store` and
:func:`read_store_params`; :func:`generate_store` accepts a complete one made with the same
arguments as it is (nothing is generated) and refuses others.

Columns (see :data:`STORE_COLUMNS`): ``doc_id``, ``lang``, ``sample`` (int64), ``text``,
``generator`` (registry name), ``params_hash`` (SHA-256 of the generator's params, seed,
langs and n), ``seed`` (int64), ``in_target_language`` (bool, from
:mod:`xqg_lab.generate.langcheck`), plus the generator's extra columns (e.g. ``question_id``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xqg_lab.core.atomic import TMP_MARK, write_parquet_atomic
from xqg_lab.core.paths import cache_dir
from xqg_lab.core.shard_folder import CORPUS_INDEX_FILE, SETTINGS_FILE, ShardFolder
from xqg_lab.core.validation import check_langs
from xqg_lab.generate.base import (
    LANGUAGES,
    RECORD_COLUMNS,
    Generator,
    check_n,
    check_passages,
    check_seed,
    params_hash,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

FORMAT_VERSION = 1
STORE_COLUMNS = (*RECORD_COLUMNS, "generator", "params_hash", "seed", "in_target_language")
"""Columns of a store, in order (the generator's extra columns follow)."""

KIND = "queries"
"""The kind of output (:mod:`xqg_lab.core.shard_folder`) generated queries are stored as."""
LEGACY_PARAMS_FILE = "params.json"
LEGACY_SHARDS_DIR = "shards"


def _passages_hash(passages: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for row in passages[["doc_id", "title", "text"]].itertuples(index=False):
        digest.update(json.dumps(list(row), ensure_ascii=True).encode() + b"\n")
    return digest.hexdigest()


def _content_sha256(passages: pd.DataFrame) -> str:
    """SHA-256 of ``doc_id<TAB>title<TAB>text<LF>`` rows: a corpus shard's ``content_sha256``
    (:class:`xqg_lab.scale.shards.ShardRange`) when the passages are that shard's."""
    digest = hashlib.sha256()
    for doc_id, title, text in passages[["doc_id", "title", "text"]].itertuples(index=False):
        digest.update(f"{doc_id}\t{title}\t{text}\n".encode())
    return digest.hexdigest()


def _schema(extra_columns: Iterable[str]) -> pa.Schema:
    import pyarrow as pa

    fields = [
        ("doc_id", pa.string()),
        ("lang", pa.string()),
        ("sample", pa.int64()),
        ("text", pa.string()),
        ("generator", pa.string()),
        ("params_hash", pa.string()),
        ("seed", pa.int64()),
        ("in_target_language", pa.bool_()),
    ]
    fields += [(name, pa.string()) for name in extra_columns]
    return pa.schema(fields)


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(path)
            else:
                out.extend(_diff(old[key], new[key], path))
        return out
    return [] if old == new else [prefix or "(root)"]


def _refuse_other_settings(folder: Path, existing: dict, record: dict, key: str) -> None:
    differences = [d for d in _diff(existing, record) if d != "params_hash"]  # derived
    if differences or existing.get("params_hash") != key:
        raise ValueError(
            f"{folder}: the store was started with other settings; differing: "
            f"{', '.join(differences[:12])}{' ...' if len(differences) > 12 else ''}. "
            "Use a new folder (or delete this one) instead of mixing queries"
        )


def _is_current(store: ShardFolder, index: int, content_sha256: str) -> bool:
    marker = store.marker(KIND, index)
    return marker is not None and marker.get("content_sha256") == content_sha256 and store.is_done(KIND, index)


def generate_store(
    generator: Generator,
    passages: pd.DataFrame,
    folder: str | os.PathLike,
    *,
    langs: Iterable[str] | str,
    n_per_lang: int | None,
    seed: int = 0,
    shard_size: int = 64,
    progress: bool = True,
    cache: bool = False,
) -> Path:
    """Generate queries for ``passages`` into the store ``folder``, resuming a previous run.

    Parameters
    ----------
    generator : Generator
        Any backend of :mod:`xqg_lab.generate` (its ``params()`` are recorded).
    passages : DataFrame
        ``doc_id``, ``title``, ``text``; shard ``i`` holds rows ``[i * shard_size,
        (i + 1) * shard_size)`` in the given order.
    folder : path
        Created if missing; an existing store must have been started with the same
        arguments (else ``ValueError`` naming the differences).
    langs, n_per_lang, seed :
        Passed to ``generator.generate`` (``n_per_lang=None``: all available, for
        :class:`~xqg_lab.generate.heldout.HeldOutQueries` only).
    shard_size : int
        Passages per shard (the unit of work saved at once).
    progress : bool
        Progress bar over passages (plus the generator's own bar within a shard).
    cache : bool
        Keep each generated shard in the toolkit's cache too (``<cache>/queries/<params
        hash>/<content_sha256>.parquet``) and take a shard from there instead of generating
        it when the same generator params, seed, languages, ``n`` and passages were generated
        before, into any store. A cached shard that cannot be read back is regenerated
        (with a warning). ``False`` (the default) neither reads nor writes the cache.

    Returns
    -------
    Path
        ``folder``; read it with :func:`read_store`.
    """
    from filelock import FileLock, Timeout

    from xqg_lab.core.progress import tqdm

    if not isinstance(generator, Generator):
        raise TypeError(f"expected a Generator from xqg_lab.generate, found {type(generator).__name__}")
    passages = check_passages(passages)
    langs = check_langs(langs, sorted(LANGUAGES), what="target language", refuse_duplicates=True)
    n_per_lang = None if n_per_lang is None else check_n(n_per_lang)
    seed = check_seed(seed)
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"expected shard_size to be an int >= 1, found {shard_size!r}")

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_shards = -(-len(passages) // shard_size)
    query_params = {
        "generator": generator.name,
        "generator_params": generator.params(),
        "seed": seed,
        "langs": list(langs),
        "n_per_lang": n_per_lang,
    }
    key = params_hash(query_params)
    record = {
        "format_version": FORMAT_VERSION,
        **query_params,
        "params_hash": key,
        "extra_columns": list(generator.extra_columns),
        "shard_size": shard_size,
        "n_shards": n_shards,
        "passages": {"n": len(passages), "sha256": _passages_hash(passages)},
    }
    record = json.loads(json.dumps(record, sort_keys=True))  # as it reads back (tuples become lists)

    lock = FileLock(str(folder / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RuntimeError(
            f"{folder}: another process is writing this store (lock {folder / '.lock'})"
        ) from None
    try:
        if (folder / LEGACY_PARAMS_FILE).is_file():
            _accept_legacy_store(folder, record, key)
            return folder
        store = ShardFolder(folder)
        existing = store.settings().get(KIND)
        if existing is not None:
            _refuse_other_settings(folder, existing, record, key)
        else:
            store.check_settings(KIND, record)
        for stale in folder.glob(f"*{TMP_MARK}*"):
            stale.unlink(missing_ok=True)  # left by a killed run (we hold the lock)

        shards = [passages.iloc[i * shard_size : (i + 1) * shard_size] for i in range(n_shards)]
        content = [_content_sha256(shard) for shard in shards]
        todo = [i for i in range(n_shards) if not _is_current(store, i, content[i])]
        bar = tqdm(
            total=len(passages),
            initial=len(passages) - sum(len(shards[i]) for i in todo),
            unit="passage",
            desc=str(folder.name),
            disable=not progress,
        )
        schema = _schema(generator.extra_columns)
        environment = _environment()
        for index in todo:
            shard = shards[index]
            started = time.perf_counter()
            table = _cached_shard(key, content[index], shard, schema) if cache else None
            origin = {} if table is None else {"from_cache": str(_cache_path(key, content[index]))}
            if table is None:
                table = _generated_table(generator, shard, key, schema, langs=langs, n_per_lang=n_per_lang,
                                         seed=seed, progress=progress)  # fmt: skip
                if cache:
                    _keep_in_cache(_cache_path(key, content[index]), table)
            store.write_outputs(
                KIND,
                index,
                {f"{KIND}.parquet": table},
                {
                    "n": len(shard),
                    "n_queries": table.num_rows,
                    "content_sha256": content[index],
                    "environment": environment,
                    "seconds": round(time.perf_counter() - started, 3),
                    **origin,
                },
            )
            bar.update(len(shard))
        bar.close()
    finally:
        lock.release()
    return folder


def _generated_table(generator: Generator, shard: pd.DataFrame, key: str, schema: pa.Schema, *, langs, n_per_lang,
                     seed: int, progress: bool) -> pa.Table:
    """The queries ``generator`` writes for ``shard``, checked, language-checked and sorted, as a store table."""
    import pandas as pd
    import pyarrow as pa

    from xqg_lab.generate.langcheck import check_languages

    records = generator.generate(shard, langs=langs, n_per_lang=n_per_lang, seed=seed, progress=progress)
    records = _check_records(records, shard, langs, generator)
    frame = pd.DataFrame(
        {
            "doc_id": records["doc_id"].astype(str),
            "lang": records["lang"].astype(str),
            "sample": records["sample"].astype("int64"),
            "text": records["text"].astype(str),
            "generator": generator.name,
            "params_hash": key,
            "seed": pd.Series([seed] * len(records), dtype="int64", index=records.index),
            "in_target_language": check_languages(records["text"].astype(str).tolist(), records["lang"].tolist()),
            **{c: records[c].astype(str) for c in generator.extra_columns},
        }
    )
    frame = frame.sort_values(["doc_id", "lang", "sample"], kind="stable").reset_index(drop=True)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _cache_path(key: str, content_sha256: str) -> Path:
    """Where a shard generated with params hash ``key`` for passages ``content_sha256`` is kept."""
    return cache_dir() / "queries" / key / f"{content_sha256}.parquet"


def _cached_shard(key: str, content_sha256: str, shard: pd.DataFrame, schema: pa.Schema) -> pa.Table | None:
    """The cached queries of ``shard``, or ``None`` when there are none or they do not read back
    as this shard's queries (then a warning says so and the shard is generated again)."""
    import pyarrow.parquet as pq

    path = _cache_path(key, content_sha256)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        problem = f"unreadable ({exc})"
    else:
        problem = None
        if not table.schema.equals(schema):
            problem = "its columns differ from this store's"
        elif set(table.column("params_hash").to_pylist()) - {key}:
            problem = "it holds queries of other generator params"
        elif set(table.column("doc_id").to_pylist()) - set(shard["doc_id"]):
            problem = "it holds queries of other passages"
    if problem is None:
        return table
    warnings.warn(f"{path}: cached generated queries ignored and generated again: {problem}", stacklevel=3)
    return None


def _keep_in_cache(path: Path, table: pa.Table) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(path, table)
    except OSError as exc:
        warnings.warn(
            f"{path}: generated queries not kept in the cache ({exc}); the store is complete, but a "
            "new store will generate them again. Set XQG_LAB_CACHE to a writable folder, or pass "
            "cache=False.",
            stacklevel=3,
        )


def _check_records(
    records: pd.DataFrame, shard: pd.DataFrame, langs: tuple[str, ...], generator: Generator
) -> pd.DataFrame:
    columns = [*RECORD_COLUMNS, *generator.extra_columns]
    missing = [c for c in columns if c not in records.columns]
    if missing:
        raise ValueError(f"generator {generator.name!r} returned records without columns {missing}")
    unknown_docs = set(records["doc_id"].astype(str)) - set(shard["doc_id"])
    unknown_langs = set(records["lang"].astype(str)) - set(langs)
    if unknown_docs or unknown_langs:
        raise ValueError(
            f"generator {generator.name!r} returned records for passages or languages it was not asked for: "
            f"{sorted(unknown_docs)[:5]} {sorted(unknown_langs)}"
        )
    if records.duplicated(["doc_id", "lang", "sample"]).any():
        raise ValueError(f"generator {generator.name!r} returned duplicate (doc_id, lang, sample) records")
    return records


def _environment() -> dict[str, str]:
    """Library versions, recorded for information (not compared on resume)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("xqg_lab", "torch", "transformers", "tokenizers", "py3langid", "pyarrow"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            continue
    return out


def read_store_params(folder: str | os.PathLike) -> dict[str, Any]:
    """The settings a store was generated with (``store.json``'s ``queries`` entry, or the
    ``params.json`` of an older store): ``ValueError`` if ``folder`` is not a store,
    :class:`~xqg_lab.core.errors.DataFormatError` naming the line if the file is damaged."""
    from xqg_lab.core.errors import DataFormatError
    from xqg_lab.data.common import read_json, require

    folder = Path(folder)
    legacy = folder / LEGACY_PARAMS_FILE
    path = legacy if legacy.is_file() else folder / SETTINGS_FILE
    if not path.is_file():
        hint = "" if path.is_absolute() else (
            f" (a relative path is resolved from the working folder {Path.cwd()}: in a notebook, "
            "its output folder, see xqg_lab.present.report.enter_output_dir)"
        )
        raise ValueError(
            f"{folder}: expected a query store with {SETTINGS_FILE}, found none{hint}; "
            "fix: give the folder that generate_store (the query_generation notebook) wrote, or its absolute path"
        )
    params, _ = read_json(path)
    if not isinstance(params, dict):
        raise DataFormatError(path, None, f"expected a JSON object, found {type(params).__name__}")
    if path != legacy:
        params = require(params, KIND, dict, path=path, line=None)
        index = folder / CORPUS_INDEX_FILE
        if "n_shards" not in params and index.is_file():  # a corpus store: its shards are the corpus's
            params = {**params, "n_shards": len(read_json(index)[0]["shards"])}
    require(params, "n_shards", int, path=path, line=None)
    return params


def read_store(folder: str | os.PathLike, *, require_complete: bool = True) -> pd.DataFrame:
    """All queries of a store, sorted by ``(doc_id, lang, sample)``.

    Parameters
    ----------
    folder : path
        A folder written by :func:`generate_store` (either layout).
    require_complete : bool
        Raise ``ValueError`` when shards are missing (an interrupted run: run
        :func:`generate_store` again to finish); False returns the complete shards only.

    Returns
    -------
    DataFrame
        :data:`STORE_COLUMNS` plus the generator's extra columns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    params = read_store_params(folder)
    # a corpus store (xqg_lab.scale.shards.generate_query_shards) keeps its generator's columns
    schema = _schema(params["extra_columns"]) if "extra_columns" in params else None
    legacy = (folder / LEGACY_PARAMS_FILE).is_file()
    if legacy:
        files = [_legacy_shard(folder, i) for i in range(params["n_shards"])]
        complete = [data for data, marker in files if _legacy_shard_complete(data, marker)]
    else:
        store = ShardFolder(folder)
        complete = [store.path(i, f"{KIND}.parquet") for i in range(params["n_shards"]) if store.is_done(KIND, i)]
    if require_complete and len(complete) < params["n_shards"]:
        raise ValueError(
            f"{folder}: {params['n_shards'] - len(complete)} of {params['n_shards']} shards are missing or "
            "incomplete; run generate_store again with the same arguments to finish it"
        )
    tables = [pq.read_table(path, schema=schema) for path in complete]
    if not tables:
        return _schema([]).empty_table().to_pandas() if schema is None else schema.empty_table().to_pandas()
    frame = pa.concat_tables(tables).to_pandas()
    return frame.sort_values(["doc_id", "lang", "sample"], kind="stable").reset_index(drop=True)


# -- stores of the older layout (params.json + shards/) ---------------------------------------


def _legacy_shard(folder: Path, index: int) -> tuple[Path, Path]:
    base = folder / LEGACY_SHARDS_DIR / f"shard-{index:05d}"
    return base.with_suffix(".parquet"), base.with_suffix(".json")


def _legacy_shard_complete(data: Path, marker: Path) -> bool:
    from xqg_lab.core.checksums import file_sha256

    if not (data.is_file() and marker.is_file()):
        return False
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return record.get("sha256") == file_sha256(data)


def _accept_legacy_store(folder: Path, record: dict, key: str) -> None:
    """A store of the older layout is used as it is when it was made with the same
    arguments and is complete; it cannot be resumed (that layout is no longer written)."""
    existing = read_store_params(folder)
    existing.pop("environment", None)
    _refuse_other_settings(folder, existing, record, key)
    missing = [i for i in range(existing["n_shards"]) if not _legacy_shard_complete(*_legacy_shard(folder, i))]
    if missing:
        raise ValueError(
            f"{folder}: expected a complete query store, found one of the older layout ({LEGACY_PARAMS_FILE} + "
            f"{LEGACY_SHARDS_DIR}/) with {len(missing)} of {existing['n_shards']} shards missing or incomplete; "
            "that layout can be read but not resumed: generate into a new folder (or delete this one)"
        )
