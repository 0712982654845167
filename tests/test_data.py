"""Tests of the xqg_lab.data loaders: real mirror counts and every malformed-input case."""

from __future__ import annotations

import gzip
import json
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xqg_lab.data import (
    MKQA_LANGS,
    XOR_LANGS,
    XQUAD_LANGS,
    iter_dpr_corpus,
    load_beir,
    load_dpr_corpus,
    load_mkqa,
    load_tatoeba,
    load_xor_questions,
    load_xor_translations,
    load_xquad,
    mirror_dir,
    tatoeba_langs,
)
from xqg_lab.core.errors import DataFormatError


@pytest.fixture
def mirror() -> Path:
    """The real offline mirror (conftest points XQG_LAB_MIRROR at ../shared/data)."""
    try:
        folder = mirror_dir()
    except NotADirectoryError:
        folder = None
    if folder is None:
        pytest.skip("offline data mirror not available")
    return folder


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def xor_record(i: int, lang: str = "ar", **overrides) -> dict:
    record = {
        "id": f"q{i}",
        "question": f"question {i}?",
        "answers": [f"answer {i}"],
        "lang": lang,
        "split": "dev",
    }
    record.update(overrides)
    return record


# ----------------------------------------------------------------------------- XQuAD


def test_load_xquad_real_counts(mirror):
    data = load_xquad()
    assert len(data.passages) == 240
    assert data.passages["doc_id"].is_unique and data.passages["doc_id"].is_monotonic_increasing
    per_lang = data.queries.groupby("lang").size()
    assert sorted(per_lang.index) == sorted(XQUAD_LANGS)
    assert (per_lang == 1190).all()
    assert data.queries["query_id"].is_unique and data.queries["query_id"].is_monotonic_increasing
    # queries align across languages through the shared SQuAD id
    ids = data.queries.groupby("lang")["question_id"].apply(frozenset)
    assert ids.nunique() == 1 and len(ids.iloc[0]) == 1190
    assert len(data.qrels) == len(data.queries) and (data.qrels["relevance"] == 1).all()
    assert set(data.qrels["doc_id"]) <= set(data.passages["doc_id"])
    assert data.qrels["relevance"].dtype == "int64"


def test_load_xquad_gold_passage_contains_english_answer(mirror):
    data = load_xquad(["en", "zh"])
    assert set(data.queries["lang"]) == {"en", "zh"}
    merged = data.qrels.merge(data.queries, on="query_id").merge(data.passages, on="doc_id")
    assert merged.apply(lambda r: any(a in r["text_y"] for a in r["answers"]), axis=1).all()
    zh = data.queries.set_index("query_id").loc["56beb4343aeaaa14008c925b-zh"]
    assert (
        zh["text"] == "黑豹队的防守丢了多少分？"  # noqa: RUF001
        and zh["lang_answers"] == ["308"]
        and zh["answers"] == ["308"]
    )
    assert data.passages.iloc[0]["title"] == "Super Bowl 50"


def test_load_xquad_unknown_language_lists_valid():
    with pytest.raises(ValueError, match=r"expected XQuAD language to be one of 'ar', 'de'.*found 'xx'"):
        load_xquad(["en", "xx"])


def _squad(questions: dict[str, str], context: str = "A context.") -> dict:
    return {
        "version": "1.1",
        "data": [
            {
                "title": "T_1",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": qid,
                                "question": q,
                                "answers": [{"answer_start": 0, "text": "A"}],
                            }
                            for qid, q in questions.items()
                        ],
                    }
                ],
            }
        ],
    }


def test_load_xquad_synthetic_files(tmp_path):
    en = tmp_path / "en.json"
    de = tmp_path / "de.json"
    en.write_text(json.dumps(_squad({"a1": "What?", "a2": "Who?"}), indent=1), encoding="utf-8")
    de.write_text(json.dumps(_squad({"a1": "Was?", "a2": "Wer?"}), indent=1), encoding="utf-8")
    data = load_xquad(["de", "en"], paths={"en": en, "de": de})
    assert list(data.passages["doc_id"]) == ["00-00"] and data.passages["title"][0] == "T 1"
    assert list(data.queries["query_id"]) == ["a1-de", "a1-en", "a2-de", "a2-en"]
    assert list(data.queries["text"]) == ["Was?", "What?", "Wer?", "Who?"]


