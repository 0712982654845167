"""The MKQA study's passages at scale: the English corpus in shard stores, exact and augmented search,
the candidate pool and the queries xQG generates for it.

What :mod:`xqg_lab.studies.mkqa` runs between reading the questions and scoring: the corpus is
prepared once (:func:`prepare_corpus`), encoded into resumable shard stores
(:func:`encode_corpus`, :mod:`xqg_lab.scale.shards`, local or Ray), searched exactly
(:func:`search_store`, CUDA or FAISS), and the pool passages get equal numbers of generated
queries (:func:`generate_pool_shards`, :func:`generate_equal`) before the augmented search
(:func:`augmented_search`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from xqg_lab.studies.mkqa import MKQAStudyConfig

__all__ = [
    "prepare_corpus",
    "encode_corpus",
    "search_store",
    "passage_rows",
    "passages_frame",
    "passage_vectors",
    "candidate_pool",
    "pool_query_sums",
    "augmented_search",
    "generate_equal",
    "generate_pool_shards",
    "generation_key",
]


def prepare_corpus(corpus: str, work_dir: str | os.PathLike) -> Path:
    """A plain (uncompressed) DPR TSV for ``corpus``: ``"psgs_w100"`` is fetched (pinned URL and
    sha256, or the mirror) and decompressed once into ``work_dir`` (shard reads seek by byte
    offset, which a gzip stream cannot); a path is used as it is when not gzipped."""
    from xqg_lab.data.common import open_binary

    if corpus == "psgs_w100":
        from xqg_lab.data.fetch import fetch

        source = fetch("dpr.psgs_w100")
    else:
        source = Path(corpus)
        if not source.is_file():
            raise FileNotFoundError(f"no such corpus file: {source}; expected 'psgs_w100' or a DPR-style TSV path")
    with open(source, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    if not gzipped:
        return source
    target = Path(work_dir) / (source.name[: -len(".gz")] if source.name.endswith(".gz") else source.name + ".tsv")
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        from xqg_lab.core.atomic import open_atomic

        with open_binary(source) as src, open_atomic(target, binary=True) as dst:
            shutil.copyfileobj(src, dst, length=1 << 24)
    return target


def encode_corpus(config: MKQAStudyConfig, corpus: Path, model_name_or_path: str, name: str, *,
                  progress: bool = True):
    """The shard store ``work_dir/<name>`` of ``corpus`` under one encoder (finished shards are
    skipped, so a re-run or the second notebook reuses it)."""
    from xqg_lab.scale.shards import ShardStore, encode_passage_shards

    folder = Path(config.work_dir) / name
    encode_passage_shards(corpus, folder, encoder=config.encoder_spec(model_name_or_path), shard_size=config.shard_size,
                          dtype=config.dtype, backend=config.scale.backend, ray_options=config.scale.ray,
                          progress=progress)  # fmt: skip
    return ShardStore(folder)


def search_store(store, query_vectors: np.ndarray, *, k: int, device: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` over a shard store: ``(scores, rows)``, each ``(n_queries, k)``; rows global.

    ``device``: ``""`` uses CUDA when torch sees it, else FAISS on the CPU; ``"cpu"`` forces FAISS.
    On CUDA each shard is multiplied in float32 (TF32 off) and merged with the same running
    top-``k`` (:class:`xqg_lab.scale.search.TopK`), so both paths return the same ranking up to
    float32 rounding; at MKQA scale (260k queries x 21M passages) this is minutes on one GPU
    instead of CPU-days.
    """
    from xqg_lab.scale.search import TopK, search_sharded

    device = device or ("cuda" if _cuda_available() else "cpu")
    if device == "cpu":
        return search_sharded(query_vectors, store.iter_passage_embeddings(), k=k)
    import torch

    q = torch.as_tensor(np.asarray(query_vectors, dtype=np.float32), device=device)
    top = TopK(len(q), k=k)
    offset = 0
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for shard in store.iter_passage_embeddings():
            p = torch.as_tensor(np.asarray(shard, dtype=np.float32), device=device)
            if len(p):
                width = min(k, len(p))
                scores = np.empty((len(q), width), dtype=np.float32)
                rows = np.empty((len(q), width), dtype=np.int64)
                for start in range(0, len(q), 4096):
                    s, i = torch.topk(q[start : start + 4096] @ p.T, width, dim=1)
                    scores[start : start + len(s)], rows[start : start + len(s)] = s.cpu().numpy(), i.cpu().numpy()
                top.push(scores, rows + offset)
            offset += len(p)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return top.scores_, top.indices_


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def passage_rows(store, corpus: Path, rows: np.ndarray) -> pd.DataFrame:
    """``row, doc_id, title, text`` of the global ``rows`` of a store (each read once)."""
    import pandas as pd

    from xqg_lab.scale.shards import read_corpus_shard

    shards = store.corpus_index().shards
    starts = np.cumsum([0] + [s.n for s in shards])
    needed = np.unique(np.asarray(rows)[np.asarray(rows) >= 0])
    shard_of = np.searchsorted(starts, needed, side="right") - 1
    frames = []
    for i in np.unique(shard_of):
        frame = read_corpus_shard(corpus, shards[i])
        local = needed[shard_of == i] - starts[i]
        part = frame.iloc[local].reset_index(drop=True)
        frames.append(part.assign(row=needed[shard_of == i]))
    if not frames:
        return pd.DataFrame(columns=["row", "doc_id", "title", "text"])
    return pd.concat(frames, ignore_index=True)[["row", "doc_id", "title", "text"]]


