"""Paired views for the alignment analysis: English source texts paired with target-language texts.

Every view is a tidy frame of paired texts, one row per pair::

    pair_id (str, unique), lang (str), src_text (str, English side), tgt_text (str, target side)

plus ``doc_id`` / ``question_id`` where the pair comes from a passage or a question. Row i of
``X`` (source embeddings) is paired with row i of ``Y`` (target embeddings); see
:mod:`xqg_lab.alignment` for the measures.

Views (:class:`View`; the roles each side is encoded with are in :data:`VIEWS`):

- ``xquad_questions``: an English XQuAD question and its professional translation (same
  ``question_id``), query / query; 1,190 pairs per language.
- ``xquad_passages``: an English XQuAD paragraph (``title + " " + text``) and a
  target-language question about it, passage / query; 1,190 pairs per language (each
  paragraph appears once per question asked about it).
- ``xor_translations``: the human English translation of an XOR-TyDi question and the
  original question, query / query; about 4.6k pairs per language.
- ``tatoeba``: a Tatoeba sentence pair (LASER test set), query / query; up to 1,000 pairs.
- ``mkqa``: an English MKQA query and its translation, query / query; 10,000 pairs per
  language with the full file, **6** with the offline sample.
- ``xqg``: the xQG comparison (Zhuang, Shou and Zuccon, SIGIR 2023, arXiv 2305.03950):
  an English XQuAD paragraph, encoded as a passage ``p`` or augmented ``p'``, and a
  held-out *evaluation* human question about it in the target language, passage / query.
  The augmentation questions (the human proxy for generated queries) are other questions
  about the same paragraph, split off by question id (:func:`heldout_queries`), so no
  question is ever on both sides.

Both sides of a sentence-level view are encoded as queries: e5 models are trained with the
``query: `` prefix on symmetric tasks (their model card: "use 'query: ' for ... bitext
mining"), and a DPR query tower is what encodes a question.
"""

from xqg_lab.alignment.pairs.views import (
    PAIR_COLUMNS,
    TATOEBA_CODES,
    VIEWS,
    View,
    ViewSpec,
    embed_pairs,
    embed_view,
    load_view,
    mkqa_pairs,
    pair_counts,
    subsample_pairs,
    tatoeba_pairs,
    xor_translation_pairs,
    xquad_passage_pairs,
    xquad_question_pairs,
)
from xqg_lab.alignment.pairs.xqg import (
    AugmentLangs,
    augmented_sources,
    heldout_queries,
    passages_without_queries,
    xqg_pairs,
)

__all__ = [
    "PAIR_COLUMNS",
    "TATOEBA_CODES",
    "VIEWS",
    "AugmentLangs",
    "View",
    "ViewSpec",
    "augmented_sources",
    "embed_pairs",
    "embed_view",
    "heldout_queries",
    "load_view",
    "mkqa_pairs",
    "pair_counts",
    "passages_without_queries",
    "subsample_pairs",
    "tatoeba_pairs",
    "xor_translation_pairs",
    "xqg_pairs",
    "xquad_passage_pairs",
    "xquad_question_pairs",
]
