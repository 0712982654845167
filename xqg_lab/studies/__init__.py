"""One module per notebook: the experiments, each with its config model (validated in the
notebook's second cell) and the functions the notebook calls.

- ``metrics.retrieval`` serves ``retrieval_eval``; ``generation``: ``query_generation``;
- ``xqg``: ``xqg_eval`` and ``query_explorer``; ``grid``: ``finetune_grid`` (the four conditions);
- ``alignment`` + ``alignment_summary``: ``alignment``; ``mkqa`` (+ ``mkqa_pool``,
  ``mkqa_alignment``): ``mkqa_retrieval`` and ``mkqa_study``;
- ``paper_table``: ``paper_table``; ``sizing``: ``sizing``.
"""