def passages_frame(store, corpus: Path, rows: np.ndarray) -> pd.DataFrame:
    """:func:`passage_rows` indexed by ``row``."""
    return passage_rows(store, corpus, rows).set_index("row")


def passage_vectors(store, rows: np.ndarray) -> np.ndarray:
    """float32 ``(len(rows), dim)``: the stored passage vectors of global ``rows``."""
    sizes = store.shard_sizes()
    starts = np.cumsum([0] + list(sizes))
    rows = np.asarray(rows, dtype=np.int64)
    shard_of = np.searchsorted(starts, rows, side="right") - 1
    out = None
    for i in np.unique(shard_of):
        shard = store.passage_embeddings(int(i))
        chosen = np.flatnonzero(shard_of == i)
        block = np.asarray(shard[rows[chosen] - starts[i]], dtype=np.float32)
        if out is None:
            out = np.zeros((len(rows), block.shape[1]), dtype=np.float32)
        out[chosen] = block
    if out is None:
        raise ValueError("expected at least one passage row, found none")
    return out


def candidate_pool(rows_by_encoder: Mapping[str, np.ndarray], *, pool_k: int) -> np.ndarray:
    """Sorted unique global rows of the retrieval pool: the plain top ``pool_k`` of every query
    under every encoder (``rows_by_encoder``: ``(n_queries, depth)`` arrays; -1 slots dropped).
    Chosen without looking at answers, so augmenting them cannot leak relevance labels."""
    if not rows_by_encoder or not pool_k:
        return np.empty(0, dtype=np.int64)
    pool = np.unique(np.concatenate([np.asarray(r)[:, :pool_k].ravel() for r in rows_by_encoder.values()]))
    return pool[pool >= 0].astype(np.int64)


def pool_query_sums(queries: pd.DataFrame, doc_ids: Sequence[str], encoder, *, langs: Sequence[str],
                    rule: str) -> np.ndarray:
    """float32 ``(len(doc_ids), dim)``: the fused query vector ``S`` of every pool passage
    (``rule="sum"``: the paper's sum over all languages and samples; ``"mean"``: their mean)."""
    from xqg_lab.augment import accumulate_query_sums

    sums = accumulate_query_sums(queries, doc_ids, encoder, langs=langs)
    total = sums.sums.sum(axis=0)
    if rule == "mean":
        total = total / np.maximum(sums.counts.sum(axis=0), 1)[:, None]
    return total.astype(np.float32)


