"""Benchmark: time ``xqg_lab.alignment.alignment_report`` on 10k random correlated pairs.

Data: N pairs of 384-d float32 vectors (e5-small's width). Each coordinate of y is correlated
with the same coordinate of x (rho = 0.15: true MI = -192 log(1 - 0.15^2) = 4.4 nats, so
InfoNCE and retrieval are neither saturated nor at chance), and both sides share a common
offset that gives unrelated vectors a mean cosine of about 0.7, as e5 embeddings have.

Each measure is timed alone (``alignment_report(measures=[m])``, median of ``--repeats``),
then the whole report once. The bootstrap count is reduced to ``--n-bootstrap`` (default
100, against the library default of 200); KSG runs its default permutations
(``knn.DEFAULT_PERMUTATIONS``, 99). Results go to
``bench/results/alignment-<date>.json`` with the machine's load average, because the
timings are only comparable on an otherwise idle machine.

    .venv/bin/python bench/bench_alignment.py [--n 10000] [--dim 384] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def make_pairs(n: int, dim: int, *, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, dim), dtype=np.float32)
    E = rng.standard_normal((n, dim), dtype=np.float32)
    # |offset|^2 / (|offset|^2 + dim) = 0.7: mean cosine of unrelated vectors ~ 0.7
    offset = np.full(dim, np.sqrt(0.7 / 0.3), dtype=np.float32)
    X = Z + offset
    Y = np.float32(rho) * Z + np.float32(np.sqrt(1 - rho**2)) * E + offset
    true_mi = -0.5 * dim * np.log1p(-(rho**2))
    return X, Y, float(true_mi)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of pairs")
    parser.add_argument("--dim", type=int, default=384, help="embedding dimension")
    parser.add_argument("--rho", type=float, default=0.15, help="per-coordinate correlation")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measure (median reported)")
    parser.add_argument("--n-bootstrap", type=int, default=100, help="bootstrap replicates (library default: 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)

    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    from xqg_lab.alignment import Measure, alignment_report
    from xqg_lab.alignment.knn import DEFAULT_PERMUTATIONS

    X, Y, true_mi = make_pairs(args.n, args.dim, rho=args.rho, seed=args.seed)
    load_before = os.getloadavg()
    print(f"N = {args.n}, dim = {args.dim}, n_bootstrap = {args.n_bootstrap}, repeats = {args.repeats}")
    print(f"true MI of the full vectors: {true_mi:.2f} nats; load average {load_before[0]:.2f}")
    print(f"{'measure':18s} {'median s':>9s}  runs")
    per_measure = {}
    for measure in Measure:
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            frame = alignment_report(X, Y, measures=[measure], n_bootstrap=args.n_bootstrap, seed=args.seed)
            runs.append(time.perf_counter() - start)
        head = frame.iloc[0]
        per_measure[measure.value] = {
            "median_seconds": statistics.median(runs),
            "seconds": runs,
            "value": float(head["value"]),
            "ci_low": float(head["ci_low"]),
            "ci_high": float(head["ci_high"]),
            "unit": head["unit"],
        }
        print(f"{measure.value:18s} {statistics.median(runs):9.2f}  {' '.join(f'{r:.2f}' for r in runs)}", flush=True)

    start = time.perf_counter()
    report = alignment_report(X, Y, n_bootstrap=args.n_bootstrap, seed=args.seed)
    total = time.perf_counter() - start
    print(f"{'whole report':18s} {total:9.2f}  (sum of medians {sum(m['median_seconds'] for m in per_measure.values()):.2f})")
    print(report[["name", "value", "ci_low", "ci_high", "reference"]].to_string(index=False))

    result = {
        "benchmark": "alignment_report",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "params": {
            "n": args.n,
            "dim": args.dim,
            "rho": args.rho,
            "dtype": "float32",
            "n_bootstrap": args.n_bootstrap,
            "repeats": args.repeats,
            "seed": args.seed,
            "ksg_n_permutations": DEFAULT_PERMUTATIONS,
        },
        "true_mi_full_vectors_nats": true_mi,
        "per_measure": per_measure,
        "whole_report_seconds": total,
        "report": json.loads(report.to_json(orient="records")),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "blas": [
                {k: info.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                for info in threadpool_info()
            ],
            "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"alignment-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
