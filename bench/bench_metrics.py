"""Scoring the demo's xqg_eval α grid: today's path vs the array path vs ir_measures vs ranx.

The grid is the real one: XQuAD evaluation queries of the demo (12 languages, held-out split
0.5, seed 0) against all 240 paragraphs augmented with the held-out human questions (mean
rule), 9 α values, k = 100, searched with ``search_alpha_grid`` from the embedded e5-small's
vectors (read from the embedding cache when warm, encoded otherwise). Every contender
starts from the same ``{α: (scores, indices)}`` arrays and ends with per-query values of
MRR@10, R@1, R@5, R@10 and nDCG@10 for every α:

- today's: ``to_run`` (the pandas sort it had before issue 15, copied here) then
  ``metrics.ranking.per_query`` (trec_eval order, ``ir_measures``), once per α;
- ``per_query_grid`` (``xqg_lab.metrics.ranking_arrays``): the whole grid from the arrays;
- ``ir_measures`` alone: ``to_run`` then ``ir_measures.iter_calc`` on the frames, no checks;
- ranx (numba): ``Run.from_df`` of the run frame then ``evaluate(..., return_mean=False)``,
  and ``evaluate`` alone on prebuilt runs (its best case).

Targets (issue 15): the array path ≥ 20× faster than today's, and no slower than ranx.

    python bench/bench_metrics.py [--quick]    # prints; run_all.py writes the results file
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from _common import interleaved, median

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _helpers import old_to_run  # noqa: E402 -- the pre-issue-15 to_run, shared with the tests

LANGS = ["en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
ALPHAS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
MEASURES = ["MRR@10", "R@1", "R@5", "R@10", "nDCG@10"]
RANX = {"MRR@10": "mrr@10", "R@1": "recall@1", "R@5": "recall@5", "R@10": "recall@10", "nDCG@10": "ndcg@10"}


def _for_ranx(run: pd.DataFrame) -> pd.DataFrame:
    """ranx wants object-dtype id columns (pandas 3 makes them ``str``)."""
    return run.astype({"query_id": object, "doc_id": object})


def demo_grid():
    """``(grid {α: (scores, indices)}, query_ids, doc_ids, qrels)`` of the demo's held-out condition."""
    from xqg_lab.augment import accumulate_query_sums, select_queries
    from xqg_lab.data.xquad import load_xquad
    from xqg_lab.encode.model import Encoder
    from xqg_lab.generate import HeldOutQueries, split_questions
    from xqg_lab.search.index import search_alpha_grid
    from xqg_lab.studies.xqg import evaluation_collection

    data = load_xquad(LANGS)
    split = split_questions(data.queries, data.qrels, eval_fraction=0.5, seed=0)
    evaluation = evaluation_collection(data, split, langs=LANGS)
    heldout = HeldOutQueries(data.queries, split).generate(data.passages, langs=LANGS[1:])
    model = Encoder("embedded:multilingual-e5-small", preset="e5", progress=False)
    p = model.encode_passages(evaluation.passages)
    q = model.encode_queries(evaluation.queries["text"].tolist())
    sums = accumulate_query_sums(select_queries(heldout, langs=LANGS[1:]), evaluation.passages["doc_id"], model,
                                 langs=LANGS[1:])  # fmt: skip
    grid = search_alpha_grid(q, p, sums.fused(rule="mean"), ALPHAS, k=100)
    return grid, evaluation.queries["query_id"], evaluation.passages["doc_id"], evaluation.qrels


