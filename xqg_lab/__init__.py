"""xqg_lab: cross-lingual query generation (xQG) for dense retrieval, and its analysis.

Reproduces and extends Zhuang, Shou and Zuccon, "Augmenting Passage Representations
with Query Generation for Enhanced Cross-Lingual Dense Retrieval", SIGIR 2023
(arXiv 2305.03950). Import the sub-modules you need; nothing heavy happens here.
"""

__version__ = "0.1.0"
