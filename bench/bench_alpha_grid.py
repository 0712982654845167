"""α grid of 11 values via :func:`xqg_lab.search.index.search_alpha_grid` vs one exact search
per α and vs one exact search.

Target (issue 6): the grid costs under 2.5× one search.

    .venv/bin/python bench/bench_alpha_grid.py [--quick]   # prints; run_all.py writes results
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import interleaved, median
from _synthetic import SyntheticCorpus

ALPHAS = [round(a, 3) for a in np.linspace(0.0, 0.1, 11)]  # around the paper's α = 0.01
GRID = "alpha grid, index.search_alpha_grid"
ONE = "one search (k=100)"
PER_ALPHA = "one search per alpha (11 searches)"


def same_ranking(want, got, *, tol: float = 1e-5) -> tuple[float, bool]:
    """(share of queries with identical ids, whether every difference is a reordering of
    scores equal within ``tol``: float32 rounding of the two ways of computing them)."""
    (ws, wi), (gs, gi) = want, got
    identical = (wi == gi).all(axis=1)
    ties_only = bool(np.abs(ws - gs).max() <= tol) if len(ws) else True
    return float(identical.mean()), ties_only


def run(*, quick: bool) -> dict:
    from xqg_lab.search.index import search, search_alpha_grid

    n, n_queries, k, dim = (20_000, 200, 100, 384) if quick else (100_000, 1000, 100, 384)
    corpus = SyntheticCorpus(dim=dim)
    p = np.concatenate(list(corpus.blocks(n)))
    s = np.concatenate(list(corpus.blocks(n, kind="sums")))
    q, _ = corpus.queries(n_queries, n_passages=n)

    def per_alpha():
        return {a: search(q, (1 - a) * p + a * s, k=k) for a in ALPHAS}

    def grid():
        return search_alpha_grid(q, p, s, ALPHAS, k=k)

    # Correctness first: the grid equals one search per α (up to float32 ties).
    want, got = per_alpha(), grid()
    stats = [same_ranking(want[a], got[a]) for a in ALPHAS]
    checks = {
        "share_identical_ids": min(x for x, _ in stats),
        "differences_are_float_ties": all(t for _, t in stats),
    }

    times = interleaved({ONE: lambda: search(q, p, k=k), GRID: grid, PER_ALPHA: per_alpha},
                        repeats=2 if quick else 3)
    one = median(times[ONE])
    rows = [
        {"method": name, "median_s": median(ts), "x_one_search": median(ts) / one, "runs": len(ts)}
        for name, ts in times.items()
    ]
    ratio = median(times[GRID]) / one
    return {
        "title": f"α grid: {len(ALPHAS)} values, {n:,} passages × {dim}-d, {n_queries:,} queries, k={k}",
        "setup": {"n_passages": n, "dim": dim, "n_queries": n_queries, "k": k, "alphas": ALPHAS,
                  "data": "synthetic e5-like vectors (bench/_synthetic.py), S = sum of 35 query-like vectors"},
        "rows": rows,
        "checks": checks,
        "targets": [
            {"target": "α grid (11 values) < 2.5× one search", "measured": f"{ratio:.2f}×", "met": ratio < 2.5},
            {"target": "(context) grid vs one search per α",
             "measured": f"{median(times[PER_ALPHA]) / median(times[GRID]):.1f}× faster", "met": None},
        ],
    }


if __name__ == "__main__":
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k passages, 200 queries (instead of 100k, 1k)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    result = run(quick=args.quick)
    print(result["title"], f"(load average 1 min: {load:.2f} at start, {os.getloadavg()[0]:.2f} at end)")
    for row in result["rows"]:
        print("  ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    print("   checks:", result["checks"])
    for target in result["targets"]:
        print(f"   target: {target['target']}: {target['measured']} ({target['met']})")
