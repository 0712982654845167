"""Helpers shared by several test modules and the benchmarks (plain functions, not fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_notebook(path: Path, *cells: str) -> Path:
    """A notebook of code ``cells`` whose first cell is tagged ``parameters``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


def old_to_run(scores, indices, query_ids, doc_ids) -> pd.DataFrame:
    """``search.index.to_run`` before issue 15 (pandas sort by row, score desc, doc_id desc):
    the reference of the array scoring path (tests) and today's path in ``bench/bench_metrics.py``."""
    query_ids, doc_ids = np.asarray(query_ids, dtype=object), np.asarray(doc_ids, dtype=object)
    n, k = indices.shape
    valid = indices >= 0
    run = pd.DataFrame({
        "query_id": np.repeat(query_ids, k)[valid.ravel()].astype(str),
        "doc_id": doc_ids[indices[valid]].astype(str),
        "score": scores[valid].astype(np.float64),
        "row": np.repeat(np.arange(n), k)[valid.ravel()],
    })  # fmt: skip
    run = run.sort_values(["row", "score", "doc_id"], ascending=[True, False, False], kind="stable")
    run["rank"] = run.groupby("row").cumcount() + 1
    return run[["query_id", "doc_id", "score", "rank"]].reset_index(drop=True)
