"""No silently wrong numbers (issue 16, item 3): each input that used to give a wrong result
without a word is now refused with a clear error, or handled correctly (a warning that counts
what the official semantics skip)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xqg_lab.core.config import ConfigError, RunConfig, load_config
from xqg_lab.data import iter_dpr_corpus, load_dpr_corpus, load_xor_translations
from xqg_lab.core.errors import DataFormatError
from xqg_lab.metrics.ranking import check_depth
from xqg_lab.metrics.xor_retrieve import xor_recall, xor_recall_per_query
from xqg_lab.present.report import save_table
from xqg_lab.scale.shards.corpus import index_corpus, iter_corpus_shards

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- report files


def test_dotted_output_prefix_keeps_every_table(tmp_path):
    by_lang = save_table(pd.DataFrame({"R@10": [0.5]}), "exp.v2_by_lang", output_dir=tmp_path)
    per_query = save_table(pd.DataFrame({"R@10": [1.0, 0.0]}), "exp.v2_per_query", output_dir=tmp_path)
    assert [p.name for p in by_lang] == ["exp.v2_by_lang.csv", "exp.v2_by_lang.json"]
    assert [p.name for p in per_query] == ["exp.v2_per_query.csv", "exp.v2_per_query.json"]
    assert len(pd.read_csv(tmp_path / "exp.v2_by_lang.csv")) == 1
    assert len(pd.read_csv(tmp_path / "exp.v2_per_query.csv")) == 2


def test_dotted_chart_stem_keeps_every_file(tmp_path):
    import altair as alt

    from xqg_lab.present.report import save_chart

    chart = alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_point().encode(x="x")
    paths = save_chart(chart, "exp.v2_alpha", output_dir=tmp_path)
    assert [p.name for p in paths] == ["exp.v2_alpha.png", "exp.v2_alpha.svg", "exp.v2_alpha.vl.json"]
    assert all(p.is_file() for p in paths)


# ----------------------------------------------------------------------------- config files


@pytest.mark.parametrize(
    "run, match",
    [(None, r"expected 'run' to be a folder name, found null"), (True, r"found bool True"), ([1], r"found list \[1\]")],
)
def test_run_that_is_not_a_name_is_refused(run, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.parse({"run": run, "notebooks": [{"notebook": "sizing"}]})


def test_integer_run_name_is_read_as_text():
    assert RunConfig.parse({"run": 2024, "notebooks": [{"notebook": "sizing"}]}).run == "2024"


@pytest.mark.parametrize(
    "text, line, key",
    [
        ("run: a\nrun: b\nnotebooks: [{notebook: sizing}]\n", 2, "'run'"),
        ("run: a\nnotebooks:\n  - notebook: sizing\n    parameters: {n_gpus: 1, n_gpus: 8}\n", 4, "'n_gpus'"),
        ("run: a\nnotebooks:\n  - notebook: sizing\n    parameters:\n      n_gpus: 1\n      dim: 4\n      n_gpus: 8\n", 7, "'n_gpus'"),
    ],
    ids=["top level", "flow mapping", "block mapping"],
)
def test_duplicate_yaml_key_is_refused_naming_file_and_line(tmp_path, text, line, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"c\.yaml:{line}: invalid YAML: expected each key once per mapping, found {key} again"):
        load_config(path)


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    from xqg_lab.core.config import read_yaml

    path = tmp_path / "c.yaml"
    path.write_text("defaults: &d {n_gpus: 1, dim: 4}\nparams:\n  <<: *d\n  n_gpus: 8\n")
    assert read_yaml(path)["params"] == {"n_gpus": 8, "dim": 4}


# ----------------------------------------------------------------------------- measures


@pytest.mark.parametrize(
    "measures, k, match",
    [(["R@100"], 10, r"\(k=10\), found 'R@100'.*fix: set k >= 100"), (["MRR@10", "nDCG@20"], 10, r"found 'nDCG@20'")],
)
def test_measure_deeper_than_the_run_is_refused(measures, k, match):
    with pytest.raises(ValueError, match=match):
        check_depth(measures, k=k)


def test_measures_within_depth_pass():
    assert check_depth(["R@10", "MRR@10", "AP"], k=10) == ["R@10", "MRR@10", "AP"]


def test_a_run_holding_the_whole_collection_is_deep_enough():
    assert check_depth(["MRR@10", "R@100"], k=5, n_passages=5) == ["MRR@10", "R@100"]
    with pytest.raises(ValueError, match=r"on the top 5 of 6 passages"):
        check_depth(["MRR@10"], k=5, n_passages=6)


def test_evaluate_retrieval_refuses_a_measure_deeper_than_k(table_encoder):
    from xqg_lab.data.common import RetrievalData
    from xqg_lab.metrics.retrieval import evaluate_retrieval

    data = RetrievalData(
        pd.DataFrame({"doc_id": ["d0", "d1"], "title": ["", ""], "text": ["a", "b"]}),
        pd.DataFrame({"query_id": ["q"], "lang": ["en"], "text": ["qa"]}),
        pd.DataFrame({"query_id": ["q"], "doc_id": ["d1"], "relevance": [1]}),
    )
    encoder = table_encoder({"a": [1.0, 0.0], "b": [0.0, 1.0], "qa": [1.0, 0.0]})
    with pytest.raises(ValueError, match=r"found 'R@100'"):
        evaluate_retrieval(data, encoder, k=1, measures=["R@100"])
    assert evaluate_retrieval(data, encoder, k=1, measures=["R@1"]).by_lang.loc["en", "R@1"] == 0.0


# ----------------------------------------------------------------------------- XOR-Retrieve


def test_question_without_answers_is_not_scored_but_warned_and_counted():
    data = pd.DataFrame(
        {"query_id": ["a", "b", "c"], "lang": ["ar"] * 3, "answers": [[], ["Paris"], []]}
    )
    predictions = {q: ["Paris " * 5000] for q in ("a", "b", "c")}
    with pytest.warns(UserWarning, match=r'2 predicted questions have no answer at all \("answers": \[\]\).*NOT scored.*\'a\', \'c\''):
        per_query = xor_recall_per_query(data, predictions)
    assert xor_recall(per_query).loc["ar", "n_scored"] == 1  # the official number: over the answerable one
    assert xor_recall(per_query).loc["ar", "R@2kt"] == 100.0


# ----------------------------------------------------------------------------- corpora


def _tsv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "corpus.tsv"
    path.write_text("id\ttext\ttitle\n" + body, encoding="utf-8")
    return path


DUPLICATE = "1\tA text.\tT\n2\tB text.\tT\n1\tC text.\tT\n"
UNBALANCED = '1\t"Start of one passage.\tT1\n2\tSecond passage" ends here.\tT2\n3\tThird.\tT3\n'
READERS = {
    "iter_dpr_corpus": lambda p: [b for b in iter_dpr_corpus(p, batch_size=1)],
    "load_dpr_corpus": load_dpr_corpus,
    "index_corpus": lambda p: index_corpus(p, shard_size=1),
    "iter_corpus_shards": lambda p: list(iter_corpus_shards(p, shard_size=1)),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_duplicate_passage_id_is_refused_by_every_reader(tmp_path, reader):
    with pytest.raises(DataFormatError, match=r"corpus\.tsv:4: .*'1'"):
        READERS[reader](_tsv(tmp_path, DUPLICATE))


@pytest.mark.parametrize("reader", list(READERS))
def test_unbalanced_quote_is_refused_instead_of_merging_passages(tmp_path, reader):
    with pytest.raises(DataFormatError, match=r"corpus\.tsv:2: TSV parse error in lines 2-3: .*unbalanced quote.*fix: balance"):
        READERS[reader](_tsv(tmp_path, UNBALANCED))


@pytest.mark.parametrize("reader", list(READERS))
def test_quoted_field_over_several_lines_is_read_but_warned_about(tmp_path, reader):
    # valid CSV (DPR's reader reads it the same way), but also what an unbalanced quote whose
    # partner closes a later field looks like
    with pytest.warns(UserWarning, match=r"corpus\.tsv:2: a quoted field runs over lines 2-3 \(passage id '1'\)"):
        READERS[reader](_tsv(tmp_path, '1\t"Start.\tT1\n2\tSecond passage"\tT2\n3\tThird.\tT3\n'))


def test_balanced_quotes_keep_dpr_semantics(tmp_path):
    corpus = load_dpr_corpus(_tsv(tmp_path, '1\t"A ""quoted"" word."\tT\n2\tplain "inner" quote\tT\n'))
    assert corpus["text"].tolist() == ['A "quoted" word.', 'plain "inner" quote']


def test_shards_encode_refuses_duplicate_passage_ids(tmp_path):
    path = _tsv(tmp_path, DUPLICATE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "xqg_lab", "shards", "encode", "--corpus", str(path), "--encoder",
         "embedded:multilingual-e5-small", "--out", str(tmp_path / "store"), "--shard-size", "2"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "corpus.tsv:4: expected unique passage ids, found '1' again" in result.stderr


# ----------------------------------------------------------------------------- translations


def _translations(tmp_path: Path, en: str, ar: str) -> Path:
    folder = tmp_path / "ar-en"
    folder.mkdir()
    (folder / "en.txt").write_text(en, encoding="utf-8")
    (folder / "ar.txt").write_text(ar, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "en, ar, match",
    [
        ("One\n\nThree\nFour\nFive\n", "واحد\nاثنان\nثلاثة\n\nخمسة\n", r"en\.txt:2: expected line-aligned files, found a blank line here and another at .*ar\.txt:4"),
        ("One\nTwo\nThree\n\n", "\nواحد\nاثنان\nثلاثة\n", r"ar\.txt:1: expected line-aligned files, found a blank line here and another at .*en\.txt:4"),
    ],
    ids=["blank lines at different places", "shifted by a leading blank line"],
)
def test_misaligned_translation_files_are_refused(tmp_path, en, ar, match):
    with pytest.raises(DataFormatError, match=match):
        load_xor_translations("ar", folder=_translations(tmp_path, en, ar))


def test_one_sided_blank_line_is_still_dropped_with_a_warning(tmp_path):
    folder = _translations(tmp_path, "One\n\nThree\n", "واحد\nاثنان\nثلاثة\n")
    with pytest.warns(UserWarning, match=r"dropped 1 pair"):
        pairs = load_xor_translations("ar", folder=folder)
    assert pairs["pair_id"].tolist() == ["ar-000001", "ar-000003"]


# ----------------------------------------------------------------------------- encoder inputs


@pytest.fixture(scope="module")
def tiny_encoder(tiny_bert_dir):
    from xqg_lab.encode.model import Encoder

    return Encoder(str(tiny_bert_dir), preset="dpr", cache_dir=False, progress=False)


def test_a_bare_string_is_refused_not_encoded_per_character(tiny_encoder):
    with pytest.raises(TypeError, match=r"expected a list of texts, found a single str 'hello world'; fix: .*\['hello world'\]"):
        tiny_encoder.encode_queries("hello world")


@pytest.mark.parametrize("missing", [np.nan, None, pd.NA], ids=["NaN", "None", "NA"])
def test_missing_title_is_encoded_as_no_title(tiny_encoder, missing):
    frame = pd.DataFrame({"title": pd.Series([missing, "T"], dtype=object), "text": ["Paris is in France.", "x"]})
    with_missing = tiny_encoder.encode_passages(frame)
    without = tiny_encoder.encode_passages(pd.DataFrame({"title": ["", "T"], "text": ["Paris is in France.", "x"]}))
    np.testing.assert_allclose(with_missing, without, rtol=0, atol=1e-6)


def test_passage_text_never_writes_nan():
    from xqg_lab.data.common import passage_text

    assert passage_text(float("nan"), "body") == "body"
    with pytest.raises(TypeError, match=r"expected the passage title to be a str, found int 3"):
        passage_text(3, "body")