def test_load_xquad_translation_with_other_ids_names_file_and_id(tmp_path):
    en = tmp_path / "en.json"
    de = tmp_path / "de.json"
    en.write_text(json.dumps(_squad({"a1": "What?", "a2": "Who?"}), indent=1), encoding="utf-8")
    de.write_text(json.dumps(_squad({"a1": "Was?", "zz9": "Wer?"}), indent=1), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"de\.json:\d+: .*'zz9'") as info:
        load_xquad(["de"], paths={"en": en, "de": de})
    lines = de.read_text(encoding="utf-8").splitlines()
    assert info.value.line == next(i for i, t in enumerate(lines, 1) if '"zz9"' in t)


def test_load_xquad_malformed_json_names_line(tmp_path):
    en = tmp_path / "en.json"
    en.write_text('{"data": [\n  {"title": "x",\n  "paragraphs": [}\n]}', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"en\.json:3: malformed JSON"):
        load_xquad(["en"], paths={"en": en})


def test_load_xquad_empty_question_names_id(tmp_path):
    en = tmp_path / "en.json"
    en.write_text(json.dumps(_squad({"a1": "What?", "a2": "  "}), indent=1), encoding="utf-8")
    with pytest.raises(DataFormatError, match="'a2': empty question"):
        load_xquad(["en"], paths={"en": en})


# ----------------------------------------------------------------------------- XOR-TyDi questions


def test_load_xor_dev_real_counts(mirror):
    dev = load_xor_questions("dev")
    assert len(dev) == 2110
    assert dev["lang"].value_counts().to_dict() == {
        "ar": 350,
        "bn": 312,
        "fi": 360,
        "ja": 296,
        "ko": 299,
        "ru": 255,
        "te": 238,
    }
    assert dev["query_id"].is_unique and dev["query_id"].is_monotonic_increasing
    assert list(dev.columns) == ["query_id", "lang", "text", "answers", "split"]
    assert set(dev["split"]) == {"dev"}
    yes_no_only = dev["answers"].map(lambda a: all(x in ("yes", "no") for x in a))
    assert yes_no_only.sum() == 182


def test_load_xor_train_strips_leading_space_of_ar(mirror):
    raw = (mirror / "xor-tydi" / "xor_train_retrieve_eng_span.jsonl").read_text(encoding="utf-8")
    assert '"lang": " ar"' in raw  # the upstream quirk is really there
    train = load_xor_questions("train")
    assert len(train) == 15250
    assert " ar" not in set(train["lang"]) and set(train["lang"]) == set(XOR_LANGS)
    assert (train["lang"] == "ar").sum() == 2574


def test_load_xor_questions_lang_filter(mirror):
    dev = load_xor_questions("dev", langs=["te", "fi"])
    assert dev["lang"].value_counts().to_dict() == {"fi": 360, "te": 238}
    with pytest.raises(ValueError, match="expected XOR-TyDi language to be one of .*found 'en'"):
        load_xor_questions("dev", langs="en")


def test_load_xor_questions_synthetic_roundtrip(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [xor_record(2, " ar"), xor_record(1, "te", id=17)])
    frame = load_xor_questions(path)
    assert list(frame["query_id"]) == ["17", "q2"]
    assert list(frame["lang"]) == ["te", "ar"]
    assert frame["answers"].tolist() == [["answer 1"], ["answer 2"]]


def test_load_xor_questions_does_not_mutate_or_reuse_lists(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [xor_record(1)])
    first = load_xor_questions(path)
    first["answers"][0].append("x")
    assert load_xor_questions(path)["answers"][0] == ["answer 1"]


def test_xor_questions_missing_file_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="split name"):
        load_xor_questions(tmp_path / "absent.jsonl")


@pytest.mark.parametrize(
    ("lines", "line", "pattern"),
    [
        ([json.dumps(xor_record(1)), '{"id": "q2", "question": }'], 2, "malformed JSON"),
        (
            [json.dumps(xor_record(1)), json.dumps(xor_record(2))[:25]],
            2,
            "malformed JSON.*truncated",
        ),
        (
            [json.dumps({k: v for k, v in xor_record(1).items() if k != "answers"})],
            1,
            "missing field 'answers'",
        ),
        (
            [json.dumps(xor_record(1)), json.dumps(xor_record(2, "xx"))],
            2,
            "unknown language code 'xx'.*ar, bn",
        ),
        ([json.dumps(xor_record(1, question=" \t"))], 1, "empty field 'question'"),
        ([json.dumps(xor_record(1, answers="Paris"))], 1, "field 'answers': expected list, found str"),
        ([json.dumps(xor_record(1, answers=[3]))], 1, "list of strings"),
        (["[1, 2]"], 1, "expected a JSON object"),
        (
            [json.dumps(xor_record(1)), "", json.dumps(xor_record(1))],
            3,
            r"duplicate question id 'q1' \(first on line 1\)",
        ),
    ],
)
def test_load_xor_questions_errors_name_line(tmp_path, lines, line, pattern):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=f"bad.jsonl:{line}: .*{pattern}") as info:
        load_xor_questions(path)
    assert info.value.line == line and info.value.path == str(path)


