"""The query-generation notebook: which passages get queries, and the samples it shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import pydantic

from xqg_lab.core.validation import ConfigModel

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_COLUMNS = ("doc_id", "title", "lang", "sample", "text", "in_target_language")
"""Columns of :func:`samples`."""


class QueryGenerationConfig(ConfigModel):
    """Parameters of the ``query_generation`` notebook (its ``parameters`` cell says what each one means)."""

    where = "query_generation parameters"
    generator: str
    model_name_or_path: str
    langs: list[str]
    n_per_lang: Annotated[int, pydantic.Field(ge=1)]
    max_passages: Annotated[int, pydantic.Field(ge=0)]
    seed: int
    batch_size: Annotated[int, pydantic.Field(ge=1)]
    store: str
    interactive_charts: bool
    output_prefix: str
    output_dir: str


def generation_passages(max_passages: int) -> pd.DataFrame:
    """The first ``max_passages`` English XQuAD paragraphs (0: all 240): ``doc_id, title, text``."""
    from xqg_lab.data.xquad import load_xquad

    passages = load_xquad(["en"]).passages
    return passages.head(max_passages) if max_passages else passages


def samples(queries: pd.DataFrame, passages: pd.DataFrame, *, n: int = 4) -> pd.DataFrame:
    """The first ``n`` generated queries of each language with their passage's title and the
    language check: :data:`SAMPLE_COLUMNS`."""
    return queries.merge(passages[["doc_id", "title"]], on="doc_id").groupby("lang").head(n)[list(SAMPLE_COLUMNS)]
