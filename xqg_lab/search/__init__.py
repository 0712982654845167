"""Exact inner-product search (FAISS) and runs: frames, TREC files, the exact α grid."""

from xqg_lab.search.index import read_trec_run, search, search_alpha_grid, to_run, trec_sorted, write_trec_run

__all__ = ["search", "search_alpha_grid", "to_run", "trec_sorted", "write_trec_run", "read_trec_run"]
