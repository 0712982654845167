"""Coverage of the alignment measures' bootstrap intervals (issue 11, item 3).

Simulated data sets at the alignment notebook's setting (``configs/demo.yaml``): N = 500
pairs of 384-d vectors, 100 bootstrap replicates, ``gaussian_mi`` on 8 PCA components,
``language_probe`` with 3 folds, every other option at its default. Data: correlated
Gaussians in a shared coordinate system, 8 signal coordinates (variances 2.0 ... 1.0,
correlations ``RHOS`` between x_k and y_k) and 376 independent noise coordinates of variance
``--noise`` on each side, so the top-8 principal subspace of each side holds all the
dependence and

    I(X; Y) = -1/2 sum_k log(1 - rho_k^2)          (analytic, nats).

The true value of each measure:

- ``gaussian_mi``: the analytic MI above;
- ``ksg_mi``: the analytic MI of its projections (top-4 whitened principal components of
  each side = the 4 highest-variance signal coordinates): the same sum over those 4;
- ``language_probe``: 0.5 (both sides have the same distribution, so no classifier beats
  chance);
- ``infonce_bound`` and ``bitext_accuracy`` depend on N (log N cap, N candidates): their
  population value at N = 500 is the mean estimate over ``--n-truth`` independent data sets
  of N pairs;
- every other measure (and part): its value on one large sample of ``--n-large`` pairs.

Each data set gets a different seed for the data and for the bootstrap. Coverage is the
fraction of data sets whose interval holds the true value; its Monte-Carlo standard error is
``sqrt(c (1 - c) / n_sets)``. Writes ``bench/results/coverage-<date>.json`` and ``.md``.

    python bench/bench_coverage.py [--n-sets 200] [--measures gaussian_mi,ksg_mi] [--tag before]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N, DIM, N_BOOTSTRAP = 500, 384, 100
RHOS = np.linspace(0.8, 0.1, 8)
SIGNAL_VAR = np.linspace(2.0, 1.0, 8)
OPTIONS = {"gaussian_mi": {"n_components": 8}, "ksg_mi": {"n_permutations": 0}, "language_probe": {"n_splits": 3}}
N_DEPENDENT = ("infonce_bound", "bitext_accuracy")


def make_pairs(n: int, rng: np.random.Generator, *, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """X, Y float32 (n, DIM): signal coordinates 0-7 correlated pairwise (``RHOS``), the rest noise."""
    k = len(RHOS)
    sx, e = rng.standard_normal((n, k)), rng.standard_normal((n, k))
    sy = RHOS * sx + np.sqrt(1 - RHOS**2) * e
    sd = np.sqrt(SIGNAL_VAR)
    X = np.hstack([sx * sd, math.sqrt(noise) * rng.standard_normal((n, DIM - k))])
    Y = np.hstack([sy * sd, math.sqrt(noise) * rng.standard_normal((n, DIM - k))])
    return X.astype(np.float32), Y.astype(np.float32)


def flat(estimate) -> dict[str, tuple[float, float, float]]:
    """``{name: (value, ci_low, ci_high)}`` of an estimate and its parts."""
    return {e.name: (e.value, e.ci_low, e.ci_high) for e in (estimate, *estimate.parts)}


def truths(measures, *, noise: float, n_large: int, n_truth: int, seed: int) -> dict[str, tuple[float, str]]:
    """``{name: (true value, how it is defined)}`` for every measure and part."""
    from xqg_lab.alignment import MEASURES, Measure

    mi = float(-0.5 * np.log1p(-(RHOS**2)).sum())
    ksg_dims = np.argsort(-SIGNAL_VAR, kind="stable")[:4]
    out = {
        "gaussian_mi": (mi, "analytic"),
        "ksg_mi": (float(-0.5 * np.log1p(-(RHOS[ksg_dims] ** 2)).sum()), "analytic (top-4 projections)"),
        "language_probe": (0.5, "analytic (same distribution on both sides)"),
    }
    rng = np.random.default_rng(seed)
    for m in measures:
        if m in ("gaussian_mi", "ksg_mi", "language_probe"):
            continue
        fn, opts = MEASURES[Measure(m)], OPTIONS.get(m, {})
        if m in N_DEPENDENT:
            runs = [flat(fn(*make_pairs(N, rng, noise=noise), n_bootstrap=0, **opts)) for _ in range(n_truth)]
            for name in runs[0]:
                out[name] = (float(np.mean([r[name][0] for r in runs])), f"mean of {n_truth} data sets of N = {N}")
        else:
            for name, (value, _, _) in flat(fn(*make_pairs(n_large, rng, noise=noise), n_bootstrap=0, **opts)).items():
                out[name] = (float(value), f"one sample of {n_large} pairs")
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sets", type=int, default=200, help="simulated data sets")
    parser.add_argument("--measures", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--noise", type=float, default=0.25, help="variance of each noise coordinate")
    parser.add_argument("--n-large", type=int, default=5000, help="pairs of the large sample (N-free truths)")
    parser.add_argument("--n-truth", type=int, default=200, help="data sets averaged for N-dependent truths")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="", help="suffix of the results file names, e.g. 'before'")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from xqg_lab.alignment import MEASURES, Measure

    measures = args.measures.split(",") if args.measures else [m.value for m in Measure]
    start = time.perf_counter()
    load_start = os.getloadavg()[0]
    with threadpool_limits(limits=1, user_api="blas"):
        truth = truths(measures, noise=args.noise, n_large=args.n_large, n_truth=args.n_truth, seed=args.seed + 10**6)
        hits: dict[str, list[bool]] = {}
        widths: dict[str, list[float]] = {}
        errors: dict[str, list[float]] = {}
        seconds = {m: 0.0 for m in measures}
        for i in range(args.n_sets):
            X, Y = make_pairs(N, np.random.default_rng(args.seed + i), noise=args.noise)
            for m in measures:
                t = time.perf_counter()
                est = MEASURES[Measure(m)](X, Y, n_bootstrap=N_BOOTSTRAP, confidence=args.confidence,
                                           seed=args.seed + i, **OPTIONS.get(m, {}))  # fmt: skip
                seconds[m] += time.perf_counter() - t
                for name, (value, low, high) in flat(est).items():
                    if name not in truth or not (math.isfinite(low) and math.isfinite(high)):
                        continue
                    hits.setdefault(name, []).append(low <= truth[name][0] <= high)
                    widths.setdefault(name, []).append(high - low)
                    errors.setdefault(name, []).append(value - truth[name][0])
            if (i + 1) % 10 == 0:
                print(f"{i + 1}/{args.n_sets} data sets, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    rows = []
    for name, h in hits.items():
        c = float(np.mean(h))
        rows.append({
            "measure": name,
            "truth": truth[name][0],
            "truth_is": truth[name][1],
            "coverage": c,
            "mc_se": math.sqrt(c * (1 - c) / len(h)),
            "n_sets": len(h),
            "mean_width": float(np.mean(widths[name])),
            "bias": float(np.mean(errors[name])),
            "seconds_per_estimate": seconds[name.split(".")[0]] / args.n_sets,
        })  # fmt: skip
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "setup": {"n": N, "dim": DIM, "n_bootstrap": N_BOOTSTRAP, "rhos": RHOS.round(4).tolist(),
                  "signal_var": SIGNAL_VAR.tolist(), "noise_var": args.noise, "options": OPTIONS,
                  "confidence": args.confidence, "n_sets": args.n_sets, "seed": args.seed},  # fmt: skip
        "load_average_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"coverage-{dt.date.today().isoformat()}" + (f"-{args.tag}" if args.tag else "")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    sys.path.insert(0, str(HERE))
    from _common import markdown_table

    md = [
        f"# Bootstrap interval coverage, {result['date']}",
        "",
        f"{args.n_sets} simulated data sets of N = {N} pairs, {DIM}-d, {N_BOOTSTRAP} bootstrap replicates, "
        f"nominal {args.confidence:.0%}; noise variance {args.noise}; {result['seconds']:.0f} s in all "
        f"(load average {result['load_average_1m'][0]} at start, {result['load_average_1m'][1]} at end). "
        "mc_se: Monte-Carlo standard error of the coverage. See bench/bench_coverage.py for the data.",
        "",
        markdown_table(rows),
    ]
    (args.out / f"{stem}.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return result


if __name__ == "__main__":
    main()