def test_load_xor_questions_bad_encoding_names_line_and_offset(tmp_path):
    good = (json.dumps(xor_record(1)) + "\n").encode("utf-8")
    bad = json.dumps(xor_record(2, question="café?"), ensure_ascii=False).encode("latin-1") + b"\n"
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(good + good.replace(b"q1", b"q3") + bad)
    with pytest.raises(
        DataFormatError, match=r"latin1\.jsonl:3: invalid UTF-8 at byte offset"
    ) as info:
        load_xor_questions(path)
    offset = len(good) * 2 + bad.index("é".encode("latin-1"))
    assert f"byte offset {offset} " in str(info.value)


def test_load_xor_questions_reads_gzip(tmp_path):
    path = tmp_path / "q.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(xor_record(1)) + "\n")
    assert list(load_xor_questions(path)["query_id"]) == ["q1"]


ids = st.text(alphabet="abcdefghij0123456789-_", min_size=1, max_size=12)
texts = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30).filter(str.strip)
records = st.lists(
    st.fixed_dictionaries(
        {
            "id": ids,
            "question": texts,
            "answers": st.lists(texts, max_size=3),
            "lang": st.sampled_from((*XOR_LANGS, " ar")),
            "split": st.sampled_from(["dev", "train"]),
        }
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda r: r["id"],
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=records)
def test_xor_questions_roundtrip_property(records):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_jsonl(Path(tmp) / "q.jsonl", records)
        frame = load_xor_questions(path)
    assert frame["query_id"].tolist() == sorted(r["id"] for r in records)
    by_id = frame.set_index("query_id")
    for r in records:
        row = by_id.loc[r["id"]]
        assert row["text"] == r["question"]
        assert row["answers"] == r["answers"]
        assert row["lang"] == r["lang"].strip()
        assert row["split"] == r["split"]


CORRUPTIONS = ("truncate", "drop_field", "bad_lang", "bad_utf8", "duplicate", "empty_text")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=records, data=st.data())
def test_xor_questions_corruption_raises_on_the_corrupted_line(records, data):
    index = data.draw(st.integers(0, len(records) - 1), label="line index")
    kind = data.draw(st.sampled_from(CORRUPTIONS if index else (*CORRUPTIONS[:-2], "empty_text")))
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in records]
    record = dict(records[index])
    if kind == "truncate":
        cut = data.draw(st.integers(1, len(lines[index]) - 1))
        lines[index] = lines[index][:cut]
    elif kind == "drop_field":
        del record[data.draw(st.sampled_from(sorted(record)))]
        lines[index] = json.dumps(record).encode("utf-8")
    elif kind == "bad_lang":
        record["lang"] = data.draw(st.sampled_from(["en", "AR", "zz", ""]))
        lines[index] = json.dumps(record).encode("utf-8")
    elif kind == "bad_utf8":
        lines[index] = lines[index][:-1] + b"\xff" + lines[index][-1:]
    elif kind == "duplicate":
        record["id"] = records[0]["id"]
        lines[index] = json.dumps(record).encode("utf-8")
    else:
        record["question"] = data.draw(st.sampled_from(["", " ", "\t\n"]))
        lines[index] = json.dumps(record).encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "q.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        with pytest.raises(DataFormatError) as info:
            load_xor_questions(path)
    assert info.value.line == index + 1, (kind, str(info.value))
    assert str(info.value).startswith(f"{path}:{index + 1}: ")


# ------------------------------------------------------------------------ XOR-TyDi translations


def test_load_xor_translations_real(mirror):
    with pytest.warns(UserWarning, match=r"dropped 1 pair.*ar-en/en\.txt:428"):
        ar = load_xor_translations("ar")
    assert len(ar) == 4648 and list(ar.columns) == ["pair_id", "lang", "src_text", "tgt_text"]
    assert "ar-000428" not in set(ar["pair_id"]) and ar["pair_id"].is_monotonic_increasing
    assert ar.iloc[1]["tgt_text"] == "كم دولة يضم الشرق الأوسط؟"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        te = load_xor_translations("te")
    assert len(te) == 4761 and set(te["lang"]) == {"te"}


