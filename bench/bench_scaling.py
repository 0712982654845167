"""How the encoding-free steps grow with the corpus: 10k -> 1M synthetic 384-d passages.

Steps: exact search in memory (one IndexFlatIP), exact search over memory-mapped float32
shards on disk with the streaming top-k merge, the α grid (11 values) in memory
(:func:`xqg_lab.search.index.search_alpha_grid`) and over shards
(:func:`xqg_lab.scale.search.search_alpha_grid_sharded`). 200 queries, k = 100; shards of
``min(100k, max(n/10, 10k))`` passages; medians of 3 runs up to 100k passages, one run at 1M.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from _synthetic import SyntheticCorpus

ALPHAS = [round(a, 3) for a in np.linspace(0.0, 0.1, 11)]


def _time(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(*, quick: bool) -> dict:
    from xqg_lab.search.index import search, search_alpha_grid
    from xqg_lab.scale.search import search_alpha_grid_sharded, search_sharded

    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    n_queries, k, dim = 200, 100, 384
    corpus = SyntheticCorpus(dim=dim)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            shard_size = min(100_000, max(n // 10, 10_000))
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            paths_p, paths_s = [], []
            for i, start in enumerate(range(0, n, shard_size)):
                stop = min(start + shard_size, n)
                paths_p.append(folder / f"p{i}.npy")
                paths_s.append(folder / f"s{i}.npy")
                np.save(paths_p[-1], corpus.passages(start, stop))
                np.save(paths_s[-1], corpus.query_sums(start, stop))
            q, _ = corpus.queries(n_queries, n_passages=n)
            repeats = 3 if n <= 100_000 else 1

            def shards(paths):
                return (np.load(p, mmap_mode="r") for p in paths)

            sharded = _time(lambda: search_sharded(q, shards(paths_p), k=k), repeats)
            grid_sharded = _time(lambda: search_alpha_grid_sharded(q, shards(paths_p), shards(paths_s), ALPHAS, k=k), repeats)
            p = np.concatenate([np.load(x) for x in paths_p])
            s = np.concatenate([np.load(x) for x in paths_s])
            flat = _time(lambda: search(q, p, k=k), repeats)
            grid = _time(lambda: search_alpha_grid(q, p, s, ALPHAS, k=k), repeats)
            del p, s
            for step, seconds in (
                ("exact search, in memory", flat),
                ("exact search, memory-mapped shards + streaming merge", sharded),
                ("alpha grid (11), in memory", grid),
                ("alpha grid (11), memory-mapped shards", grid_sharded),
            ):
                rows.append({
                    "n_passages": n,
                    "shard_size": shard_size,
                    "step": step,
                    "seconds": seconds,
                    "runs": repeats,
                    "us_per_query_per_1k_passages": seconds / n_queries / (n / 1000) * 1e6,
                })
            for path in paths_p + paths_s:
                path.unlink()
    growth = []
    for step in dict.fromkeys(r["step"] for r in rows):
        mine = [r for r in rows if r["step"] == step]
        growth.append(f"{step}: ×{mine[-1]['seconds'] / mine[0]['seconds']:.0f} time for "
                      f"×{mine[-1]['n_passages'] // mine[0]['n_passages']} passages")
    return {
        "title": f"Cost vs corpus size ({', '.join(f'{s:,}' for s in sizes)} passages × {dim}-d), "
                 f"{n_queries} queries, k={k}",
        "setup": {"sizes": sizes, "n_queries": n_queries, "k": k, "dim": dim, "alphas": ALPHAS},
        "rows": rows,
        "notes": growth,
        "targets": [],
    }
