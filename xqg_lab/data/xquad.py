"""XQuAD (Artetxe et al., 2020) as a cross-lingual retrieval collection.

The 240 English SQuAD v1.1 dev paragraphs are the corpus; the 1,190 questions, professionally
translated into 11 languages, are the queries; each question's gold paragraph is its qrel.
The non-English files keep the English question ``id``, so queries align across languages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from xqg_lab.data.common import (
    RetrievalData,
    line_of,
    read_json,
    read_text,
)
from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import check_langs
from xqg_lab.data.frames import retrieval_data
from xqg_lab.data.langs import XQUAD_LANGS

XQUAD_QUERY_COLUMNS = ("query_id", "question_id", "lang", "text", "answers", "lang_answers")


def load_xquad(
    langs: Iterable[str] | str | None = None,
    *,
    paths: Mapping[str, str | os.PathLike[str]] | None = None,
) -> RetrievalData:
    """Load XQuAD: English paragraphs as passages, questions in ``langs`` as queries.

    Parameters
    ----------
    langs : iterable of str, str or None
        Query languages among :data:`XQUAD_LANGS` (None: all 12).
    paths : mapping lang -> path, optional
        Explicit ``xquad.<lang>.json`` files (SQuAD v1.1 JSON). Languages missing from the
        mapping are fetched (mirror or pinned download). English is always read: it is the
        corpus and the reference structure.

    Returns
    -------
    RetrievalData
        ``passages``: ``doc_id`` (``"<article:02d>-<paragraph:02d>"``, 0-based indices in file
        order), ``title`` (article title, underscores as spaces), ``text`` -- 240 rows.
        ``queries``: ``query_id`` (``"<squad id>-<lang>"``), ``question_id`` (the SQuAD id,
        shared by all languages), ``lang``, ``text``, ``answers`` (list[str], English answer
        spans, found in the passage), ``lang_answers`` (list[str], answers in ``lang``) --
        1,190 rows per language. ``qrels``: one row per query, its gold paragraph,
        ``relevance`` 1.

    Raises
    ------
    ValueError
        Unknown language.
    DataFormatError
        Malformed JSON, missing fields, empty texts or answers, or a translated file whose
        articles, paragraphs or question ids differ from the English file (names file and id).
    """
    selected = check_langs(langs, XQUAD_LANGS, what="XQuAD language")
    paths = dict(paths or {})
    for lang in paths:
        if lang not in XQUAD_LANGS:
            raise ValueError(
                f"unknown XQuAD language {lang!r} in paths; "
                f"expected one of: {', '.join(XQUAD_LANGS)}"
            )

    def path_of(lang: str) -> Path:
        if lang in paths:
            return Path(paths[lang])
        from xqg_lab.data.fetch import fetch

        return fetch(f"xquad.{lang}")

    en_path = path_of("en")
    en = _parse(en_path)
    passages = [
        {"doc_id": doc_id, "title": title, "text": context} for doc_id, title, context, _ in en
    ]
    en_questions = {
        qid: (doc_id, question, answers)
        for doc_id, _, _, qas in en
        for qid, question, answers in qas
    }
    queries: list[dict[str, Any]] = []
    qrels: list[dict[str, Any]] = []
    for lang in selected:
        if lang == "en":
            parsed = en
        else:
            path = path_of(lang)
            parsed = _parse(path)
            _check_same_structure(en, en_path, parsed, path)
        for _, _, _, qas in parsed:
            for qid, question, answers in qas:
                doc_id, _, en_answers = en_questions[qid]
                query_id = f"{qid}-{lang}"
                queries.append(
                    {
                        "query_id": query_id,
                        "question_id": qid,
                        "lang": lang,
                        "text": question,
                        "answers": list(en_answers),
                        "lang_answers": list(answers),
                    }
                )
                qrels.append({"query_id": query_id, "doc_id": doc_id, "relevance": 1})

    return retrieval_data(passages, queries, qrels, query_columns=XQUAD_QUERY_COLUMNS)


# (doc_id, title, context, [(question id, question, [answer texts])])
_Paragraph = tuple[str, str, str, list[tuple[str, str, list[str]]]]


def _parse(path: Path) -> list[_Paragraph]:
    data, raw = read_json(path)

    def fail(message: str, needle: str | None = None) -> DataFormatError:
        line = line_of(raw, needle) if needle else None
        return DataFormatError(path, line, message)

    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise fail('expected SQuAD JSON: an object with a "data" list of articles')
    out: list[_Paragraph] = []
    seen: set[str] = set()
    for a, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise fail(f'article {a}: expected an object with a "paragraphs" list')
        title = article.get("title")
        if not isinstance(title, str):
            raise fail(f'article {a}: missing or non-string field "title"')
        for p, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{a:02d}-{p:02d}"
            if not isinstance(paragraph, dict):
                raise fail(f"paragraph {doc_id}: expected an object")
            context = paragraph.get("context")
            qas = paragraph.get("qas")
            if not isinstance(context, str) or not isinstance(qas, list):
                raise fail(f'paragraph {doc_id}: expected fields "context" (str) and "qas" (list)')
            if not context.strip():
                raise fail(f"paragraph {doc_id}: empty context; expected non-empty text")
            questions = []
            for qa in qas:
                qid = qa.get("id") if isinstance(qa, dict) else None
                if not isinstance(qid, str) or not qid:
                    raise fail(f'paragraph {doc_id}: question without a string "id"')
                needle = f'"{qid}"'
                if qid in seen:
                    raise fail(f"duplicate question id {qid!r}; expected unique ids", needle)
                seen.add(qid)
                question = qa.get("question")
                if not isinstance(question, str):
                    raise fail(f'question {qid!r}: missing or non-string field "question"', needle)
                if not question.strip():
                    raise fail(f"question {qid!r}: empty question; expected non-empty text", needle)
                answers = qa.get("answers")
                if (
                    not isinstance(answers, list)
                    or not answers
                    or not all(
                        isinstance(x, dict) and isinstance(x.get("text"), str) and x["text"].strip()
                        for x in answers
                    )
                ):
                    raise fail(
                        f'question {qid!r}: "answers": expected a non-empty list of {{"text": str}} '
                        f"with non-empty texts (SQuAD v1.1 answers every question), found "
                        f"{answers!r:.80}; give each question its answer spans",
                        needle,
                    )
                questions.append((qid, question, [x["text"] for x in answers]))
            out.append((doc_id, title.replace("_", " "), context, questions))
    return out


def _check_same_structure(
    en: list[_Paragraph], en_path: Path, other: list[_Paragraph], path: Path
) -> None:
    """Raise DataFormatError unless ``other`` has English's paragraphs and question ids."""
    en_ids = {d: [q[0] for q in qas] for d, _, _, qas in en}
    other_ids = {d: [q[0] for q in qas] for d, _, _, qas in other}
    raw = None
    for doc_id in sorted(set(en_ids) | set(other_ids)):
        a, b = en_ids.get(doc_id), other_ids.get(doc_id)
        if a == b:
            continue
        if raw is None:
            raw = read_text(path)
        if a is None or b is None:
            raise DataFormatError(
                path,
                None,
                f"paragraph {doc_id} is {'missing' if b is None else 'extra'} compared with "
                f"{en_path}; expected the same articles and paragraphs as the English file",
            )
        missing = [q for q in a if q not in b]
        extra = [q for q in b if q not in a]
        if extra:
            qid = extra[0]
            detail = f"question id {qid!r} is not in that paragraph of {en_path}"
        elif missing:
            qid = missing[0]
            detail = f"question id {qid!r} of {en_path} is missing"
        else:
            qid = next(x for x, y in zip(b, a, strict=True) if x != y)
            detail = f"question ids are in a different order (first: {qid!r})"
        raise DataFormatError(
            path,
            line_of(raw, f'"{qid}"'),
            f"paragraph {doc_id}: {detail}; expected the same question ids per paragraph as the "
            "English file (XQuAD translations keep the English ids)",
        )
