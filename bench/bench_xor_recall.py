"""XOR-Retrieve R@kt of an α grid: ``xor_recall_per_query`` per ranking vs the array path.

Questions: all 2,110 real XOR-Retrieve dev questions of the mirror. Passages: the English
Wikipedia corpus is not offline, so the passage table is synthetic (``tests/_xor_standin.py``):
common English words with real dev answers inserted, plus passages holding a question's own
answer (some split over two adjacent passages); each question ranks it by a random base score
plus α times a second random score, k = 100, one ranking per α. Contenders start from the same
``{α: indices}`` arrays and end with the per-question frames of every α, checked equal:

- today's: ``ctxs`` lists of texts, then ``xor_recall_per_query`` once per α (it tokenises each
  distinct passage once per call);
- ``xor_recall_per_query_grid``: the whole grid (each passage read within 5,000 tokens by some
  ranking tokenised once, answer spans per question-passage pair once, then array operations per α);
- its per-ranking part alone (``_AnswerSpans.hits`` on the table built once), per α.

Tokenisation (NLTK) dominates both; the ratio grows with the number of α and with how often
rankings of different questions share passages (here more than in a real corpus).

    python bench/bench_xor_recall.py [--quick]    # prints; run_all.py writes the results file
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _common import interleaved, median

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _xor_standin import standin_grid  # noqa: E402 -- the synthetic passage table, shared with the tests

ALPHAS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]


def run(*, quick: bool) -> dict:
    from xqg_lab.data.xor_tydi import load_xor_questions
    from xqg_lab.metrics import xor_recall_per_query, xor_recall_per_query_grid
    from xqg_lab.metrics.xor_retrieve import _span_answers
    from xqg_lab.metrics.xor_retrieve_arrays import _AnswerSpans

    data = load_xor_questions("dev")
    alphas = ALPHAS[:3] if quick else ALPHAS
    grid, query_ids, passages, _ = standin_grid(data, alphas, n_passages=3000 if quick else 10000, seed=0)
    n_q, k = grid[alphas[0]].shape
    warnings.simplefilter("ignore", UserWarning)  # a few rankings are shorter than 5,000 tokens

    def todays():
        return {a: xor_recall_per_query(data, {q: [passages[r] for r in row if r >= 0]
                                               for q, row in zip(query_ids, indices.tolist())})
                for a, indices in grid.items()}  # fmt: skip

    def arrays():
        return xor_recall_per_query_grid(grid, query_ids, passages, data)

    # the grid's two parts: the table of the scored questions built once, then hits per ranking
    sorted_ids = sorted(query_ids)
    span = [_span_answers(a) for a in data.set_index("query_id").loc[sorted_ids, "answers"]]
    scored = [i for i, s in enumerate(span) if s]
    rows = pd.Index(query_ids).get_indexer([sorted_ids[i] for i in scored])

    def build_table():
        return _AnswerSpans([span[i] for i in scored], np.asarray(passages, dtype=object),
                            [g[rows] for g in grid.values()], 5000, progress=False)  # fmt: skip

    reference, fast, table = todays(), arrays(), build_table()  # warm-up (NLTK's import and tables)
    for a in grid:
        pd.testing.assert_frame_equal(fast[a], reference[a])
        part = table.hits(grid[a][rows], (2, 5))[0]
        assert all((fast[a].loc[fast[a]["scored"], f"hit@{k}kt"].to_numpy() == part[k]).all() for k in (2, 5))

    def per_ranking_part():
        return {a: table.hits(indices[rows], (2, 5)) for a, indices in grid.items()}

    contenders = {"today's": todays, "grid": arrays, "table": build_table, "per-ranking part": per_ranking_part}
    times = interleaved(contenders, repeats=2 if quick else 1)
    todays_s = median(times["today's"])
    todays_per_alpha = todays_s / len(grid)
    grid_s = median(times["grid"])
    part_per_alpha = median(times["per-ranking part"]) / len(grid)
    rows_out = [
        {"contender": "today's: xor_recall_per_query per α", "median_s": todays_s,
         "per_alpha_s": todays_per_alpha},
        {"contender": "xor_recall_per_query_grid (all α)", "median_s": grid_s, "per_alpha_s": grid_s / len(grid)},
        {"contender": "  of which: table built once (tokens, answer spans)", "median_s": median(times["table"]),
         "per_alpha_s": median(times["table"]) / len(grid)},
        {"contender": "  of which: per-ranking part", "median_s": median(times["per-ranking part"]),
         "per_alpha_s": part_per_alpha},
    ]  # fmt: skip
    return {
        "title": f"XOR-Retrieve R@2kt/R@5kt of an α grid: {len(grid)} α × {n_q:,} dev questions × {k} passages "
                 f"(synthetic table of {len(passages):,} passages)",
        "setup": {"alphas": alphas, "n_questions": n_q, "k": k, "n_passages": len(passages),
                  "passages_tokenised_by_the_grid": int((table.n_tokens >= 0).sum()), "pairs": len(table.keys)},
        "rows": rows_out,
        "checks": {"frames_equal_to_xor_recall_per_query": True},
        "targets": [
            {"target": "grid faster than today's per-α scoring (whole grid)",
             "measured": f"{todays_s / grid_s:.1f}×", "met": grid_s < todays_s},
            {"target": "per-ranking part vs today's per α (context)",
             "measured": f"{todays_per_alpha / part_per_alpha:.0f}×", "met": True},
        ],
    }  # fmt: skip


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=1, default=str))