def run(*, quick: bool) -> dict:
    import ir_measures
    import ranx

    from xqg_lab.search.index import to_run
    from xqg_lab.metrics.ranking import parse_measure, per_query
    from xqg_lab.metrics.ranking_arrays import per_query_grid

    grid, query_ids, doc_ids, qrels = demo_grid()
    n_q, k = next(iter(grid.values()))[1].shape
    tied_rows = sum(int((s[:, 1:] == s[:, :-1]).any(1).sum()) for s, _ in grid.values())
    parsed = [parse_measure(m) for m in MEASURES]
    ranx_qrels = ranx.Qrels.from_df(qrels.astype({"query_id": object, "doc_id": object, "relevance": int}), q_id_col="query_id", doc_id_col="doc_id",
                                    score_col="relevance")  # fmt: skip
    run_frames = {a: _for_ranx(to_run(s, i, query_ids, doc_ids)) for a, (s, i) in grid.items()}
    ranx_runs = {a: ranx.Run.from_df(f, q_id_col="query_id", doc_id_col="doc_id", score_col="score")
                 for a, f in run_frames.items()}  # fmt: skip

    def todays():
        return {a: per_query(old_to_run(s, i, query_ids, doc_ids), qrels, MEASURES) for a, (s, i) in grid.items()}

    def arrays():
        return per_query_grid(grid, query_ids, doc_ids, qrels, MEASURES)

    def ir_measures_alone():
        out = {}
        for a, (s, i) in grid.items():
            values = {}
            for m in ir_measures.iter_calc(parsed, qrels, to_run(s, i, query_ids, doc_ids)):
                values[(str(m.measure), m.query_id)] = m.value
            out[a] = values
        return out

    def ranx_from_arrays():
        out = {}
        for a, (s, i) in grid.items():
            r = ranx.Run.from_df(_for_ranx(to_run(s, i, query_ids, doc_ids)), q_id_col="query_id", doc_id_col="doc_id",
                                 score_col="score")  # fmt: skip
            out[a] = ranx.evaluate(ranx_qrels, r, list(RANX.values()), return_mean=False)
        return out

    def ranx_evaluate_only():
        return {a: ranx.evaluate(ranx_qrels, r, list(RANX.values()), return_mean=False) for a, r in ranx_runs.items()}

    # warm-up (numba compiles ranx's kernels on the first call) and value checks
    reference, fast = todays(), arrays()
    ranx_values = ranx_evaluate_only()
    max_diff = max(float(np.abs(reference[a][m].to_numpy() - fast[a][m].to_numpy()).max())
                   for a in grid for m in MEASURES)  # fmt: skip
    judged = reference[0.0]["query_id"].tolist()
    ranx_ids = list(ranx_runs[0.0].keys())
    ranx_diff = {}
    for m, name in RANX.items():
        by_id = {a: dict(zip(ranx_ids, ranx_values[a][name])) for a in grid}
        ranx_diff[m] = max(float(np.abs(reference[a][m].to_numpy() - np.array([by_id[a].get(q, 0.0) for q in judged])).max())
                           for a in grid)  # fmt: skip

    contenders = {
        "today's: to_run + per_query (ir_measures) per α": todays,
        "per_query_grid (arrays, all α)": arrays,
        "ir_measures.iter_calc alone (to_run per α)": ir_measures_alone,
        "ranx: Run.from_df + evaluate per α": ranx_from_arrays,
        "ranx: evaluate only (prebuilt Run)": ranx_evaluate_only,
    }
    cpu: dict[str, list[float]] = {}
    times = interleaved(contenders, repeats=2 if quick else 3, cpu_times=cpu)
    base = median(times["today's: to_run + per_query (ir_measures) per α"])
    ours = median(times["per_query_grid (arrays, all α)"])
    rows = [
        {
            "contender": name,
            "median_s": median(ts),
            "per_alpha_ms": 1000 * median(ts) / len(grid),
            "x_todays": base / median(ts),
            "ours_x_faster": median(ts) / ours,
            "median_cpu_s": median(cpu[name]),
            "runs": len(ts),
        }
        for name, ts in times.items()
    ]
    ranx_best = min(median(times["ranx: Run.from_df + evaluate per α"]), median(times["ranx: evaluate only (prebuilt Run)"]))
    speedup = base / ours
    return {
        "title": f"Scoring the xqg_eval grid: {len(grid)} α × {n_q:,} queries × {k} passages, {len(MEASURES)} measures",
        "setup": {
            "alphas": ALPHAS,
            "n_queries": n_q,
            "k": k,
            "measures": MEASURES,
            "rows_with_tied_scores_over_grid": tied_rows,
            "judged_queries": len(judged),
        },
        "rows": rows,
        "checks": {
            "max_abs_diff_arrays_vs_todays": max_diff,
            "max_abs_diff_ranx_vs_todays": ranx_diff,
        },
        "targets": [
            {"target": "array scoring ≥ 20× faster than today's", "measured": f"{speedup:.0f}×", "met": speedup >= 20},
            {"target": "array scoring no slower than ranx (its fastest: evaluate on prebuilt runs)",
             "measured": f"{ranx_best / ours:.2f}× ranx's speed", "met": ours <= ranx_best},
            {"target": "values identical to today's (max abs diff)", "measured": f"{max_diff:.3g}",
             "met": max_diff == 0.0},
        ],
    }


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=1, default=str))
