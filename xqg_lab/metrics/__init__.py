"""Retrieval measures: per-query ranking measures (``ranking``: ir_measures, the reference;
``ranking_arrays``: the same values from the search arrays for a whole α grid), the official
XOR-Retrieve R@kt scorer (``xor_retrieve``; ``xor_retrieve_arrays``: the same values from the
search arrays for a whole grid), DPR's has-answer recall (``has_answer``) and the
evaluation of an encoder on a collection (``retrieval``)."""

from xqg_lab.metrics.ranking import aggregate, check_depth, parse_measure, per_query
from xqg_lab.metrics.ranking_arrays import per_query_arrays, per_query_grid
from xqg_lab.metrics.retrieval import RetrievalResult, evaluate_retrieval
from xqg_lab.metrics.xor_retrieve import read_xor_data, read_xor_predictions, xor_recall, xor_recall_per_query
from xqg_lab.metrics.xor_retrieve_arrays import xor_recall_per_query_arrays, xor_recall_per_query_grid

__all__ = [
    "parse_measure", "check_depth", "per_query", "aggregate", "per_query_arrays", "per_query_grid",
    "evaluate_retrieval", "RetrievalResult", "read_xor_data", "read_xor_predictions",
    "xor_recall_per_query", "xor_recall_per_query_arrays", "xor_recall_per_query_grid", "xor_recall",
]  # fmt: skip
