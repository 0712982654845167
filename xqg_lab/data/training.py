"""Readers of retriever training data: the XQuAD article split and DPR/Tevatron training files.

Both return a *triples* frame, one row per training query: ``query``, ``positive`` (the gold
passage as ``title + " " + text``, :func:`~xqg_lab.data.common.passage_text`) and
``negatives`` (list[str]), the input of :func:`xqg_lab.train.train_biencoder`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import expected
from xqg_lab.data.common import OnEmpty, RetrievalData, iter_lines, parse_json, passage_text, read_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TrainEvalSplit", "read_dpr_training_file", "xquad_training_split"]


class TrainEvalSplit(NamedTuple):
    """A leakage-free train/evaluation split (see :func:`xquad_training_split`)."""

    train: pd.DataFrame
    eval: RetrievalData
    split: pd.DataFrame


def xquad_training_split(
    data: RetrievalData,
    *,
    eval_fraction: float = 0.5,
    seed: int = 0,
    keep_all_passages: bool = True,
) -> TrainEvalSplit:
    """Split XQuAD by article: train on the questions of some articles, evaluate on the others.

    XQuAD's 1,190 questions were asked on 240 paragraphs of 48 Wikipedia articles (5 each);
    ``doc_id`` is ``"<article:02d>-<paragraph:02d>"``. Splitting questions at random would
    train on one translation of a question and test on another, or on sibling questions of
    the same paragraph; splitting by article keeps every article (its paragraphs and every
    language's questions about them) on one side only.

    Parameters
    ----------
    data : from :func:`xqg_lab.data.load_xquad` (any language selection).
    eval_fraction : share of the articles held out for evaluation (rounded; at least one
        article on each side).
    seed : the split is ``numpy.random.default_rng(seed).permutation`` of the sorted articles,
        hence deterministic.
    keep_all_passages : evaluation corpus. True (default): all 240 paragraphs, the training
        articles' ones as distractors -- the same corpus as the zero-shot evaluation, harder,
        and it exposes a fine-tuned model that drifts towards passages it saw in training.
        False: only the evaluation articles' paragraphs.

    Returns
    -------
    TrainEvalSplit
        ``train``: triples, one row per training-article query: ``query_id``, ``lang``,
        ``query`` (question text), ``positive`` (its English gold paragraph as
        ``title + " " + text``), ``doc_id``, ``article``, ``negatives`` (the other paragraphs
        of the same article: topical hard negatives, used when ``n_negatives > 0``).
        ``eval``: :class:`RetrievalData` with the evaluation articles' queries and qrels.
        ``split``: one row per article: ``article``, ``title``, ``role`` (``"train"`` or
        ``"eval"``), ``n_paragraphs``, ``n_queries``.
    """
    import numpy as np
    import pandas as pd

    if (
        isinstance(eval_fraction, bool)
        or not isinstance(eval_fraction, (int, float))
        or not 0 < eval_fraction < 1
    ):
        raise ValueError("eval_fraction: " + expected("a share in (0, 1)", eval_fraction, "e.g. 0.5"))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError("seed: " + expected("a non-negative integer", seed, "e.g. 0"))
    passages = data.passages
    bad = [d for d in passages["doc_id"] if not _is_xquad_doc_id(d)]
    if bad:
        raise ValueError(
            f"doc_id {bad[0]!r} is not an XQuAD id '<article:02d>-<paragraph:02d>'; expected data "
            "from xqg_lab.data.load_xquad"
        )
    article_of = {d: d.split("-")[0] for d in passages["doc_id"]}
    articles = sorted(set(article_of.values()))
    if len(articles) < 2:
        raise ValueError(f"need at least 2 articles to split, found {len(articles)}")
    n_eval = min(max(round(eval_fraction * len(articles)), 1), len(articles) - 1)
    order = np.random.default_rng(seed).permutation(len(articles))
    eval_articles = {articles[i] for i in order[:n_eval]}

    qrels = data.qrels[data.qrels["relevance"] > 0]
    unknown = set(qrels["doc_id"]) - set(article_of)
    if unknown:
        raise ValueError(f"qrels name passages missing from data.passages, e.g. {sorted(unknown)[0]!r}")
    roles = qrels.assign(
        role=qrels["doc_id"].map(lambda d: "eval" if article_of[d] in eval_articles else "train")
    )
    per_query = roles.groupby("query_id")["role"].agg(lambda r: sorted(set(r)))
    mixed = per_query[per_query.map(len) > 1]
    if len(mixed):
        raise ValueError(
            f"query {mixed.index[0]!r} is relevant to passages of a training and an evaluation "
            "article; the article split cannot keep it on one side"
        )
    query_role = per_query.map(lambda r: r[0])

    queries = data.queries
    train_q = queries[queries["query_id"].map(query_role) == "train"]
    eval_q = queries[queries["query_id"].map(query_role) == "eval"]

    text_of = {
        d: passage_text(t, x)
        for d, t, x in zip(passages["doc_id"], passages["title"], passages["text"])
    }
    by_article: dict[str, list[str]] = {}
    for d in passages["doc_id"]:
        by_article.setdefault(article_of[d], []).append(d)
    gold = qrels.drop_duplicates("query_id").set_index("query_id")["doc_id"]
    rows = []
    for qid, lang, text in zip(train_q["query_id"], train_q["lang"], train_q["text"]):
        doc = gold[qid]
        art = article_of[doc]
        rows.append(
            {
                "query_id": qid,
                "lang": lang,
                "query": text,
                "positive": text_of[doc],
                "doc_id": doc,
                "article": art,
                "negatives": [text_of[d] for d in by_article[art] if d != doc],
            }
        )
    train = pd.DataFrame(
        rows, columns=["query_id", "lang", "query", "positive", "doc_id", "article", "negatives"]
    )

    eval_docs = [d for d in passages["doc_id"] if article_of[d] in eval_articles]
    eval_passages = passages if keep_all_passages else passages[passages["doc_id"].isin(eval_docs)]
    eval_data = RetrievalData(
        passages=eval_passages.reset_index(drop=True),
        queries=eval_q.reset_index(drop=True),
        qrels=data.qrels[data.qrels["query_id"].isin(set(eval_q["query_id"]))].reset_index(drop=True),
    )

    title_of = {article_of[d]: t for d, t in zip(passages["doc_id"], passages["title"])}
    counts = roles.drop_duplicates("query_id")["doc_id"].map(article_of).value_counts()
    split = pd.DataFrame(
        {
            "article": articles,
            "title": [title_of[a] for a in articles],
            "role": ["eval" if a in eval_articles else "train" for a in articles],
            "n_paragraphs": [len(by_article[a]) for a in articles],
            "n_queries": [int(counts.get(a, 0)) for a in articles],
        }
    )
    return TrainEvalSplit(train=train, eval=eval_data, split=split)


def _is_xquad_doc_id(doc_id: Any) -> bool:
    parts = doc_id.split("-") if isinstance(doc_id, str) else []
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def read_dpr_training_file(
    path: str | os.PathLike,
    *,
    include_negative_ctxs: bool = False,
    on_no_positive: OnEmpty | str = OnEmpty.DROP,
) -> pd.DataFrame:
    """Read DPR-format (or Tevatron-format) retriever training data into a triples frame.

    Accepted layouts (gzip read transparently):

    - DPR (``biencoder-nq-train.json``; XOR-TyDi's ``dpr_train_data.json``): a JSON list of
      ``{"question": str, "answers": [str], "positive_ctxs": [{"title", "text",
      "passage_id"?}], "negative_ctxs": [...], "hard_negative_ctxs": [...]}``, or the same
      objects one per line (JSON lines, ``jq -c '.[]'``);
    - Tevatron (``Tevatron/xor-tydi`` train, which the xQG paper trained on): JSON lines of
      ``{"query_id", "query", "positive_passages": [{"docid", "title", "text"}],
      "negative_passages": [...]}``.

    As DPR does, the first positive is the positive, ``hard_negative_ctxs`` are the hard
    negatives (``negative_ctxs``, DPR's random/BM25 "other" negatives, are appended when
    ``include_negative_ctxs``), and items without a positive are dropped (``on_no_positive=
    "drop"``, with a warning giving their count and first index) or refused (``"raise"``).

    Returns
    -------
    DataFrame
        ``query_id`` (the item's ``id``/``query_id``/``q_id`` if any, else its index),
        ``query``, ``answers`` (list[str]), ``positive`` (``title + " " + text``),
        ``positive_id`` (``passage_id``/``docid`` or ``""``), ``negatives`` (list[str]).

    Raises
    ------
    DataFormatError
        Malformed JSON or a malformed item, naming the file, the item index and (JSON lines)
        the line.
    FileNotFoundError
        ``path`` does not exist.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no such file: {path}; expected a DPR-format training file (JSON list) or JSON lines"
        )
    on_no_positive = OnEmpty.parse(on_no_positive)
    rows: list[dict[str, Any]] = []
    dropped: list[int] = []
    for index, line, item in _iter_training_items(path):
        row = _parse_training_item(
            item, index=index, path=path, line=line, include_other=include_negative_ctxs
        )
        if row is None:
            if on_no_positive is OnEmpty.RAISE:
                raise DataFormatError(
                    path, line, f"item {index}: no positive passage; expected a non-empty positive_ctxs"
                )
            dropped.append(index)
            continue
        rows.append(row)
    if dropped:
        warnings.warn(
            f"{path}: dropped {len(dropped)} item(s) without a positive passage (first: item "
            f"{dropped[0]}), as DPR's loader does",
            stacklevel=2,
        )
    frame = pd.DataFrame(
        rows, columns=["query_id", "query", "answers", "positive", "positive_id", "negatives"]
    )
    if frame.empty:
        raise DataFormatError(path, None, "no training item with a positive passage")
    return frame


def _iter_training_items(path: Path):
    """Yield ``(index, line or None, object)`` from a JSON list or a JSON-lines file."""
    text = read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = parse_json(text, path=path, line=1)
        for index, item in enumerate(data):
            yield index, None, item
        return
    if not stripped:
        raise DataFormatError(path, None, "empty file; expected a JSON list of training items")
    index = 0
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        item = parse_json(line, path=path, line=number, expected=f" (item {index})")
        yield index, number, item
        index += 1


def _parse_training_item(item, *, index: int, path: Path, line: int | None, include_other: bool):
    def fail(message: str) -> DataFormatError:
        return DataFormatError(path, line, f"item {index}: {message}")

    if not isinstance(item, dict):
        raise fail(f"expected an object, found {type(item).__name__}")
    tevatron = "query" in item and "question" not in item
    q_key, pos_key = ("query", "positive_passages") if tevatron else ("question", "positive_ctxs")
    neg_keys = (
        ["negative_passages"]
        if tevatron
        else ["hard_negative_ctxs"] + (["negative_ctxs"] if include_other else [])
    )
    query = item.get(q_key)
    if not isinstance(query, str) or not query.strip():
        raise fail(f"field {q_key!r}: expected a non-empty string, found {query!r:.80}; write the question text")
    answers = item.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise fail(f"field 'answers': expected a list of strings, found {answers!r:.80}; wrap single answers in a list")
    if pos_key not in item:
        raise fail(f"missing field {pos_key!r}; found fields {sorted(item)}")

    def contexts(key: str) -> list[tuple[str, str]]:
        value = item.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            raise fail(f"field {key!r}: expected a list of passages, found {type(value).__name__}; wrap the passages in a list")
        out = []
        for j, ctx in enumerate(value):
            if not isinstance(ctx, dict):
                raise fail(
                    f"{key}[{j}]: expected an object with 'title' and 'text', found {type(ctx).__name__}; "
                    "write each passage as {\"title\": ..., \"text\": ...}"
                )
            text, title = ctx.get("text"), ctx.get("title", "")
            if not isinstance(text, str) or not text.strip():
                raise fail(f"{key}[{j}]: 'text': expected a non-empty string, found {text!r:.80}; fill in or drop the passage")
            if title is None:
                title = ""
            if not isinstance(title, str):
                raise fail(f"{key}[{j}]: 'title': expected a string, found {title!r:.80}; write the title as text (or \"\")")
            pid = ctx.get("docid" if tevatron else "passage_id", "")
            out.append((passage_text(title, text), "" if pid is None else str(pid)))
        return out

    positives = contexts(pos_key)
    negatives = [text for key in neg_keys for text, _ in contexts(key)]
    if not positives:
        return None
    qid = next((item[k] for k in ("id", "query_id", "q_id") if isinstance(item.get(k), (str, int))), index)
    return {
        "query_id": str(qid),
        "query": query,
        "answers": list(answers),
        "positive": positives[0][0],
        "positive_id": positives[0][1],
        "negatives": negatives,
    }


