"""Peak memory of the augmentation (Σ of generated-query vectors per passage) as the number
of generated queries grows: 1, 10 and 100 queries per passage and language (2,000 passages,
7 languages: 14k, 140k, 1.4M queries), each setting in its own subprocess.

- ``sharded, streamed``: :func:`xqg_lab.scale.shards.encode_query_sum_shards` reading the queries
  from Parquet chunk by chunk (the scale path). Target (issue 6): flat -- once a shard's
  queries fill whole chunks (8,192 queries), more queries must not cost more memory.
- ``in memory``: :func:`xqg_lab.augment.accumulate_query_sums` on a frame already loaded
  (the notebook path); the frame itself is reported separately, it grows with the queries.

The query encoder is a fast deterministic stand-in (a table lookup by CRC32 of the text):
model memory is the same whatever the number of queries, so it is left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

LANGS = ["ar", "bn", "fi", "ja", "ko", "ru", "te"]
N_PASSAGES = 2000
DIM = 384


class TableEncoder:
    """Query vectors looked up by CRC32 of the text in a fixed random table (fast, exact)."""

    def __init__(self):
        self.table = np.random.default_rng(0).standard_normal((4096, DIM)).astype(np.float32)

    def settings(self, role):
        return {"model": "table-encoder", "dim": DIM, "role": str(getattr(role, "value", role))}

    def encode_queries(self, texts):
        return self.table[[zlib.crc32(t.encode()) % 4096 for t in texts]]

    def encode_passages(self, passages):
        return self.encode_queries([f"{a} {b}" for a, b in zip(passages["title"], passages["text"])])


def _rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``/proc/self/clear_refs``, value 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    """Peak RSS of this process since start or the last reset (``VmHWM``). Not
    ``ru_maxrss``: that one survives ``exec`` and so includes the parent's memory."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def child(mode: str, store: str, queries: str, name: str) -> dict:
    """Measure one setting in this (fresh) process; returns the numbers."""
    import tracemalloc

    import pandas as pd
    import pyarrow as pa

    from xqg_lab.augment import accumulate_query_sums
    from xqg_lab.scale.shards import ParquetQueries, ShardStore, encode_query_sum_shards

    encoder = TableEncoder()
    frame_mb = None
    if mode == "in memory":
        doc_ids = ShardStore(store).all_doc_ids()
        frame = pd.read_parquet(queries)
        frame_mb = frame.memory_usage(deep=True).sum() / 2**20
    reset = _reset_peak_rss()
    rss_before = _rss_bytes()
    pool = pa.default_memory_pool()
    tracemalloc.start()
    if mode == "in memory":
        sums = accumulate_query_sums(frame, doc_ids, encoder, langs=LANGS)
        n_queries = int(sums.counts.sum())
    else:
        encode_query_sum_shards(store, ParquetQueries(queries), encoder=encoder, langs=LANGS, name=name,
                                progress=False)
        n_queries = sum(int(ShardStore(store).query_counts(i, name=name).sum()) for i in range(ShardStore(store).n_shards()))
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "n_queries": n_queries,
        "python_numpy_peak_mb": traced_peak / 2**20,
        "arrow_pool_peak_mb": pool.max_memory() / 2**20 if pool.max_memory() is not None else None,
        "rss_peak_increase_mb": max(_peak_rss_bytes() - rss_before, 0) / 2**20 if reset else None,
        "input_frame_mb": frame_mb,
    }


def _write_inputs(folder: Path, per_lang: list[int]) -> tuple[Path, dict[int, Path]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from xqg_lab.scale.shards import encode_passage_shards

    corpus = folder / "corpus.tsv"
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("id\ttext\ttitle\n")
        for i in range(N_PASSAGES):
            f.write(f"{i}\tsynthetic passage {i} with some words about topic {i % 37}\tTitle {i}\n")
    store = folder / "store"
    encode_passage_shards(corpus, store, encoder=TableEncoder(), shard_size=500, progress=False)
    paths = {}
    for n in per_lang:
        ids = np.repeat(np.arange(N_PASSAGES), len(LANGS) * n).astype(str)
        langs = np.tile(np.repeat(LANGS, n), N_PASSAGES)
        samples = np.tile(np.arange(n), N_PASSAGES * len(LANGS))
        text = [f"{lang} question {s} about passage {d}" for d, lang, s in zip(ids, langs, samples)]
        paths[n] = folder / f"queries-{n}.parquet"
        pq.write_table(pa.table({"doc_id": ids, "lang": langs, "sample": samples, "text": text}), paths[n],
                       row_group_size=65_536)
    return store, paths


def run(*, quick: bool) -> dict:
    per_lang = [10, 40] if quick else [1, 10, 100]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store, paths = _write_inputs(Path(tmp), per_lang)
        for mode in ("sharded, streamed", "in memory"):
            for n in per_lang:
                out = subprocess.run(
                    [sys.executable, __file__, "child", mode, str(store), str(paths[n]), f"n{n}"],
                    capture_output=True, text=True, check=True, cwd=os.path.dirname(os.path.abspath(__file__)),
                )
                rows.append({"path": mode, "queries_per_passage": n * len(LANGS), **json.loads(out.stdout.splitlines()[-1])})
    # Memory grows until a shard's queries fill whole chunks (8192 queries), then must stay
    # flat: compare the two largest settings (both with full chunks).
    streamed = [r for r in rows if r["path"] == "sharded, streamed"][-2:]
    growth = streamed[-1]["rss_peak_increase_mb"] / max(streamed[0]["rss_peak_increase_mb"], 1e-9)
    traced = streamed[-1]["python_numpy_peak_mb"] / max(streamed[0]["python_numpy_peak_mb"], 1e-9)
    ratio_q = streamed[-1]["n_queries"] / streamed[0]["n_queries"]
    return {
        "title": f"Augmentation memory vs number of generated queries ({N_PASSAGES:,} passages, {len(LANGS)} languages, "
                 f"{DIM}-d, 4 shards of 500)",
        "setup": {"n_passages": N_PASSAGES, "langs": LANGS, "dim": DIM, "chunk_size": 8192,
                  "measure": "per subprocess: tracemalloc peak (Python + NumPy), Arrow pool peak, "
                             "peak RSS during the call (VmHWM after a reset) minus RSS before it"},
        "rows": rows,
        "targets": [
            {"target": "sharded path: peak memory flat as queries grow (two largest settings)",
             "measured": f"×{ratio_q:.0f} queries -> RSS peak ×{growth:.2f}, Python/NumPy peak ×{traced:.2f}",
             "met": growth < 1.5 and traced < 1.5},
        ],
    }


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "child":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    print(json.dumps(child(*sys.argv[2:6])))