def test_load_xor_translations_raise_on_empty_names_line(mirror):
    with pytest.raises(DataFormatError, match=r"ar-en/en\.txt:428: empty text.*on_empty='drop'"):
        load_xor_translations("ar", on_empty="raise")
    with pytest.raises(
        ValueError, match="expected on_empty to be one of 'raise', 'drop', found 'skip'"
    ):
        load_xor_translations("ar", on_empty="skip")


def test_load_xor_translations_line_count_mismatch_names_both_files(tmp_path):
    folder = tmp_path / "fi-en"
    folder.mkdir()
    (folder / "fi.txt").write_text("Mikä?\nKuka?\nMissä?\n", encoding="utf-8")
    (folder / "en.txt").write_text("What?\nWho?\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError, match=r"fi\.txt: 3 lines, but its English side .*en\.txt has 2"
    ):
        load_xor_translations("fi", folder=tmp_path)


def test_load_xor_translations_unknown_language():
    with pytest.raises(ValueError, match="expected XOR-TyDi language to be one of .*found 'sw'"):
        load_xor_translations("sw")


# ----------------------------------------------------------------------------- DPR corpus TSV

DPR_TSV = (
    "id\ttext\ttitle\n"
    '1\t"Aaron ( or ; ""Ahärôn"") is a prophet"\tAaron\n'
    "2\tplain text, with a comma\tTitle 2\n"
    '3\t"a field with a\ttab and a\nline break"\tT3\n'
    "4\tno title\t\n"
    "5\tlast passage\tT5\n"
)


