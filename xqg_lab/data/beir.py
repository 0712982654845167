"""Generic BEIR-style collections (Thakur et al., 2021): corpus, queries and qrels files."""

from __future__ import annotations

import os
from pathlib import Path

from xqg_lab.data.common import (
    QUERY_COLUMNS,
    RetrievalData,
    check_new_id,
    iter_jsonl,
    iter_lines,
    require,
    require_id,
    require_text,
)
from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import expected
from xqg_lab.data.frames import retrieval_data

QRELS_HEADER = ("query-id", "corpus-id", "score")
"""Header of a BEIR qrels TSV."""


def load_beir(
    folder: str | os.PathLike[str], split: str = "test", *, lang: str = "en"
) -> RetrievalData:
    """Load a BEIR-layout folder.

    Parameters
    ----------
    folder : path
        Holds ``corpus.jsonl`` (``{_id, title, text}``; ``title`` optional),
        ``queries.jsonl`` (``{_id, text}``) and ``qrels/<split>.tsv`` (header
        ``query-id<TAB>corpus-id<TAB>score``). Gzipped ``.jsonl`` content is read transparently.
    split : str
        Which qrels file to read.
    lang : str
        Value of the ``lang`` column of the queries (BEIR files carry no language).

    Returns
    -------
    RetrievalData
        ``passages`` (``doc_id``, ``title``, ``text``), ``queries`` (``query_id``, ``lang``,
        ``text``; only the queries that have qrels in ``split``, as BEIR's loader does),
        ``qrels`` (``query_id``, ``doc_id``, ``relevance`` int64, 0 kept); each sorted by id.

    Raises
    ------
    DataFormatError
        Malformed JSON or TSV, missing fields, empty texts, duplicate ids, a non-integer score,
        or a qrel naming a query or passage id not in the files -- each naming file and line.
    """
    folder = Path(folder)
    corpus_path = folder / "corpus.jsonl"
    queries_path = folder / "queries.jsonl"
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for p in (corpus_path, queries_path, qrels_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"no such file: {p}; expected a BEIR folder with corpus.jsonl, queries.jsonl and "
                f"qrels/{split}.tsv"
            )

    passages: list[tuple[str, str, str]] = []
    doc_ids: dict[str, int] = {}
    for line, obj in iter_jsonl(corpus_path):
        doc_id = require_id(obj, "_id", path=corpus_path, line=line)
        check_new_id(doc_ids, doc_id, line, what="passage id", path=corpus_path)
        title = require(obj, "title", str, path=corpus_path, line=line) if "title" in obj else ""
        text = require_text(obj, "text", path=corpus_path, line=line)
        passages.append((doc_id, title, text))

    queries: dict[str, str] = {}
    query_lines: dict[str, int] = {}
    for line, obj in iter_jsonl(queries_path):
        query_id = require_id(obj, "_id", path=queries_path, line=line)
        check_new_id(query_lines, query_id, line, what="query id", path=queries_path)
        queries[query_id] = require_text(obj, "text", path=queries_path, line=line)

    qrels: list[tuple[str, str, int]] = []
    pairs: dict[str, int] = {}
    for line, text in iter_lines(qrels_path):
        if not text.strip():
            continue
        fields = text.split("\t")
        if line == 1:
            if tuple(f.strip() for f in fields) != QRELS_HEADER:
                raise DataFormatError(
                    qrels_path,
                    line,
                    f"expected the header {'<TAB>'.join(QRELS_HEADER)}, found {text!r:.120}",
                )
            continue
        if len(fields) != 3:
            raise DataFormatError(
                qrels_path,
                line,
                f"expected 3 tab-separated fields (query-id, corpus-id, score), "
                f"found {len(fields)}",
            )
        query_id, doc_id, score = (f.strip() for f in fields)
        try:
            relevance = int(score)
        except ValueError:
            raise DataFormatError(
                qrels_path, line, expected("an integer score", score, "write relevance as 0, 1, 2, ...")
            ) from None
        if query_id not in queries:
            raise DataFormatError(
                qrels_path,
                line,
                f"unknown query id {query_id!r}: not in {queries_path}; expected "
                "every qrel to name a query of queries.jsonl",
            )
        if doc_id not in doc_ids:
            raise DataFormatError(
                qrels_path,
                line,
                f"unknown passage id {doc_id!r}: not in {corpus_path}; expected "
                "every qrel to name a passage of corpus.jsonl",
            )
        check_new_id(
            pairs, f"{query_id}\t{doc_id}", line, what="(query-id, corpus-id) pair", path=qrels_path
        )
        qrels.append((query_id, doc_id, relevance))

    judged = {q for q, _, _ in qrels}
    return retrieval_data(
        passages,
        [(q, lang, t) for q, t in queries.items() if q in judged],
        qrels,
        query_columns=QUERY_COLUMNS,
    )
