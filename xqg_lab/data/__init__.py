"""Data sets as tidy pandas frames, downloaded by pinned URL and sha256 or read from a mirror.

Record types (same names everywhere in the toolkit; all ids are strings):

- passages: ``doc_id``, ``title``, ``text``
- queries: ``query_id``, ``lang``, ``text`` (+ e.g. ``answers`` list[str])
- qrels: ``query_id``, ``doc_id``, ``relevance`` (int)
- pairs (bitext): ``pair_id``, ``lang``, ``src_text`` (English), ``tgt_text``

Set ``XQG_LAB_MIRROR`` to the offline mirror folder (``../shared/data``) to read files from
it instead of downloading. Importing this package reads no files and imports no pandas.
The download function is ``xqg_lab.data.fetch.fetch`` (not re-exported here, so that
``xqg_lab.data.fetch`` stays the module).
"""

from xqg_lab.data.common import OnEmpty, RetrievalData
from xqg_lab.data.beir import load_beir
from xqg_lab.core.checksums import file_sha256
from xqg_lab.data.fetch import ensure_punkt, mirror_dir, registry
from xqg_lab.data.langs import MKQA_LANGS, MKQA_TARGET_LANGS, XOR_LANGS, XQUAD_LANGS, XQUAD_TARGET_LANGS
from xqg_lab.data.mkqa import load_mkqa
from xqg_lab.data.tatoeba import load_tatoeba, tatoeba_langs
from xqg_lab.data.xor_tydi import (
    iter_dpr_corpus,
    load_dpr_corpus,
    load_xor_questions,
    load_xor_translations,
)
from xqg_lab.data.xquad import load_xquad

__all__ = [
    "MKQA_LANGS",
    "MKQA_TARGET_LANGS",
    "XOR_LANGS",
    "XQUAD_LANGS",
    "XQUAD_TARGET_LANGS",
    "OnEmpty",
    "RetrievalData",
    "ensure_punkt",
    "file_sha256",
    "iter_dpr_corpus",
    "load_beir",
    "load_dpr_corpus",
    "load_mkqa",
    "load_tatoeba",
    "load_xor_questions",
    "load_xor_translations",
    "load_xquad",
    "mirror_dir",
    "registry",
    "tatoeba_langs",
]
