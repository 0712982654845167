"""A retrieval collection's three tidy frames, assembled from the rows a reader collected.

Shared by the readers that build a :class:`~xqg_lab.data.common.RetrievalData` row by row
(:mod:`xqg_lab.data.beir`, :mod:`xqg_lab.data.xquad`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xqg_lab.data.common import PASSAGE_COLUMNS, QREL_COLUMNS, RetrievalData


def retrieval_data(
    passages: Sequence[Any], queries: Sequence[Any], qrels: Sequence[Any], *, query_columns: Sequence[str]
) -> RetrievalData:
    """Rows (tuples or dicts) as frames with the record columns, sorted by id.

    ``passages``: ``doc_id, title, text``; ``queries``: ``query_columns``; ``qrels``:
    ``query_id, doc_id, relevance`` (cast to int64). Sorted as :class:`RetrievalData` documents.
    """
    import pandas as pd

    passages_df = pd.DataFrame(passages, columns=list(PASSAGE_COLUMNS))
    queries_df = pd.DataFrame(queries, columns=list(query_columns))
    qrels_df = pd.DataFrame(qrels, columns=list(QREL_COLUMNS))
    qrels_df["relevance"] = qrels_df["relevance"].astype("int64")
    return RetrievalData(
        passages=passages_df.sort_values("doc_id", ignore_index=True),
        queries=queries_df.sort_values("query_id", ignore_index=True),
        qrels=qrels_df.sort_values(["query_id", "doc_id"], ignore_index=True),
    )