def augmented_search(query_vectors: np.ndarray, plain: tuple[np.ndarray, np.ndarray], pool_rows: np.ndarray,
                     pool_p: np.ndarray, pool_s: np.ndarray, *, alpha: float, k: int, n_passages: int,
                     chunk_size: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` with the pool passages augmented, ``p' = (1-α)·p + α·S``, and every other
    passage kept as ``p' = p`` (it received no query).

    ``plain`` is the plain search ``(scores, rows)`` of the same queries, ``depth`` deep. A
    passage outside the pool scores as in ``plain``, so its top-``k`` is exact when ``plain`` holds
    at least ``k`` passages outside the pool; otherwise ``ValueError`` asks for a larger depth.
    Pool scores are computed ``chunk_size`` pool passages at a time and merged into a running
    top-``k`` (memory ``O(n_queries · (k + chunk_size))``). Returns ``(scores, rows)``, each
    ``(n_queries, k)``, rows global (``-1``: empty slot).
    """
    from xqg_lab.augment import check_alpha
    from xqg_lab.scale.search import TopK

    alpha = check_alpha(alpha)
    q = np.asarray(query_vectors, dtype=np.float32)
    pool_rows = np.asarray(pool_rows, dtype=np.int64)
    scores, rows = plain
    outside = ~np.isin(rows, pool_rows) & (rows >= 0)
    short = np.flatnonzero(outside.sum(axis=1) < min(k, n_passages - len(pool_rows)))
    if len(short) and rows.shape[1] < n_passages:
        raise ValueError(
            f"{len(short)} queries have fewer than k={k} passages outside the augmented pool in their plain "
            "top-depth list, so the augmented top-k cannot be proven exact; raise depth"
        )
    top = TopK(len(q), k=k).push(np.where(outside, scores, -np.inf), np.where(outside, rows, -1))
    for start in range(0, len(pool_rows), chunk_size):
        stop = start + chunk_size
        fused = ((1 - alpha) * pool_p[start:stop] + alpha * pool_s[start:stop]).astype(np.float32)
        block = q @ fused.T
        keep = min(k, block.shape[1])
        best = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
        top.push(np.take_along_axis(block, best, 1), pool_rows[start:stop][best])
    return top.scores_, top.indices_


def generate_equal(generator, passages: pd.DataFrame, *, langs: Sequence[str], n_per_lang: int, seed: int,
                   max_attempts: int = 3, initial: pd.DataFrame | None = None, progress: bool = False) -> pd.DataFrame:
    """``doc_id, lang, sample, text``: exactly ``n_per_lang`` non-empty queries per passage and
    language (the sum rule of the paper assumes equal counts).

    Empty outputs (a sampled generation can be empty) are dropped and the passages and languages
    left short are generated again with seeds ``seed + 1, seed + 2, ...`` (up to ``max_attempts``
    calls in all); the first ``n_per_lang`` non-empty queries are kept and numbered ``sample``
    0..n-1. ``initial``: queries already generated with ``seed`` (e.g. by
    :func:`generate_pool_shards`), standing in for the first call. ``ValueError`` names the pairs
    still short after that.
    """
    import pandas as pd

    frame = passages[["doc_id", "title", "text"]].reset_index(drop=True)
    kept = []
    todo = {lang: frame for lang in langs}
    for attempt in range(max_attempts):
        if attempt == 0 and initial is not None:
            todo = {}
            kept.append(initial[initial["text"].astype(str).str.strip() != ""][["doc_id", "lang", "text"]])
        for lang, subset in todo.items():
            if len(subset):
                out = generator.generate(subset, langs=[lang], n_per_lang=n_per_lang, seed=seed + attempt,
                                         progress=progress)  # fmt: skip
                kept.append(out[out["text"].astype(str).str.strip() != ""][["doc_id", "lang", "text"]])
        queries = pd.concat(kept, ignore_index=True)
        counts = queries.groupby(["doc_id", "lang"]).size()
        todo = {lang: frame[counts.reindex([(d, lang) for d in frame["doc_id"]], fill_value=0).to_numpy() < n_per_lang]
                for lang in langs}  # fmt: skip
        if not any(len(t) for t in todo.values()):
            break
    short = {lang: t["doc_id"].head(3).tolist() for lang, t in todo.items() if len(t)}
    if short:
        raise ValueError(
            f"expected {n_per_lang} non-empty queries per passage and language, found fewer after {max_attempts} "
            f"attempts for {sum(len(t) for t in todo.values())} pairs, e.g. {short}; fix the generator settings"
        )
    queries = queries.groupby(["doc_id", "lang"], sort=False).head(n_per_lang)
    queries = queries.assign(sample=queries.groupby(["doc_id", "lang"]).cumcount())
    return queries[["doc_id", "lang", "sample", "text"]].reset_index(drop=True)


def generate_pool_shards(config: MKQAStudyConfig, passages: pd.DataFrame, generator, *, key: str,
                         progress: bool = True) -> pd.DataFrame:
    """Generated queries (``doc_id, lang, sample, text``, ``n_per_lang`` per passage and language)
    for ``passages``, made shard by shard on the backend of ``config.scale`` (local or Ray) into
    ``work_dir/generated/<key>/`` (a re-run or a killed run resumes; finished shards are skipped).

    ``generator`` is a generator object or a zero-argument factory of one (the Ray backend needs
    a factory, e.g. ``functools.partial(generator_from_settings, name, ...)``). Empty outputs are
    topped up locally as in :func:`generate_equal`.
    """
    import pandas as pd

    from xqg_lab.core.atomic import write_atomic
    from xqg_lab.scale.shards import ShardStore, generate_query_shards

    folder = Path(config.work_dir) / "generated" / key
    corpus = folder / "passages.tsv"
    if not corpus.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        rows = ["id\ttext\ttitle"] + [
            "\t".join(_tsv_field(v) for v in (d, t, title))
            for d, t, title in zip(passages["doc_id"], passages["text"], passages["title"])
        ]
        write_atomic(corpus, ("\n".join(rows) + "\n").encode("utf-8"))
    generate_query_shards(corpus, folder / "store", generator=generator, langs=list(config.xqg_langs),
                          n_per_lang=config.n_per_lang, seed=config.seed, shard_size=config.generation_shard_size,
                          backend=config.scale.backend, ray_options=config.scale.ray,
                          progress=progress)  # fmt: skip
    store = ShardStore(folder / "store")
    initial = pd.concat([store.generated_queries(i) for i in store.require_complete("queries")], ignore_index=True)
    local = generator if hasattr(generator, "generate") else None
    return generate_equal(_Lazy(generator) if local is None else local, passages, langs=config.xqg_langs,
                          n_per_lang=config.n_per_lang, seed=config.seed, initial=initial)  # fmt: skip


def generation_key(generator, config: MKQAStudyConfig, doc_ids) -> str:
    """Content key of a generation: generator settings, languages, count, seed and the pool."""
    import hashlib
    import json

    import functools

    if hasattr(generator, "params"):
        params = generator.params()
    elif isinstance(generator, functools.partial):  # a factory: its function and arguments (no addresses)
        params = {"factory": f"{generator.func.__module__}.{generator.func.__qualname__}",
                  "args": list(generator.args), "kwargs": generator.keywords}  # fmt: skip
    else:
        params = f"{type(generator).__module__}.{type(generator).__qualname__}"
    spec = {"generator": params, "langs": list(config.xqg_langs), "n_per_lang": config.n_per_lang, "seed": config.seed,
            "pool": hashlib.sha256("\n".join(map(str, doc_ids)).encode()).hexdigest()}  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _tsv_field(value: str) -> str:
    """A DPR TSV field as ``csv`` writes it: quoted when it holds a tab, quote or newline."""
    value = str(value)
    if any(c in value for c in '\t"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


class _Lazy:
    """A generator built from its factory on first use (only when empty outputs need a top-up)."""

    def __init__(self, factory):
        self.factory, self.built = factory, None

    def generate(self, *args, **kwargs):
        if self.built is None:
            self.built = self.factory()
        return self.built.generate(*args, **kwargs)
