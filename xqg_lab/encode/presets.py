"""Encoder conventions as declarative presets.

Retrievers differ in pooling, normalisation, prefixes and maximum lengths; these are
settings of one encoder, not separate code paths.

- ``dpr``: Tevatron / DPR checkpoints (mBERT, XLM-R): CLS vector, raw dot product,
  queries 32 and passages 128 tokens, passage text ``title + " " + text``.
- ``e5``: multilingual-e5: mean pooling over the attention mask, L2 normalisation,
  ``query: `` / ``passage: `` prefixes, 512 tokens.

Both encode a passage as ``title + " " + text`` by default (``passage_fields="title_text"``,
the DPR convention the checkpoints were trained with); ``passage_fields="text"`` drops the
title. It is a stated choice, not a constant: on XQuAD the five paragraphs of an article
share one English title, and with the embedded e5 the title lowers zero-shot MRR@10 of
non-English queries by 0.02-0.03.
"""

from __future__ import annotations

import dataclasses
from enum import Enum

from xqg_lab.core.validation import Choice
from xqg_lab.data.common import PassageFields


class Pooling(Choice, label="pooling"):
    """How token vectors become one text vector."""

    CLS = "cls"
    MEAN = "mean"
    MAX = "max"
    LAST = "last"



class Role(str, Enum):
    """Which side of the bi-encoder a text is encoded for."""

    QUERY = "query"
    PASSAGE = "passage"


@dataclasses.dataclass(frozen=True)
class EncoderPreset:
    """One retriever convention; every field can be overridden per encoder."""

    pooling: Pooling
    normalize: bool
    query_prefix: str
    passage_prefix: str
    query_max_length: int
    passage_max_length: int
    passage_fields: PassageFields = PassageFields.TITLE_TEXT

    def prefix(self, role: Role) -> str:
        return self.query_prefix if role is Role.QUERY else self.passage_prefix

    def max_length(self, role: Role) -> int:
        return self.query_max_length if role is Role.QUERY else self.passage_max_length


PRESETS: dict[str, EncoderPreset] = {
    "dpr": EncoderPreset(
        pooling=Pooling.CLS, normalize=False,
        query_prefix="", passage_prefix="",
        query_max_length=32, passage_max_length=128,
    ),
    "e5": EncoderPreset(
        pooling=Pooling.MEAN, normalize=True,
        query_prefix="query: ", passage_prefix="passage: ",
        query_max_length=512, passage_max_length=512,
    ),
}  # fmt: skip


def get_preset(name: str) -> EncoderPreset:
    """The preset called ``name``; the error lists the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown encoder preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}"
        ) from None
