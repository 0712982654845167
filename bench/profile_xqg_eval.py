"""Profile the model cell of ``notebooks/xqg_eval.ipynb`` (the demo's parameters) on a warm cache.

    XQG_LAB_CACHE=/work/cache python bench/profile_xqg_eval.py [--store FOLDER] [--top 25]

Runs the notebook's set-up cell (data, held-out split) untimed, then its model cell exactly
as the notebook calls the library — ``evaluate_xqg`` for the held-out condition and, with
``--store``, for the generated one — under ``cProfile``, and prints the wall time, each
result's ``seconds`` and the functions with the largest cumulative time. Whichever
``xqg_lab`` is on ``PYTHONPATH`` is profiled, so the same script measures before and after
a change (e.g. ``PYTHONPATH=/path/to/main``). Run it once first to warm the embedding cache.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time

LANGS = ["en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
AUGMENT_LANGS = LANGS[1:]
ALPHAS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
MEASURES = ["MRR@10", "R@1", "R@5", "R@10", "nDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="", help="a generated-query store folder (the demo's generated_queries)")
    parser.add_argument("--top", type=int, default=25, help="functions to list by cumulative time")
    args = parser.parse_args()

    import xqg_lab
    from xqg_lab.data.xquad import load_xquad
    from xqg_lab.encode.model import Encoder
    from xqg_lab.generate import HeldOutQueries, read_store, split_questions
    from xqg_lab.studies.xqg import evaluate_xqg, evaluation_collection, restrict_to_passages

    print(f"xqg_lab from {os.path.dirname(xqg_lab.__file__)}; load average {os.getloadavg()[0]:.2f}")
    data = load_xquad(sorted({*LANGS, *AUGMENT_LANGS, "en"}))
    split = split_questions(data.queries, data.qrels, eval_fraction=0.5, seed=0)
    evaluation = evaluation_collection(data, split, langs=LANGS)
    heldout = HeldOutQueries(data.queries, split).generate(data.passages, langs=AUGMENT_LANGS)

    def model_cell():
        model = Encoder("embedded:multilingual-e5-small", preset="e5")
        results = {"held-out human": evaluate_xqg(evaluation, heldout, model, alphas=ALPHAS, rule="mean",
                                                  augment_langs=AUGMENT_LANGS, k=100, measures=MEASURES)}  # fmt: skip
        if args.store:
            generated = read_store(args.store)
            subset = restrict_to_passages(evaluation, generated["doc_id"].unique())
            results["generated"] = evaluate_xqg(subset, generated, model, alphas=ALPHAS, rule="sum", k=100,
                                                measures=MEASURES)  # fmt: skip
        return results

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    results = model_cell()
    profiler.disable()
    wall = time.perf_counter() - start
    print(f"model cell: {wall:.1f} s wall, {len(evaluation.queries)} evaluation queries, "
          f"{len(evaluation.passages)} passages, {len(ALPHAS)} alphas; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    for name, result in results.items():
        print(f"  {name}: " + ", ".join(f"{s} {t:.2f} s" for s, t in result.seconds.items()))
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
