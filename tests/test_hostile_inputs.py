"""Hostile inputs (issue 7, part 1): every bad input gives a clear error, nothing silently wrong.

Each case below is one hostile input fed to the public entry point a user would feed it to,
built by hand in ``tmp_path`` in the real file formats. Each asserts the exception type and,
with ``match=``, that the message names the file and line (``path:line:``) or the field,
row, id or key at fault. The few inputs whose documented semantics are "warn and go on"
(the official XOR-Retrieve scorer ignores predictions for unknown ids; ranking metrics drop
run queries without qrels) are in :data:`WARNING_CASES`, asserting the warning names them.

Property-based tests (Hypothesis) at the end: valid records round-trip through the BEIR and
DPR-TSV loaders; damaged bytes of a valid file either load or raise ``DataFormatError``
naming the path, never another exception; R@kt is monotone in the token budget, blind to
passages past the budget and to the order of questions. (The cross-check of R@kt against the
official script on random data is in ``tests/test_xor_retrieve.py``; the XOR-question
round-trip and corruption properties are in ``tests/test_data.py``.)
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xqg_lab.alignment import infonce_bound, linear_cka
from xqg_lab.augment import QuerySums, accumulate_query_sums, augment_passages, check_alpha
from xqg_lab.core.config import ConfigError, load_config
from xqg_lab.data import (
    load_beir,
    load_dpr_corpus,
    load_mkqa,
    load_tatoeba,
    load_xor_questions,
    load_xor_translations,
    load_xquad,
)
from xqg_lab.encode.cache import EmbeddingCache
from xqg_lab.core.errors import DataFormatError
from xqg_lab.generate.store import read_store_params
from xqg_lab.search.index import read_trec_run, search, search_alpha_grid, to_run
from xqg_lab.metrics.ranking import aggregate, per_query
from xqg_lab.metrics.xor_retrieve import (
    main as score_xor_main,
    read_xor_data,
    read_xor_predictions,
    xor_recall,
    xor_recall_per_query,
)
from xqg_lab.present.report import save_provenance, save_table, write_text
from xqg_lab.train import load_training_config, read_dpr_training_file

# ----------------------------------------------------------------------------- file builders


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _lines(*records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


def _xor(qid="a", **over):
    return {"id": qid, "question": "¿Quién?", "answers": ["Portland"], "lang": "ar", "split": "dev", **over}


def _without(record: dict, key: str) -> dict:
    return {k: v for k, v in record.items() if k != key}


def xor_file(*records, raw: bytes | None = None):
    """A case builder: ``load_xor_questions`` on q.jsonl holding ``records`` (or ``raw`` bytes)."""
    return lambda tmp: lambda: load_xor_questions(_write(tmp, "q.jsonl", raw if raw is not None else _lines(*records)))


def _squad(edit=None):
    data = {
        "version": "1.1",
        "data": [
            {
                "title": "Super_Bowl_50",
                "paragraphs": [
                    {
                        "context": "The Panthers defense gave up just 308 points.",
                        "qas": [
                            {"id": "q1", "question": "How many points?", "answers": [{"text": "308"}]},
                            {"id": "q2", "question": "Which defense?", "answers": [{"text": "Panthers"}]},
                        ],
                    }
                ],
            }
        ],
    }
    if edit is not None:
        edit(data)
    return data


def _qa(data, i):
    return data["data"][0]["paragraphs"][0]["qas"][i]


def xquad_file(edit=None, *, raw: bytes | None = None):
    """A case builder: ``load_xquad("en")`` on an xquad.en.json (SQuAD v1.1 JSON)."""

    def build(tmp):
        content = raw if raw is not None else json.dumps(_squad(edit), indent=1, ensure_ascii=False)
        return lambda: load_xquad("en", paths={"en": _write(tmp, "xquad.en.json", content)})

    return build


def xquad_translation(edit):
    """A case builder: ``load_xquad("de")`` where xquad.de.json differs from English by ``edit``."""

    def build(tmp):
        en = _write(tmp, "xquad.en.json", json.dumps(_squad(), indent=1))
        de = _write(tmp, "xquad.de.json", json.dumps(_squad(edit), indent=1))
        return lambda: load_xquad("de", paths={"en": en, "de": de})

    return build


def _mkqa(eid=1, **over):
    record = {
        "example_id": eid,
        "query": "who wrote it",
        "queries": {"en": "who wrote it", "ar": "من كتبها"},
        "answers": {
            "en": [{"type": "entity", "text": "Smith", "aliases": ["J. Smith"]}],
            "ar": [{"type": "entity", "text": "سميث"}],
        },
    }
    record.update(over)
    return record


def mkqa_file(*records, raw: bytes | None = None, langs=("en", "ar")):
    content = raw if raw is not None else _lines(*records)
    return lambda tmp: lambda: load_mkqa(_write(tmp, "m.jsonl", content), langs=langs)


def tatoeba_files(tgt: bytes, eng: bytes = b"Hello.\nThank you.\n", *, on_empty="raise"):
    def build(tmp):
        _write(tmp, "tatoeba.tel-eng.tel", tgt)
        _write(tmp, "tatoeba.tel-eng.eng", eng)
        return lambda: load_tatoeba("tel", folder=tmp, on_empty=on_empty)

    return build


def tsv_file(content: str | bytes):
    return lambda tmp: lambda: load_dpr_corpus(_write(tmp, "c.tsv", content))


TSV_HEADER = "id\ttext\ttitle\n"
CORPUS = _lines({"_id": "d1", "title": "T", "text": "first passage"}, {"_id": "d2", "text": "second passage"})
QUERIES = _lines({"_id": "q1", "text": "first query"})
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\n"


def beir_folder(*, corpus=CORPUS, queries=QUERIES, qrels=QRELS):
    def build(tmp):
        _write(tmp, "corpus.jsonl", corpus)
        _write(tmp, "queries.jsonl", queries)
        _write(tmp, "qrels/test.tsv", qrels)
        return lambda: load_beir(tmp)

    return build


def xor_data_file(content: str | bytes):
    return lambda tmp: lambda: read_xor_data(_write(tmp, "d.jsonl", content))


def xor_pred_file(content: str | bytes):
    return lambda tmp: lambda: read_xor_predictions(_write(tmp, "p.json", content))


def trec_file(content: str | bytes):
    return lambda tmp: lambda: read_trec_run(_write(tmp, "r.trec", content))


DPR_ITEM = {
    "question": "who wrote it",
    "answers": ["Smith"],
    "positive_ctxs": [{"title": "Book", "text": "Smith wrote it.", "passage_id": "7"}],
    "hard_negative_ctxs": [{"title": "Other", "text": "Nobody knows."}],
}


def training_file(name: str, content: str | bytes):
    return lambda tmp: lambda: read_dpr_training_file(_write(tmp, name, content))


def store_params(content: str):
    return lambda tmp: lambda: read_store_params(_write(tmp, "store/params.json", content).parent)


LATIN1 = "¿Quién?".encode("latin-1")  # b'\xbfQui\xe9n?': a UTF-8 reader must refuse it
CP1252_QUOTES = b"\x93quoted\x94"  # Windows "smart quotes"


def _case(case_id, build, error, match):
    return pytest.param(build, error, match, id=case_id)


# ----------------------------------------------------------------------- malformed data files

FILE_CASES = [
    # XOR-TyDi questions (JSONL)
    _case("xor-malformed-json", xor_file(_xor("a"), '{"id": "b", question: "x"}'), DataFormatError,
          r"q\.jsonl:2: malformed JSON at column \d+"),
    _case("xor-truncated-last-line", xor_file(raw=(_lines(_xor("a")) + '{"id": "b", "quest').encode()),
          DataFormatError, r"q\.jsonl:2: malformed JSON .*truncated line"),
    _case("xor-latin1-file", xor_file(raw=b'{"id": "a", "question": "' + LATIN1 + b'"}\n'), DataFormatError,
          r"q\.jsonl:1: invalid UTF-8 at byte offset 25 .*iconv"),
    _case("xor-mixed-encoding", xor_file(raw=_lines(_xor("a"), _xor("b")).encode() + b'{"id": "c", "question": "'
                                          + CP1252_QUOTES + b'"}\n'),
          DataFormatError, r"q\.jsonl:3: invalid UTF-8"),
    _case("xor-utf16-file", xor_file(raw=_lines(_xor("a")).encode("utf-16")), DataFormatError,
          r"q\.jsonl:1: invalid UTF-8 at byte offset 0"),
    _case("xor-lone-surrogate", xor_file(_xor("a"), '{"id": "b", "question": "\\ud800?"}'), DataFormatError,
          r"q\.jsonl:2: JSON escape '\\\\ud800' is a lone UTF-16 surrogate"),
    _case("xor-empty-file", xor_file(raw=b""), DataFormatError, r"q\.jsonl: no JSON object in the file"),
    _case("xor-not-an-object", xor_file(_xor("a"), "[1, 2]"), DataFormatError,
          r"q\.jsonl:2: expected a JSON object per line, found list"),
    _case("xor-empty-question", xor_file(_xor("a"), _xor("b", question="  ")), DataFormatError,
          r"q\.jsonl:2: empty field 'question'"),
    _case("xor-duplicate-id", xor_file(_xor("a"), _xor("b"), _xor("a")), DataFormatError,
          r"q\.jsonl:3: duplicate question id 'a' \(first on line 1\)"),
    _case("xor-unknown-language", xor_file(_xor("a"), _xor("b", lang="en")), DataFormatError,
          r"q\.jsonl:2: unknown language code 'en'; expected one of: ar, bn"),
    _case("xor-answers-missing", xor_file(_xor("a"), _without(_xor("b"), "answers")), DataFormatError,
          r"q\.jsonl:2: missing field 'answers'"),
    _case("xor-answers-not-strings", xor_file(_xor("a", answers=[{"text": "x"}])), DataFormatError,
          r"q\.jsonl:1: field 'answers': expected a list of strings"),
    _case("xor-empty-answer", xor_file(_xor("a", answers=["Portland", ""])), DataFormatError,
          r"q\.jsonl:1: empty string in field 'answers'"),
    _case("xor-id-wrong-type", xor_file(_xor(1.5)), DataFormatError, r"q\.jsonl:1: field 'id': expected str or int, found float: 1\.5"),
    _case("xor-truncated-gzip",
          lambda tmp: lambda: load_xor_questions(_write(tmp, "q.jsonl.gz", gzip.compress(_lines(
              *[_xor(f"q{i}") for i in range(50)]).encode())[:-30])),
          DataFormatError, r"q\.jsonl\.gz: cannot read the file .*re-download"),
    # XQuAD (SQuAD v1.1 JSON)
    _case("xquad-truncated", xquad_file(raw=json.dumps(_squad(), indent=1)[:-40].encode()), DataFormatError,
          r"xquad\.en\.json:\d+: malformed JSON"),
    _case("xquad-latin1", xquad_file(raw=json.dumps(_squad(), indent=1, ensure_ascii=False).encode("latin-1")
                                     .replace(b"points?", b"p\xf6ints?")),
          DataFormatError, r"xquad\.en\.json:12: invalid UTF-8"),
    _case("xquad-not-squad", xquad_file(raw=b'{"version": "1.1"}'), DataFormatError,
          r'xquad\.en\.json: expected SQuAD JSON: an object with a "data" list'),
    _case("xquad-empty-context", xquad_file(lambda d: d["data"][0]["paragraphs"][0].update(context=" ")),
          DataFormatError, r"xquad\.en\.json: paragraph 00-00: empty context"),
    _case("xquad-empty-question", xquad_file(lambda d: _qa(d, 1).update(question="")), DataFormatError,
          r"xquad\.en\.json:20: question 'q2': empty question"),
    _case("xquad-duplicate-id", xquad_file(lambda d: _qa(d, 1).update(id="q1")), DataFormatError,
          r"xquad\.en\.json:\d+: duplicate question id 'q1'"),
    _case("xquad-answers-missing", xquad_file(lambda d: _qa(d, 1).pop("answers")), DataFormatError,
          r'xquad\.en\.json:20: question \'q2\': "answers": expected a non-empty list'),
    _case("xquad-answers-empty-list", xquad_file(lambda d: _qa(d, 0).update(answers=[])), DataFormatError,
          r'xquad\.en\.json:\d+: question \'q1\': "answers": expected a non-empty list'),
    _case("xquad-empty-answer-text", xquad_file(lambda d: _qa(d, 0).update(answers=[{"text": ""}])),
          DataFormatError, r"xquad\.en\.json:\d+: question 'q1': .*non-empty texts"),
    _case("xquad-translation-other-ids", xquad_translation(lambda d: _qa(d, 1).update(id="q9")), DataFormatError,
          r"xquad\.de\.json:\d+: paragraph 00-00: question id 'q9' is not in that paragraph"),
    _case("xquad-unknown-language", lambda tmp: lambda: load_xquad("xx"), ValueError,
          r"expected XQuAD language to be one of 'ar', 'de', .*found 'xx'"),
    # MKQA (JSONL)
    _case("mkqa-malformed-json", mkqa_file(_mkqa(1), '{"example_id": 2,'), DataFormatError,
          r"m\.jsonl:2: malformed JSON"),
    _case("mkqa-latin1", mkqa_file(raw=b'{"example_id": 1, "queries": {"en": "' + LATIN1 + b'"}}\n'),
          DataFormatError, r"m\.jsonl:1: invalid UTF-8"),
    _case("mkqa-empty-query", mkqa_file(_mkqa(1, queries={"en": "", "ar": "x"})), DataFormatError,
          r"m\.jsonl:1: empty or non-string queries\['en'\]"),
    _case("mkqa-duplicate-id", mkqa_file(_mkqa(1), _mkqa(1)), DataFormatError,
          r"m\.jsonl:2: duplicate example_id '1' \(first on line 1\)"),
    _case("mkqa-answers-missing", mkqa_file(_without(_mkqa(1), "answers")), DataFormatError,
          r"m\.jsonl:1: missing field 'answers'"),
    _case("mkqa-language-missing", mkqa_file(_mkqa(1, answers={"en": []})), DataFormatError,
          r"m\.jsonl:1: missing language 'ar' in field 'answers'"),
    _case("mkqa-aliases-a-string", mkqa_file(_mkqa(1, answers={"en": [{"type": "entity", "text": "S", "aliases": "J"}],
                                                               "ar": []})),
          DataFormatError, r"m\.jsonl:1: answers\['en'\]: 'aliases': expected a list of strings"),
    _case("mkqa-unknown-language", mkqa_file(_mkqa(1), langs=["zh"]), ValueError,
          r"expected MKQA language to be one of .*'zh_cn'.*found 'zh'"),
    # line-aligned bitext (Tatoeba, XOR translations)
    _case("tatoeba-latin1", tatoeba_files(b"ok\n" + LATIN1 + b"\n"), DataFormatError,
          r"tatoeba\.tel-eng\.tel:2: invalid UTF-8"),
    _case("tatoeba-empty-line", tatoeba_files("నమస్కారం\n \n".encode()), DataFormatError,
          r"tatoeba\.tel-eng\.tel:2: empty text"),
    _case("tatoeba-truncated", tatoeba_files("నమస్కారం\n".encode()), DataFormatError,
          r"tatoeba\.tel-eng\.tel: 1 lines, but its English side .*tatoeba\.tel-eng\.eng has 2"),
    _case("tatoeba-unknown-language", lambda tmp: lambda: load_tatoeba("xxx", folder=tmp), ValueError,
          r"expected Tatoeba language code to be one of 'afr', .*found 'xxx'"),
    _case("xor-translations-unknown-language", lambda tmp: lambda: load_xor_translations("en", folder=tmp),
          ValueError, r"expected XOR-TyDi language to be one of .*found 'en'"),
    # DPR passage TSV
    _case("tsv-wrong-header", tsv_file("id\ttitle\ttext\n1\tt\tx\n"), DataFormatError,
          r"c\.tsv:1: expected the header id<TAB>text<TAB>title"),
    _case("tsv-truncated-last-row", tsv_file(TSV_HEADER + "1\tfirst\tT\n2\tsec"), DataFormatError,
          r"c\.tsv:3: expected 3 tab-separated fields \(id, text, title\), found 2"),
    _case("tsv-unbalanced-quote", tsv_file(TSV_HEADER + '1\t"first\tT\n2\tsecond\tT\n'), DataFormatError,
          r"c\.tsv:2: TSV parse error in lines 2-3: .*unbalanced quote"),
    _case("tsv-cp1252", tsv_file(TSV_HEADER.encode() + b"1\t" + CP1252_QUOTES + b"\tT\n"), DataFormatError,
          r"c\.tsv:2: invalid UTF-8 at byte offset 16"),
    _case("tsv-empty-text", tsv_file(TSV_HEADER + "1\t \tT\n"), DataFormatError,
          r"c\.tsv:2: empty passage text for id '1'"),
    _case("tsv-duplicate-id", tsv_file(TSV_HEADER + "1\ta\tT\n1\tb\tT\n"), DataFormatError,
          r"c\.tsv:3: duplicate passage id '1' \(first on line 2\)"),
    _case("tsv-empty-file", tsv_file(""), DataFormatError, r"c\.tsv: empty file; expected the header"),
    # BEIR folder
    _case("beir-corpus-malformed", beir_folder(corpus=CORPUS + '{"_id": "d3", "text": }\n'), DataFormatError,
          r"corpus\.jsonl:3: malformed JSON"),
    _case("beir-corpus-duplicate", beir_folder(corpus=CORPUS + _lines({"_id": "d1", "text": "again"})),
          DataFormatError, r"corpus\.jsonl:3: duplicate passage id 'd1' \(first on line 1\)"),
    _case("beir-corpus-empty-text", beir_folder(corpus=_lines({"_id": "d1", "text": ""})), DataFormatError,
          r"corpus\.jsonl:1: empty field 'text'"),
    _case("beir-queries-latin1", beir_folder(queries=b'{"_id": "q1", "text": "' + LATIN1 + b'"}\n'),
          DataFormatError, r"queries\.jsonl:1: invalid UTF-8"),
    _case("beir-qrels-unknown-query", beir_folder(qrels=QRELS + "q9\td1\t1\n"), DataFormatError,
          r"test\.tsv:3: unknown query id 'q9': not in .*queries\.jsonl"),
    _case("beir-qrels-unknown-doc", beir_folder(qrels=QRELS + "q1\td9\t1\n"), DataFormatError,
          r"test\.tsv:3: unknown passage id 'd9': not in .*corpus\.jsonl"),
    _case("beir-qrels-truncated", beir_folder(qrels=QRELS + "q1\td2"), DataFormatError,
          r"test\.tsv:3: expected 3 tab-separated fields"),
    _case("beir-qrels-float-score", beir_folder(qrels=QRELS + "q1\td2\t0.5\n"), DataFormatError,
          r"test\.tsv:3: expected an integer score, found '0\.5'"),
    _case("beir-qrels-duplicate", beir_folder(qrels=QRELS + "q1\td1\t2\n"), DataFormatError,
          r"test\.tsv:3: duplicate \(query-id, corpus-id\) pair"),
    # XOR-Retrieve scorer inputs
    _case("score-data-latin1", xor_data_file(b'{"id": "a", "question": "' + LATIN1 + b'"}\n'), DataFormatError,
          r"d\.jsonl:1: invalid UTF-8"),
    _case("score-data-truncated", xor_data_file(_lines(_xor("a")) + '{"id": "b", "answ'), DataFormatError,
          r"d\.jsonl:2: malformed JSON"),
    _case("score-data-unknown-language", xor_data_file(_lines(_xor("a", lang="AR"))), DataFormatError,
          r"d\.jsonl:1: unknown language code 'AR'"),
    _case("score-data-answers-missing", xor_data_file(_lines(_xor("a"), _without(_xor("b"), "answers"))),
          DataFormatError, r"d\.jsonl:2: expected a field 'answers'"),
    _case("score-data-empty-answer", xor_data_file(_lines(_xor("a", answers=[" "]))), DataFormatError,
          r"d\.jsonl:1: expected non-empty answer strings"),
    _case("score-data-duplicate-id", xor_data_file(_lines(_xor("a"), _xor("a"))), DataFormatError,
          r"d\.jsonl:2: duplicate id 'a' \(first on line 1\)"),
    _case("score-predictions-truncated", xor_pred_file('[{"id": "a", "lang": "ar",\n "ctxs": ["x"]'),
          DataFormatError, r"p\.json:2: malformed JSON"),
    _case("score-predictions-latin1", xor_pred_file(b'[{"id": "a", "lang": "ar", "ctxs": ["' + LATIN1 + b'"]}]'),
          DataFormatError, r"p\.json:1: invalid UTF-8"),
    _case("score-predictions-dpr-dicts", xor_pred_file('[{"id": "a", "lang": "ar", "ctxs": [{"text": "x"}]}]'),
          DataFormatError, r"p\.json: item 0 \(id 'a'\): expected ctxs\[0\] to be a passage text"),
    _case("score-predictions-duplicate-id", xor_pred_file(json.dumps([{"id": "a", "lang": "ar", "ctxs": []}] * 2)),
          DataFormatError, r"p\.json: item 1: duplicate id 'a' \(first at item 0\)"),
    # TREC run files
    _case("trec-wrong-field-count", trec_file("q1 Q0 d1 1 0.5 run\nq1 Q0 d2 2 0.4\n"), DataFormatError,
          r"r\.trec:2: expected 6 fields"),
    _case("trec-bad-score", trec_file("q1 Q0 d1 1 high run\n"), DataFormatError,
          r"r\.trec:1: expected an integer rank and a numeric score, found '1' and 'high'"),
    _case("trec-nan-score", trec_file("q1 Q0 d1 1 0.5 run\nq1 Q0 d2 2 nan run\n"), DataFormatError,
          r"r\.trec:2: expected a finite score, found 'nan'"),
    _case("trec-latin1", trec_file(b"q1 Q0 d\xe91 1 0.5 run\n"), DataFormatError, r"r\.trec:1: invalid UTF-8"),
    # DPR-format training data
    _case("train-jsonl-malformed", training_file("t.jsonl", _lines(DPR_ITEM) + '{"question": \n'), DataFormatError,
          r"t\.jsonl:2: malformed JSON .*\(item 1\)"),
    _case("train-list-truncated", training_file("t.json", "[\n" + json.dumps(DPR_ITEM) + ",\n{\"question\""),
          DataFormatError, r"t\.json:3: malformed JSON"),
    _case("train-latin1", training_file("t.json", b'[{"question": "' + LATIN1 + b'"}]'), DataFormatError,
          r"t\.json:1: invalid UTF-8"),
    _case("train-empty-question", training_file("t.jsonl", _lines({**DPR_ITEM, "question": ""})), DataFormatError,
          r"t\.jsonl:1: item 0: field 'question': expected a non-empty string, found ''"),
    _case("train-empty-positive-text",
          training_file("t.jsonl", _lines({**DPR_ITEM, "positive_ctxs": [{"title": "B", "text": ""}]})),
          DataFormatError, r"t\.jsonl:1: item 0: positive_ctxs\[0\]: 'text': expected a non-empty string, found ''"),
    _case("train-positives-missing", training_file("t.jsonl", _lines(_without(DPR_ITEM, "positive_ctxs"))),
          DataFormatError, r"t\.jsonl:1: item 0: missing field 'positive_ctxs'"),
    # generated-query store
    _case("store-params-damaged", store_params('{"n_shards": 2,\n "format"'), DataFormatError,
          r"params\.json:2: malformed JSON"),
    _case("store-params-field-missing", store_params('{"format_version": 1}'), DataFormatError,
          r"params\.json: missing field 'n_shards'"),
]


@pytest.mark.parametrize(("build", "error", "match"), FILE_CASES)
def test_hostile_file_raises_naming_file_and_line(tmp_path, build, error, match):
    call = build(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an error, not a warning and a half-loaded result
        with pytest.raises(error, match=match):
            call()


def test_score_xor_command_reports_file_and_line(tmp_path, capsys):
    data = _write(tmp_path, "d.jsonl", _lines(_xor("a"), _xor("b", lang="xx")))
    pred = _write(tmp_path, "p.json", json.dumps([{"id": "a", "lang": "ar", "ctxs": ["Portland"]}]))
    assert score_xor_main(["--data_file", str(data), "--pred_file", str(pred)]) == 1
    assert f"{data}:2: unknown language code 'xx'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ config files


RUN_CONFIG = "run: demo\nnotebooks:\n  - notebook: retrieval_eval\n    parameters: {k: 10}\n"
TRAINING_CONFIG = (
    "training:\n  model_name_or_path: embedded:multilingual-e5-small\n"
    "  data: {source: xquad, eval_fraction: 0.5}\n  learning_rate: 2.0e-5\n"
)

CONFIG_CASES = [
    _case("run-top-key", (load_config, RUN_CONFIG.replace("notebooks:", "notebook:")), ConfigError,
          r"c\.yaml: expected a known key, found 'notebook'; did you mean 'notebooks'\?"),
    _case("run-step-key", (load_config, RUN_CONFIG.replace("parameters:", "paramters:")), ConfigError,
          r"c\.yaml: notebooks\[0\]: expected a known key, found 'paramters'; did you mean 'parameters'\?"),
    _case("run-data-key", (load_config, RUN_CONFIG + "data: {mirorr: ../shared/data}\n"), ConfigError,
          r"c\.yaml: data: expected a known key, found 'mirorr'; did you mean 'mirror'\?"),
    _case("run-invalid-yaml", (load_config, RUN_CONFIG + "  - {notebook: a\n"), ConfigError,
          r"c\.yaml:\d+: invalid YAML"),
    _case("training-top-key", (load_training_config, TRAINING_CONFIG.replace("training:", "trainig:")),
          ConfigError, r"c\.yaml: expected a known key, found 'trainig'; did you mean 'training'\?"),
    _case("training-hyperparameter", (load_training_config, TRAINING_CONFIG.replace("learning_rate", "learnig_rate")),
          ConfigError, r"c\.yaml: training: expected a known key, found 'learnig_rate'; did you mean 'learning_rate'\?"),
    _case("training-data-key", (load_training_config, TRAINING_CONFIG.replace("eval_fraction", "eval_fracton")),
          ConfigError, r"c\.yaml: training: data: expected a known key, found 'eval_fracton'; did you mean 'eval_fraction'\?"),
]


@pytest.mark.parametrize(("loader_text", "error", "match"), CONFIG_CASES)
def test_config_with_misspelled_key_raises_with_suggestion(tmp_path, loader_text, error, match):
    loader, text = loader_text
    with pytest.raises(error, match=match):
        loader(_write(tmp_path, "c.yaml", text))


# --------------------------------------------------------------------------- output paths


def _symlink_out(tmp):
    (tmp / "run").mkdir()
    (tmp / "outside").mkdir()
    os.symlink(tmp / "outside", tmp / "run" / "link")
    return "link/table"


OUTPUT_CASES = [  # the output name, given tmp_path; the run dir is tmp_path / "run"
    pytest.param(lambda tmp: "../table", id="parent"),
    pytest.param(lambda tmp: "figures/../../table", id="nested-parent"),
    pytest.param(lambda tmp: str(tmp / "elsewhere" / "table"), id="absolute"),
    pytest.param(_symlink_out, id="symlink-out"),
]
OUTPUT_WRITERS = ["save_table", "write_text", "save_provenance"]


@pytest.mark.parametrize("writer", OUTPUT_WRITERS)
@pytest.mark.parametrize("name_of", OUTPUT_CASES)
def test_output_path_escaping_the_run_dir_is_refused(tmp_path, name_of, writer):
    name = name_of(tmp_path)
    run_dir = tmp_path / "run"
    call = {
        "save_table": lambda: save_table(pd.DataFrame({"a": [1]}), name, output_dir=run_dir),
        "write_text": lambda: write_text("| a |", name, output_dir=run_dir),
        "save_provenance": lambda: save_provenance({"seed": 0}, name, output_dir=run_dir),
    }[writer]
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match=r"output name .* escapes the output folder .*run; use a plain file name"):
        call()
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere


# ----------------------------------------------------------------- embeddings, ids and α


def _emb(n=3, dim=4, *, bad=None, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    if bad is not None:
        x[1, 2] = bad
    return x


class _Encoder:
    """Returns ``vectors`` (a callable of the texts) for encode_queries."""

    def __init__(self, vectors):
        self.vectors = vectors

    def encode_queries(self, texts):
        return self.vectors(texts)


_GENERATED = pd.DataFrame({"doc_id": ["d1", "d2", "d2"], "lang": ["ar", "ar", "zh"], "text": ["a", "b", "c"]})


def _sums(doc_ids=("d1", "d2", "d3")):
    n = len(doc_ids)
    return QuerySums(tuple(doc_ids), ("ar",), np.ones((1, n, 4), np.float32), np.ones((1, n), int))


def _cache_then(tmp, second):
    cache = EmbeddingCache(tmp / "cache")
    cache.encode({"model": "m"}, ["first text"], lambda texts: np.ones((len(texts), 4)))
    return lambda: cache.encode({"model": "m"}, ["first text", "bad text"], second)


ARRAY_CASES = [
    # α
    _case("alpha-above-1", lambda tmp: lambda: augment_passages(_emb(), _emb(), alpha=1.5), ValueError,
          r"expected alpha in \[0, 1\] .*found 1\.5"),
    _case("alpha-negative", lambda tmp: lambda: check_alpha(-0.01), ValueError, r"expected alpha in \[0, 1\]"),
    _case("alpha-nan", lambda tmp: lambda: check_alpha(float("nan")), ValueError, r"expected alpha in \[0, 1\].*found nan"),
    _case("alpha-inf", lambda tmp: lambda: check_alpha(np.inf), ValueError, r"expected alpha in \[0, 1\].*found inf"),
    _case("alpha-string", lambda tmp: lambda: check_alpha("0.1"), TypeError,
          r"expected alpha as a real number in \[0, 1\], found str '0\.1'; fix: e\.g\. alpha=0\.01"),
    _case("alpha-bool", lambda tmp: lambda: check_alpha(True), TypeError, r"expected alpha as a real number .*found bool"),
    _case("alpha-none", lambda tmp: lambda: check_alpha(None), TypeError, r"expected alpha as a real number .*found NoneType"),
    _case("alpha-grid", lambda tmp: lambda: search_alpha_grid(_emb(), _emb(), _emb(), [0.0, 2.0], k=2), ValueError,
          r"expected alpha in \[0, 1\] .*found 2\.0"),
    # NaN / inf / wrong dimension where embeddings enter
    _case("augment-nan-passage", lambda tmp: lambda: augment_passages(_emb(bad=np.nan), _emb(), alpha=0.1),
          ValueError, r"passage_embeddings has NaN or inf values in 1 row\(s\), e\.g\. rows \[1\]"),
    _case("augment-inf-query-sum", lambda tmp: lambda: augment_passages(_emb(), _emb(bad=np.inf), alpha=0.1),
          ValueError, r"query_sum has NaN or inf values in 1 row\(s\), e\.g\. rows \[1\]"),
    _case("augment-wrong-dim", lambda tmp: lambda: augment_passages(_emb(dim=4), _emb(dim=5), alpha=0.1),
          ValueError, r"expected passage embeddings and query sums as 2-d arrays of the same shape .*found \(3, 4\) and \(3, 5\)"),
    _case("accumulate-nan-vectors",
          lambda tmp: lambda: accumulate_query_sums(
              _GENERATED, ["d1", "d2"], _Encoder(lambda t: _emb(len(t), bad=np.nan))),
          ValueError, r"encoder\.encode_queries output has NaN or inf values in 1 row\(s\)"),
    _case("accumulate-wrong-row-count",
          lambda tmp: lambda: accumulate_query_sums(_GENERATED, ["d1", "d2"], _Encoder(lambda t: _emb(len(t) - 1))),
          ValueError, r"encode_queries returned shape \(2, 4\) for 3 queries; expected \(3, 4\)"),
    _case("accumulate-dim-changes-between-chunks",
          lambda tmp: lambda: accumulate_query_sums(
              _GENERATED, ["d1", "d2"], _Encoder(lambda t: _emb(len(t), dim=4 if "a" in t else 5)), chunk_size=1),
          ValueError, r"returned shape \(1, 5\) for 1 queries; expected \(1, 4\)"),
    _case("query-sums-inconsistent-shapes",
          lambda tmp: lambda: QuerySums(("d1", "d2"), ("ar",), np.zeros((1, 3, 4)), np.zeros((1, 3), int)), ValueError,
          r"expected sums of shape \(n_langs, n_passages, dim\) .*= \(1, 2\) .*found sums \(1, 3, 4\)"),
    _case("query-sums-nan",
          lambda tmp: lambda: QuerySums(("d1", "d2"), ("ar",), np.full((1, 2, 4), np.nan), np.ones((1, 2), int)),
          ValueError, r"query sums hold NaN or inf, e\.g\. language 'ar', passage 'd1'"),
    _case("search-nan-query", lambda tmp: lambda: search(_emb(bad=np.nan), _emb(), k=2), ValueError,
          r"query_embeddings has NaN or inf values in rows \[1\]"),
    _case("search-inf-passage", lambda tmp: lambda: search(_emb(), _emb(bad=-np.inf), k=2), ValueError,
          r"passage_embeddings has NaN or inf values in rows \[1\]"),
    _case("search-wrong-dim", lambda tmp: lambda: search(_emb(dim=4), _emb(dim=8), k=2), ValueError,
          r"same dimension, found 4 and 8"),
    _case("search-1d-query", lambda tmp: lambda: search(_emb()[0], _emb(), k=2), ValueError,
          r"expected query_embeddings as a 2-d array \(n, dim\), found shape \(4,\)"),
    _case("cache-nan-vectors",
          lambda tmp: _cache_then(tmp, lambda texts: np.full((len(texts), 4), np.nan)), ValueError,
          r"encode_fn returned NaN or inf for 1 of 1 texts, e\.g\. 'bad text'"),
    _case("cache-wrong-dim",
          lambda tmp: _cache_then(tmp, lambda texts: np.ones((len(texts), 8))), ValueError,
          r"encode_fn returned shape \(1, 8\) for 1 texts; expected \(1, 4\)"),
    _case("alignment-inf", lambda tmp: lambda: linear_cka(_emb(10), _emb(10, bad=np.inf), n_bootstrap=0), ValueError,
          r"linear_cka: expected finite values in Y, found NaN or inf in 1 row\(s\): \[1\]"),
    _case("alignment-wrong-dim", lambda tmp: lambda: infonce_bound(_emb(10), _emb(10, dim=6), n_bootstrap=0),
          ValueError, r"infonce_bound: expected X and Y in one embedding space \(same dim\), found dims 4 and 6"),
    _case("alignment-unpaired-rows", lambda tmp: lambda: linear_cka(_emb(10), _emb(9), n_bootstrap=0), ValueError,
          r"linear_cka: expected X and Y with the same number of rows .*found 10 and 9"),
    # passage vs query-sum id order and passage ids vs search results
    _case("sums-in-another-order", lambda tmp: lambda: _sums().fused(doc_ids=["d1", "d3", "d2"]), ValueError,
          r"same passage order, found row 1: passage 'd3' vs query sums 'd2'; accumulate"),
    _case("sums-for-other-passages", lambda tmp: lambda: _sums().fused(doc_ids=["d1", "d2"]), ValueError,
          r"passage embeddings' 2 doc_ids to be the query sums' 3 doc_ids in the same order"),
    _case("generated-query-names-unknown-passage",
          lambda tmp: lambda: accumulate_query_sums(_GENERATED, ["d1", "d3"], _Encoder(lambda t: _emb(len(t)))),
          ValueError, r"1 generated queries name passages not in the corpus, e\.g\. \['d2'\]"),
    _case("run-from-too-few-doc-ids",
          lambda tmp: lambda: to_run(*search(_emb(2), _emb(5), k=5), ["q1", "q2"], ["d1", "d2"]), ValueError,
          r"indices name passage row 4, but only 2 doc ids were given"),
]


@pytest.mark.parametrize(("build", "error", "match"), ARRAY_CASES)
def test_hostile_array_or_id_input_raises(tmp_path, build, error, match):
    call = build(tmp_path)
    with pytest.raises(error, match=match):
        call()


# -------------------------------------------------------------- metric inputs (frames)


_RUN = pd.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["d1", "d2"], "score": [2.0, 1.0]})
_QRELS = pd.DataFrame({"query_id": ["q1"], "doc_id": ["d1"], "relevance": [1]})
_XOR_DATA = pd.DataFrame({"query_id": ["a", "b"], "lang": ["ar", "bn"], "answers": [["Portland"], ["Oregon"]]})
_FULL = ["Portland Oregon " + "filler " * 5000]  # a retrieval past the 5k-token budget

METRIC_CASES = [
    _case("qrels-int-ids", lambda: per_query(_RUN, _QRELS.assign(query_id=[1]), ["MRR@10"]), TypeError,
          r"qrels frame: expected column 'query_id' to hold str ids only"),
    _case("run-nan-score", lambda: per_query(_RUN.assign(score=[1.0, np.nan]), _QRELS, ["MRR@10"]), ValueError,
          r"run frame: expected finite scores, found 1 NaN"),
    _case("run-duplicate-pair", lambda: per_query(pd.concat([_RUN, _RUN]), _QRELS, ["MRR@10"]), ValueError,
          r"run frame: expected each \(query_id, doc_id\) pair at most once"),
    _case("qrels-missing-column", lambda: per_query(_RUN, _QRELS.drop(columns="relevance"), ["MRR@10"]), ValueError,
          r"qrels frame: expected a column 'relevance'"),
    _case("unknown-measure", lambda: per_query(_RUN, _QRELS, ["ndcg@10"]), ValueError,
          r"unknown measure family 'ndcg' in 'ndcg@10'; valid families: R, MRR"),
    _case("group-for-unknown-query",
          lambda: aggregate(pd.DataFrame({"query_id": ["q1", "q2"], "R@1": [1.0, 0.0]}), by="lang",
                            queries=pd.DataFrame({"query_id": ["q1"], "lang": ["ar"]})),
          ValueError, r"queries frame: expected a 'lang' value for every query, found 1 .*'q2'"),
    _case("xor-empty-answer-frame",
          lambda: xor_recall_per_query(_XOR_DATA.assign(answers=[["Portland"], [""]]), {"a": ["x"], "b": ["y"]}),
          ValueError, r"data frame: expected the answers of 'b' as a list of non-empty strings"),
    _case("xor-answers-a-string",
          lambda: xor_recall_per_query(_XOR_DATA.assign(answers=["Portland", "Oregon"]), {"a": _FULL, "b": _FULL}),
          ValueError,
          r"expected the answers of 'a' as a list of non-empty strings, found 'Portland'"),
    _case("xor-prediction-language-differs",
          lambda: xor_recall_per_query(_XOR_DATA, pd.DataFrame({"query_id": ["a"], "lang": ["fi"], "ctxs": [["x"]]})),
          ValueError, r"'a' has lang 'fi' in the predictions and 'ar' in the data"),
    _case("xor-predictions-dicts", lambda: xor_recall_per_query(_XOR_DATA, {"a": [{"text": "x"}]}), TypeError,
          r"predictions for 'a': expected passage texts \(str\), found dict"),
]


@pytest.mark.parametrize(("call", "error", "match"), METRIC_CASES)
def test_hostile_metric_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


# Loud, not fatal: the documented semantics keep these (the official scorer skips them).
WARNING_CASES = [
    _case("xor-predictions-name-unknown-ids",
          lambda: xor_recall_per_query(_XOR_DATA, {"a": _FULL, "b": _FULL, "zz": _FULL}), UserWarning,
          r"ignoring predictions for 1 question ids not in the data \(e\.g\. 'zz'\)"),
    _case("xor-questions-without-prediction", lambda: xor_recall_per_query(_XOR_DATA, {"a": _FULL}),
          UserWarning, r"1 of 2 questions have no prediction and are NOT counted .*'b'"),
    _case("run-names-queries-without-qrels",
          lambda: per_query(pd.concat([_RUN, _RUN.assign(query_id="q9")]), _QRELS, ["MRR@10"]), UserWarning,
          r"run: dropped 1 queries that have no qrels \(e\.g\. \['q9'\]\)"),
]


@pytest.mark.parametrize(("call", "warning", "match"), WARNING_CASES)
def test_unknown_ids_are_warned_naming_them(call, warning, match):
    with pytest.warns(warning, match=match) as record:
        call()
    assert len(record) == 1, [str(w.message) for w in record]


def test_cache_chunk_holding_nan_is_discarded_and_reencoded(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.encode({"model": "m"}, ["a text"], lambda texts: np.ones((len(texts), 4)))
    (vectors_file,) = tmp_path.rglob("*.vectors.npy")
    marker_file = vectors_file.with_name(vectors_file.name.replace(".vectors.npy", ".json"))
    np.save(vectors_file, np.full((1, 4), np.nan, np.float32))
    marker = json.loads(marker_file.read_text())
    marker["vectors_sha256"] = hashlib.sha256(vectors_file.read_bytes()).hexdigest()
    marker_file.write_text(json.dumps(marker))  # checksums agree: only the values are bad
    with pytest.warns(UserWarning, match=r"cache chunk .* truncated or corrupted \(or holds NaN/inf\); it is removed"):
        got = cache.encode({"model": "m"}, ["a text"], lambda texts: np.full((len(texts), 4), 2.0))
    np.testing.assert_array_equal(got, np.full((1, 4), 2.0))


N_CASES = (
    len(FILE_CASES)  # 78: data files, each naming path:line (or path) and the field
    + len(CONFIG_CASES)  # 7: misspelled keys (with the closest key suggested), bad YAML
    + len(OUTPUT_CASES) * len(OUTPUT_WRITERS)  # 4 x 3: output names escaping the run dir
    + len(ARRAY_CASES)  # 29: alpha, NaN/inf/dimension of embeddings, id order
    + len(METRIC_CASES)  # 10: qrels, runs and XOR-Retrieve data/predictions as frames
    + len(WARNING_CASES)  # 3: unknown ids, loud by the documented semantics
)  # = 139
"""Number of parametrized hostile-input cases in this module (output-path cases run per writer)."""


# ------------------------------------------------------------------ property-based: loaders

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_ids = st.text(alphabet="abcdefghij0123456789-_.", min_size=1, max_size=10)
_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=25).filter(
    str.strip
)


@_SETTINGS
@given(
    passages=st.dictionaries(_ids, st.tuples(st.text(max_size=10), _texts), min_size=1, max_size=6),
    queries=st.dictionaries(_ids, _texts, min_size=1, max_size=4),
    data=st.data(),
)
def test_load_beir_roundtrips_random_valid_records(passages, queries, data):
    qrels = {
        (q, d): data.draw(st.integers(0, 3))
        for q in queries
        for d in data.draw(st.lists(st.sampled_from(sorted(passages)), min_size=1, max_size=3, unique=True))
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, "corpus.jsonl", _lines(*({"_id": d, "title": t, "text": x} for d, (t, x) in passages.items())))
        _write(folder, "queries.jsonl", _lines(*({"_id": q, "text": x} for q, x in queries.items())))
        _write(folder, "qrels/test.tsv", "query-id\tcorpus-id\tscore\n" + "".join(
            f"{q}\t{d}\t{r}\n" for (q, d), r in qrels.items()))
        got = load_beir(folder)
    assert dict(zip(got.passages["doc_id"], zip(got.passages["title"], got.passages["text"]))) == passages
    assert dict(zip(got.queries["query_id"], got.queries["text"])) == queries
    assert dict(zip(zip(got.qrels["query_id"], got.qrels["doc_id"]), got.qrels["relevance"])) == qrels


# csv.writer leaves a bare "\r" unquoted, which no TSV reader can read back (the loader says so)
_tsv_chars = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r")


@_SETTINGS
@given(
    rows=st.dictionaries(
        _ids,
        st.tuples(st.text(_tsv_chars, min_size=1, max_size=25).filter(str.strip), st.text(_tsv_chars, max_size=12)),
        min_size=1,
        max_size=8,
    )
)
def test_load_dpr_corpus_roundtrips_quotes_tabs_and_newlines(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(["id", "text", "title"])
    for doc_id, (text, title) in rows.items():
        writer.writerow([doc_id, text, title])
    with tempfile.TemporaryDirectory() as tmp:
        got = load_dpr_corpus(_write(Path(tmp), "c.tsv", buffer.getvalue()))
    assert list(got["doc_id"]) == list(rows)
    assert dict(zip(got["doc_id"], zip(got["text"], got["title"]))) == rows


def _beir_loader(path: Path):
    _write(path.parent, "queries.jsonl", QUERIES)
    _write(path.parent, "qrels/test.tsv", QRELS)
    return load_beir(path.parent)


# loader name -> (file name, a valid file, the call); the file is damaged byte-wise below
_DAMAGEABLE = {
    "xor_questions": ("q.jsonl", _lines(_xor("a"), _xor("b", lang="te")), load_xor_questions),
    "xquad": ("xquad.en.json", json.dumps(_squad(), indent=1), lambda p: load_xquad("en", paths={"en": p})),
    "mkqa": ("m.jsonl", _lines(_mkqa(1), _mkqa(2)), lambda p: load_mkqa(p, langs=["en", "ar"])),
    "beir_corpus": ("corpus.jsonl", CORPUS, _beir_loader),
    "dpr_tsv": ("c.tsv", TSV_HEADER + '1\t"a ""quoted"" text"\tT\n2\tplain text\t\n', load_dpr_corpus),
    "xor_scorer_data": ("d.jsonl", _lines(_xor("a"), _xor("b")), read_xor_data),
    "xor_scorer_predictions": ("p.json", json.dumps([{"id": "a", "lang": "ar", "ctxs": ["x", "y"]}]),
                               read_xor_predictions),
    "trec_run": ("r.trec", "q1 Q0 d1 1 2.5 run\nq1 Q0 d2 2 1.5 run\n", read_trec_run),
    "dpr_training": ("t.jsonl", _lines(DPR_ITEM, DPR_ITEM), read_dpr_training_file),
}

_damage = st.lists(
    st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
        st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=4)),
        st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 8)),
    ),
    min_size=1,
    max_size=3,
)


def _apply(raw: bytes, edits) -> bytes:
    for kind, where, *arg in edits:
        i = int(where * len(raw))
        if kind == "truncate":
            raw = raw[:i]
        elif kind == "flip":
            raw = raw[:i] + bytes([arg[0]]) + raw[i + 1 :]
        elif kind == "insert":
            raw = raw[:i] + arg[0] + raw[i:]
        else:
            raw = raw[:i] + raw[i + arg[0] :]
    return raw


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.parametrize("loader", sorted(_DAMAGEABLE))
@given(edits=_damage)
def test_damaged_file_loads_or_raises_data_format_error_naming_it(loader, edits):
    name, valid, call = _DAMAGEABLE[loader]
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), name, _apply(valid.encode("utf-8"), edits))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a dropped training item; only errors matter here
            try:
                first = call(path)
            except DataFormatError as exc:
                # the damaged file, or (BEIR) the qrels file naming an id the damage removed
                assert exc.path == str(path) or exc.path == str(path.parent / "qrels" / "test.tsv"), str(exc)
                assert str(exc).startswith(exc.path), str(exc)
                return
            again = call(path)  # what loads, loads the same way every time
    if isinstance(first, pd.DataFrame):
        pd.testing.assert_frame_equal(first, again)
    else:
        for a, b in zip(first, again):
            pd.testing.assert_frame_equal(a, b)


@_SETTINGS
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_escape_as_another_exception(raw):
    for name, _, call in _DAMAGEABLE.values():
        with tempfile.TemporaryDirectory() as tmp:
            path = _write(Path(tmp), name, raw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    call(path)
                except DataFormatError as exc:
                    assert str(exc).startswith(str(path)) or "qrels" in exc.path, str(exc)


# ---------------------------------------------------------------- property-based: R@kt scorer

_WORDS = ["Portland", "Oregon", "river", "city", "the", "of", "U.S.", "(", ")", "1914", "can't", "end."]


@st.composite
def _scoring_examples(draw):
    """(data frame, predictions) with passages long enough to cross the 2k budget sometimes."""
    n = draw(st.integers(1, 5))
    rows, preds = [], {}
    for i in range(n):
        answers = draw(st.lists(st.sampled_from(["Portland", "Oregon", "1914", "yes", "can 't", "end ."]),
                                min_size=1, max_size=2))
        rows.append((f"q{i}", draw(st.sampled_from(["ar", "bn"])), answers))
        passages = []
        for _ in range(draw(st.integers(0, 3))):
            seed, words = draw(st.integers(0, 10**6)), draw(st.sampled_from([5, 300, 900, 1400]))
            rng = np.random.default_rng(seed)
            passages.append(" ".join(
                _WORDS[j] if j < len(_WORDS) else f"w{j}" for j in rng.integers(0, 40 * len(_WORDS), words)))
        preds[f"q{i}"] = passages
    return pd.DataFrame(rows, columns=["query_id", "lang", "answers"]), preds


def _hits(data, preds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short retrievals are expected here
        return xor_recall_per_query(data, preds, ks=(2, 5))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(example=_scoring_examples(), seed=st.integers(0, 1000))
def test_xor_recall_is_monotone_in_budget_and_blind_to_question_order(example, seed):
    data, preds = example
    per_q = _hits(data, preds)
    scored = per_q[per_q["scored"]]
    assert (scored["hit@5kt"] >= scored["hit@2kt"]).all()
    assert per_q["n_tokens"].dropna().le(5000).all()
    shuffled = data.sample(frac=1, random_state=seed)
    reordered = dict(sorted(preds.items(), reverse=True))
    pd.testing.assert_frame_equal(_hits(shuffled, reordered), per_q)
    if scored.empty:
        with pytest.raises(ValueError, match="no scored question"):
            xor_recall(per_q)
    else:
        table = xor_recall(per_q)
        assert table["R@2kt"].between(0, 100).all() and (table["R@5kt"] >= table["R@2kt"]).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(example=_scoring_examples(), extra=st.sampled_from(["Portland Oregon 1914", "can't end.", "x"]))
def test_xor_recall_ignores_passages_past_the_budget(example, extra):
    data, preds = example
    long_enough = {q: ctxs + [" ".join(["filler"] * 5000)] for q, ctxs in preds.items()}
    padded = {q: ctxs + [extra] for q, ctxs in long_enough.items()}
    pd.testing.assert_frame_equal(_hits(data, padded), _hits(data, long_enough))