def test_iter_dpr_corpus_batches_and_quoting(tmp_path):
    path = tmp_path / "psgs.tsv"
    path.write_text(DPR_TSV, encoding="utf-8")
    batches = list(iter_dpr_corpus(path, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    frame = pd.concat(batches, ignore_index=True)
    assert list(frame.columns) == ["doc_id", "title", "text"]
    assert frame["doc_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert frame["text"][0] == 'Aaron ( or ; "Ahärôn") is a prophet'
    assert frame["text"][2] == "a field with a\ttab and a\nline break"
    assert frame["title"][3] == ""
    pd.testing.assert_frame_equal(load_dpr_corpus(path), frame)


def test_iter_dpr_corpus_reads_gzip(tmp_path):
    path = tmp_path / "psgs.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(DPR_TSV)
    assert len(load_dpr_corpus(path)) == 5


def test_iter_dpr_corpus_is_lazy(tmp_path):
    path = tmp_path / "psgs.tsv"
    path.write_text(DPR_TSV + "6\tonly two fields\n", encoding="utf-8")
    stream = iter_dpr_corpus(path, batch_size=2)
    assert len(next(stream)) == 2  # the bad row at the end is not read yet
    with pytest.raises(DataFormatError, match=r"psgs\.tsv:8: expected 3 tab-separated fields"):
        list(stream)


@pytest.mark.parametrize(
    ("content", "line", "pattern"),
    [
        ("doc\ttext\ttitle\n1\tx\tT\n", 1, "expected the header id<TAB>text<TAB>title"),
        ("", None, "empty file"),
        ("id\ttext\ttitle\n1\tx\tT\n2\t\tT\n", 3, "empty passage text for id '2'"),
        ("id\ttext\ttitle\n1\tx\tT\n\tx\tT\n", 3, "empty passage id"),
        ("id\ttext\ttitle\n1\tx\tT\n2\tx\tT\textra\n", 3, "found 4"),
        ("id\ttext\ttitle\n1\tx\tT\n1\ty\tU\n", 3, r"duplicate passage id '1' \(first on line 2\)"),
    ],
)
def test_load_dpr_corpus_errors_name_line(tmp_path, content, line, pattern):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    where = f"bad.tsv:{line}" if line else "bad.tsv"
    with pytest.raises(DataFormatError, match=f"{where}: .*{pattern}"):
        load_dpr_corpus(path)


def test_iter_dpr_corpus_bad_encoding_names_line(tmp_path):
    path = tmp_path / "bad.tsv"
    content = b"id\ttext\ttitle\n1\tok\tT\n2\tcaf\xe9\tT\n"
    path.write_bytes(content)
    offset = content.index(b"\xe9")  # 26
    with pytest.raises(
        DataFormatError, match=rf"bad\.tsv:3: invalid UTF-8 at byte offset {offset} "
    ):
        list(iter_dpr_corpus(path))


def test_iter_dpr_corpus_rejects_bad_batch_size(tmp_path):
    with pytest.raises(ValueError, match="expected batch_size to be an int >= 1, found"):
        next(iter_dpr_corpus(tmp_path / "x.tsv", batch_size=0))


# ----------------------------------------------------------------------------- MKQA


def test_load_mkqa_sample_real(mirror):
    frame = load_mkqa("sample")
    assert len(frame) == 6 * 26 and frame["question_id"].nunique() == 6
    assert (frame.groupby("lang").size() == 6).all() and set(frame["lang"]) == set(MKQA_LANGS)
    assert frame["query_id"].is_unique and frame["query_id"].is_monotonic_increasing
    en = frame[frame["lang"] == "en"].set_index("question_id")
    row = en.loc["36228854473990432"]
    assert row["text"] == "when did help me help you come out"
    assert row["answers"][:3] == ["2017", "2017-05-18", "18/05/2017"]
    assert row["answer_types"] == ["date", "date"]
    assert en.loc["2961317153244610375", "answers"] == []
    assert en.loc["2961317153244610375", "answer_types"] == ["unanswerable"]


def test_load_mkqa_lang_filter_and_unknown(mirror):
    frame = load_mkqa("sample", langs=["zh_cn", "ar"])
    assert sorted(frame["lang"].unique()) == ["ar", "zh_cn"] and len(frame) == 12
    with pytest.raises(ValueError, match="expected MKQA language to be one of .*found 'zh'"):
        load_mkqa("sample", langs="zh")


def _mkqa_example(example_id: int) -> dict:
    return {
        "example_id": example_id,
        "query": "who?",
        "queries": {lang: f"who {lang}?" for lang in MKQA_LANGS},
        "answers": {
            lang: [{"type": "entity", "text": "X", "aliases": ["X", "Ex"]}] for lang in MKQA_LANGS
        },
    }


def test_load_mkqa_synthetic_plain_and_errors(tmp_path):
    good = [_mkqa_example(1), _mkqa_example(-2)]
    frame = load_mkqa(write_jsonl(tmp_path / "m.jsonl", good), langs="de")
    assert frame["query_id"].tolist() == ["-2-de", "1-de"]
    assert frame["answers"].tolist() == [["X", "Ex"], ["X", "Ex"]]

    missing = _mkqa_example(3)
    del missing["queries"]["km"]
    with pytest.raises(
        DataFormatError, match=r"m2\.jsonl:2: missing language 'km' in field 'queries'"
    ):
        load_mkqa(write_jsonl(tmp_path / "m2.jsonl", [good[0], missing]))

    empty = _mkqa_example(4)
    empty["queries"]["fi"] = ""
    with pytest.raises(DataFormatError, match=r"m3\.jsonl:1: empty .*queries\['fi'\]"):
        load_mkqa(write_jsonl(tmp_path / "m3.jsonl", [empty]))

    with pytest.raises(DataFormatError, match=r"m4\.jsonl:2: duplicate example_id '1'"):
        load_mkqa(write_jsonl(tmp_path / "m4.jsonl", [good[0], good[0]]))


def test_load_mkqa_truncated_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "m.jsonl.gz"
    payload = gzip.compress(
        ("".join(json.dumps(_mkqa_example(i)) + "\n" for i in range(50))).encode()
    )
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataFormatError, match=r"m\.jsonl\.gz"):
        load_mkqa(path)


# ----------------------------------------------------------------------------- Tatoeba


def test_load_tatoeba_real_counts(mirror):
    assert len(tatoeba_langs()) == 112 and "ara" in tatoeba_langs()
    tel = load_tatoeba("tel")
    assert len(tel) == 234 and list(tel.columns) == ["pair_id", "lang", "src_text", "tgt_text"]
    assert set(tel["lang"]) == {"tel"} and tel["pair_id"].iloc[0] == "tel-000001"
    assert len(load_tatoeba("tha")) == 548


def test_load_tatoeba_unknown_code_lists_valid():
    with pytest.raises(
        ValueError, match="expected Tatoeba language code to be one of 'afr', 'amh', .*found 'ar'"
    ):
        load_tatoeba("ar")


def test_load_tatoeba_line_count_mismatch_names_both_files(tmp_path):
    (tmp_path / "tatoeba.tel-eng.tel").write_text("ఒకటి\n", encoding="utf-8")
    (tmp_path / "tatoeba.tel-eng.eng").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load_tatoeba("tel", folder=tmp_path)
    assert "tatoeba.tel-eng.tel" in str(info.value) and "tatoeba.tel-eng.eng" in str(info.value)


def test_load_tatoeba_empty_line(tmp_path):
    (tmp_path / "tatoeba.tel-eng.tel").write_text("ఒకటి\n\n", encoding="utf-8")
    (tmp_path / "tatoeba.tel-eng.eng").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"tatoeba\.tel-eng\.tel:2: empty text"):
        load_tatoeba("tel", folder=tmp_path, on_empty="raise")
    with pytest.warns(UserWarning, match="dropped 1 pair"):
        frame = load_tatoeba("tel", folder=tmp_path)
    assert frame["pair_id"].tolist() == ["tel-000001"]


# ----------------------------------------------------------------------------- BEIR


@pytest.fixture
def beir_folder(tmp_path) -> Path:
    write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "d2", "title": "Two", "text": "second passage"},
            {"_id": "d1", "title": "One", "text": "first passage", "metadata": {}},
            {"_id": "d3", "text": "no title"},
        ],
    )
    write_jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "q1", "text": "first?"},
            {"_id": "q2", "text": "second?"},
            {"_id": "q9", "text": "never judged in test"},
        ],
    )
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq2\td2\t1\nq1\td1\t2\nq1\td3\t0\n", encoding="utf-8"
    )
    return tmp_path


def test_load_beir(beir_folder):
    data = load_beir(beir_folder, lang="de")
    assert data.passages.to_dict("list") == {
        "doc_id": ["d1", "d2", "d3"],
        "title": ["One", "Two", ""],
        "text": ["first passage", "second passage", "no title"],
    }
    assert data.queries.to_dict("list") == {
        "query_id": ["q1", "q2"],
        "lang": ["de", "de"],
        "text": ["first?", "second?"],
    }
    assert data.qrels.to_dict("list") == {
        "query_id": ["q1", "q1", "q2"],
        "doc_id": ["d1", "d3", "d2"],
        "relevance": [2, 0, 1],
    }
    assert data.qrels["relevance"].dtype == "int64"


@pytest.mark.parametrize(
    ("row", "pattern"),
    [
        ("q7\td1\t1", "unknown query id 'q7'"),
        ("q1\td7\t1", "unknown passage id 'd7'"),
        ("q1\td2\thigh", "expected an integer score, found 'high'"),
        ("q1\td2", "expected 3 tab-separated fields"),
        ("q1\td1\t1", r"duplicate \(query-id, corpus-id\) pair .*first on line 3"),
    ],
)
def test_load_beir_qrels_errors_name_file_and_line(beir_folder, row, pattern):
    qrels = beir_folder / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text(encoding="utf-8") + row + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"qrels/test\.tsv:5: {pattern}"):
        load_beir(beir_folder)


def test_load_beir_other_errors(beir_folder):
    (beir_folder / "qrels" / "test.tsv").write_text("q1\td1\t1\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"test\.tsv:1: expected the header query-id"):
        load_beir(beir_folder)
    with pytest.raises(FileNotFoundError, match=r"qrels/dev\.tsv"):
        load_beir(beir_folder, "dev")
    write_jsonl(beir_folder / "corpus.jsonl", [{"_id": "d1", "title": "x", "text": ""}])
    with pytest.raises(DataFormatError, match=r"corpus\.jsonl:1: empty field 'text'"):
        load_beir(beir_folder)
    write_jsonl(
        beir_folder / "corpus.jsonl", [{"_id": "d1", "text": "a"}, {"_id": "d1", "text": "b"}]
    )
    with pytest.raises(DataFormatError, match=r"corpus\.jsonl:2: duplicate passage id 'd1'"):
        load_beir(beir_folder)


def test_load_dpr_corpus_skips_blank_lines(tmp_path):
    path = tmp_path / "psgs.tsv"
    path.write_text(DPR_TSV + "\n\n", encoding="utf-8")
    assert len(load_dpr_corpus(path)) == 5


def test_corrupt_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "q.jsonl.gz"
    payload = bytearray(gzip.compress((json.dumps(xor_record(1)) + "\n").encode() * 200))
    payload[20:40] = b"\x00" * 20
    path.write_bytes(bytes(payload))
    with pytest.raises(DataFormatError, match=r"q\.jsonl\.gz: cannot read the file"):
        load_xor_questions(path)
