"""The MKQA study: its pieces on hand-checkable inputs, and configs/mkqa_study.yaml end to end
offline (mirrored 6-example MKQA sample, a stand-in DPR corpus built here, the embedded encoder,
a tiny random mT5 generator), every notebook through papermill."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _mkqa_standin import ANSWERING, PASSAGES, write_corpus  # noqa: E402

from xqg_lab.data.mkqa import load_mkqa_qa  # noqa: E402
from xqg_lab.core.config import ConfigError  # noqa: E402
from xqg_lab.metrics.has_answer import has_answer, recall_table  # noqa: E402
from xqg_lab.studies.mkqa import MKQAStudyConfig, gold_passages  # noqa: E402
from xqg_lab.studies.mkqa_alignment import headline_table, infonce_terms  # noqa: E402
from xqg_lab.studies.mkqa_pool import augmented_search, candidate_pool  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_load_mkqa_qa_scores_only_questions_with_answer_strings():
    qa = load_mkqa_qa("sample", langs=["en", "ja"])
    en = qa[qa["lang"] == "en"].set_index("question_id")
    assert len(en) == 6
    # 3 answerable (entity, entity, date); unanswerable x2 and long_answer are not scored
    assert sorted(en.index[en["scored"]]) == sorted(ANSWERING)
    assert en.loc["7631360939705650347", "answers"] == ["Ridley Scott", "Sir Ridley Scott"]
    assert "Hafthor Julius Bjornsson" in en.loc["-7449157003522518870", "answers"]
    # every language is scored against the English answers
    ja = qa[qa["lang"] == "ja"].set_index("question_id")
    assert ja.loc["7631360939705650347", "answers"] == ["Ridley Scott", "Sir Ridley Scott"]


def test_standin_corpus_answers_are_as_built():
    qa = load_mkqa_qa("sample", langs=["en"]).set_index("question_id")
    for qid, expected in ANSWERING.items():
        found = {pid for pid, text, _ in PASSAGES if has_answer(qa.loc[qid, "answers"], text)}
        assert found == expected, qid


def test_gold_passage_is_best_ranked_answer_bearing_passage():
    questions = pd.DataFrame({"question_id": ["a", "b", "c"], "scored": [True, True, False]})
    rows = np.array([[5, 7, 9], [1, 2, 3], [4, 5, 6]])
    scores = np.array([[0.9, 0.8, 0.7], [0.5, 0.4, 0.3], [0.9, 0.8, 0.7]])
    hits = np.array([[False, True, True], [False, False, False], [True, True, True]])
    passages = pd.DataFrame({"row": [1, 2, 3, 4, 5, 6, 7, 9], "doc_id": list("abcdefgh")})
    gold = gold_passages(questions, rows, scores, hits, passages, method="m")
    assert gold.to_dict("records") == [
        {"question_id": "a", "row": 7, "doc_id": "g", "rank": 2, "score": 0.8, "method": "m"}
    ]  # b has no answer-bearing passage, c is not scored
    pool = candidate_pool({"zs": rows, "ft": np.array([[9, -1, 1], [-1, 2, 2], [4, 4, 4]])}, pool_k=2)
    np.testing.assert_array_equal(pool, [1, 2, 4, 5, 7, 9])  # top 2 of each query and encoder, -1 dropped


def test_augmented_search_matches_full_search_with_p_prime_equal_p_outside_pool():
    rng = np.random.default_rng(0)
    P, Q = rng.normal(size=(30, 8)).astype(np.float32), rng.normal(size=(5, 8)).astype(np.float32)
    pool = np.array([2, 5, 11, 17])
    S = rng.normal(size=(len(pool), 8)).astype(np.float32) * 3
    alpha = 0.4
    full = P.copy()
    full[pool] = (1 - alpha) * P[pool] + alpha * S
    expected = np.argsort(-(Q @ full.T), axis=1)[:, :6]
    order = np.argsort(-(Q @ P.T), axis=1)[:, :12]
    plain = (np.take_along_axis(Q @ P.T, order, 1), order)
    for chunk_size in (2, 100):
        _, rows = augmented_search(Q, plain, pool, P[pool], S, alpha=alpha, k=6, n_passages=30, chunk_size=chunk_size)
        np.testing.assert_array_equal(rows, expected)


def test_infonce_terms_mean_is_the_library_bound():
    from xqg_lab.alignment.contrastive import infonce_bound

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 6))
    Y = X + 0.5 * rng.normal(size=(40, 6))
    for similarity in ("cosine", "dot"):
        ours = infonce_terms(X, Y, similarity=similarity).mean()
        assert ours == pytest.approx(infonce_bound(X, Y, similarity=similarity, n_bootstrap=0).value, abs=1e-9)


def test_headline_gain_is_paired_difference_with_interval():
    langs = np.array(["de"] * 50 + ["ja"] * 50)
    base = np.linspace(0, 1, 100)
    terms = {("passage", "zero-shot"): (langs, base), ("passage", "zero-shot + xQG"): (langs, base + 0.25),
             ("passage", "fine-tuned"): (langs, base), ("passage", "fine-tuned + xQG"): (langs, base),
             ("query", "zero-shot"): (langs, base), ("query", "fine-tuned"): (langs, base - 0.1)}  # fmt: skip
    table = headline_table(terms, n_bootstrap=200, seed=0).set_index("lang")
    assert table.loc["de", "xQG (passage pairs)"] == pytest.approx(0.25)
    assert table.loc["de", "xQG (passage pairs) CI"] == "[+0.250, +0.250]"
    assert table.loc["ja", "fine-tuning (query pairs)"] == pytest.approx(-0.1)
    assert table.loc["ja", "n"] == 50


class _FlakyGenerator:
    """Empty output for passage "b" in "ja" on the first seed only."""

    def generate(self, passages, *, langs, n_per_lang, seed=0, progress=False):
        rows = [(d, lang, i, "" if (d == "b" and lang == "ja" and seed == 0 and i == 0) else f"{d} {lang} {i} {seed}")
                for d in passages["doc_id"] for lang in langs for i in range(n_per_lang)]  # fmt: skip
        return pd.DataFrame(rows, columns=["doc_id", "lang", "sample", "text"])


def test_generate_equal_regenerates_empty_outputs_to_equal_counts():
    from xqg_lab.studies.mkqa_pool import generate_equal

    passages = pd.DataFrame({"doc_id": ["a", "b"], "title": ["", ""], "text": ["x", "y"]})
    out = generate_equal(_FlakyGenerator(), passages, langs=["ja", "de"], n_per_lang=2, seed=0)
    assert (out.groupby(["doc_id", "lang"]).size() == 2).all() and len(out) == 8
    assert out[(out["doc_id"] == "b") & (out["lang"] == "ja")]["text"].tolist() == ["b ja 1 0", "b ja 0 1"]
    with pytest.raises(ValueError, match="after 1 attempts"):
        generate_equal(_FlakyGenerator(), passages, langs=["ja"], n_per_lang=2, seed=0, max_attempts=1)


def test_hits_matrix_matches_each_language_against_english_answers():
    from xqg_lab.metrics.has_answer import hits_matrix

    questions = pd.DataFrame({"question_id": ["q", "q", "r"], "answers": [["Ridley Scott"], ["Ridley Scott"], []]})
    texts = {0: "directed by Ridley Scott", 1: "Scotts of Ridley", 2: "nothing"}
    rows = np.array([[1, 0, -1], [2, 1, 0], [0, 1, 2]])
    np.testing.assert_array_equal(
        hits_matrix(questions, rows, texts), [[False, True, False], [False, False, True], [False, False, False]]
    )


def test_recall_table_averages_languages_unweighted():
    per_query = pd.DataFrame({"query_id": list("abcd"), "lang": ["de", "de", "de", "ja"],
                              "R@1": [1.0, 0.0, 0.0, 1.0]})  # fmt: skip
    table = recall_table({"zero-shot": per_query}).set_index("lang")
    assert table.loc["de", "R@1"] == pytest.approx(100 / 3)
    assert table.loc["avg", "R@1"] == pytest.approx((100 / 3 + 100) / 2)
    assert table.loc["avg", "n_scored"] == 4


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="ks in 1..depth"):
        MKQAStudyConfig(ks=(20, 200), depth=100)
    with pytest.raises(ConfigError, match="expected a known key, found 'alpah'; did you mean 'alpha'"):
        MKQAStudyConfig.parse({"alpah": 0.1})


@pytest.mark.slow
def test_mkqa_study_config_runs_offline_on_standins(tmp_path, tiny_mt5_dir):
    """configs/mkqa_study.yaml with its parameters pointed at the offline stand-ins."""
    from xqg_lab.core.config import RunConfig, load_config
    from xqg_lab.runner.run import run_config

    corpus = write_corpus(tmp_path)
    shipped = load_config(REPO / "configs" / "mkqa_study.yaml")
    offline = {
        "mkqa": "sample", "corpus": str(corpus), "langs": ["en", "de", "ja"],
        "encoder": "embedded:multilingual-e5-small", "batch_size": 16, "fp16": False, "device": "cpu",
        "ks": [1, 3], "depth": 8, "shard_size": 3, "dtype": "float32", "work_dir": str(tmp_path / "work"),
    }  # fmt: skip
    study = {
        "training": {"model_name_or_path": "embedded:multilingual-e5-small", "data": {"source": "xquad", "seed": 13},
                     "preset": "e5", "batch_size": 4, "max_steps": 1, "passage_max_length": 64,
                     "learning_rate": 1.0e-3, "warmup_ratio": 0.0,
                     "freeze_embeddings": True, "precision": "fp32", "seed": 13},
        "generator_model": str(tiny_mt5_dir), "generator_settings": {"batch_size": 8},
        "xqg_langs": ["ja", "de"], "n_per_lang": 2, "alpha": 0.3, "alphas": [0.0, 0.3], "pool_k": 2,
        "measures": ["infonce_bound", "bitext_accuracy"], "n_bootstrap": 50,
    }  # fmt: skip
    steps = []
    for step in shipped.notebooks:
        params = {**step.parameters, **offline, **(study if step.notebook == "mkqa_study" else {})}
        steps.append({"notebook": step.notebook, "parameters": params})
    config = RunConfig.parse({"run": "mkqa-offline", "notebooks": steps})
    run_dir = run_config(config, reports_dir=tmp_path / "reports", progress=False)

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [n["status"] for n in manifest["notebooks"]] == ["ok", "ok"]
    recall = pd.read_csv(run_dir / "mkqa_retrieval_recall.csv")
    assert set(recall["lang"]) == {"en", "de", "ja", "avg"}
    assert (recall.loc[recall["lang"] != "avg", "n_scored"] == 3).all()
    # Hafþór's question has no answer-bearing passage: nobody reaches 100% at any depth
    assert (recall["R@3"] <= 100 * 2 / 3 + 1e-9).all()
    sizes = pd.read_csv(run_dir / "mkqa_retrieval_pool_sizes.csv").set_index("pool_k")
    assert list(sizes.index) == [1, 5]  # the cut-offs up to depth 8
    assert 1 <= sizes.loc[1, "n_passages"] <= sizes.loc[5, "n_passages"] <= 8
    assert (sizes["n_generated_queries"] == sizes["n_passages"] * 7 * 5).all()  # the shipped 7 languages x 5
    gold = pd.read_csv(run_dir / "mkqa_study_gold_passages.csv", dtype={"question_id": str, "doc_id": str})
    expected = {q: next(iter(p)) for q, p in ANSWERING.items() if p}
    assert dict(zip(gold["question_id"], gold["doc_id"])) == expected
    generated = pd.read_csv(run_dir / "mkqa_study_generated_queries.csv", dtype={"doc_id": str})
    counts = generated.groupby(["doc_id", "lang"]).size()
    assert (counts == 2).all() and set(generated["lang"]) == {"ja", "de"}
    study_recall = pd.read_csv(run_dir / "mkqa_study_recall.csv")
    assert set(study_recall["condition"]) == {"zero-shot", "zero-shot + xQG", "fine-tuned", "fine-tuned + xQG"}
    headline = pd.read_csv(run_dir / "mkqa_study_headline.csv")
    assert set(headline["lang"]) == {"de", "ja"} and (headline["n"] == 2).all()
    assert headline["xQG (passage pairs)"].abs().gt(0).all()  # p' differs from p
    assert headline["fine-tuning (query pairs)"].abs().gt(0).all()  # the one training step moved the encoder
    alignment = pd.read_csv(run_dir / "mkqa_study_alignment.csv")
    assert set(alignment["pair_kind"]) == {"query", "passage"}
    assert set(alignment.loc[alignment["pair_kind"] == "passage", "alpha"]) == {0.0, 0.3}
    for chart in ("mkqa_retrieval_recall", "mkqa_study_recall", "mkqa_study_alpha"):
        assert (run_dir / f"{chart}.png").is_file()
    assert "psgs" in (run_dir / "mkqa_study_data.md").read_text() or "standin" in (run_dir / "mkqa_study_data.md").read_text()


class _Shards:
    def __init__(self, shards):
        self.shards = shards

    def iter_passage_embeddings(self):
        return iter(self.shards)


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
        not __import__("torch").cuda.is_available(), reason="needs CUDA"))],
)  # fmt: skip
def test_search_store_equals_flat_search_over_concatenated_shards(device):
    from xqg_lab.search.index import search
    from xqg_lab.studies.mkqa_pool import search_store

    rng = np.random.default_rng(3)
    shards = [rng.normal(size=(n, 16)).astype(np.float32) for n in (7, 0, 5, 9)]
    q = rng.normal(size=(6, 16)).astype(np.float32)
    scores, rows = search_store(_Shards(shards), q, k=4, device=device)
    ref_scores, ref_rows = search(q, np.concatenate(shards), k=4)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5)


@pytest.mark.parametrize("name", ["mkqa_retrieval", "mkqa_study"])
def test_mkqa_notebooks_are_thin_without_outputs(name):
    import re

    import nbformat

    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert all(re.match(r"^\w+: \w+ = .+  # .+$", line) for line in code[0].source.splitlines())
    assert not any(c.get("outputs") or c.get("execution_count") for c in code)
    assert not any(re.search(r"^\s*def ", c.source, re.M) for c in code)
    assert "MKQAStudyConfig.parse" in code[1].source


def test_prepare_corpus_decompresses_a_gzipped_tsv_once(tmp_path):
    import gzip
    import os

    from xqg_lab.studies.mkqa_pool import prepare_corpus

    plain = write_corpus(tmp_path)
    packed = tmp_path / "psgs.tsv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    out = prepare_corpus(str(packed), tmp_path / "work")
    assert out == tmp_path / "work" / "psgs.tsv" and out.read_bytes() == plain.read_bytes()
    stamp = out.stat().st_mtime_ns
    os.utime(packed)  # a second call reuses the decompressed file
    assert prepare_corpus(str(packed), tmp_path / "work").stat().st_mtime_ns == stamp
    assert prepare_corpus(str(plain), tmp_path / "work") == plain  # a plain TSV is used where it is
    with pytest.raises(FileNotFoundError, match="expected 'psgs_w100' or a DPR-style TSV path"):
        prepare_corpus(str(tmp_path / "missing.tsv"), tmp_path / "work")


def test_a_nested_scale_config_error_reads_once_in_the_toolkit_shape():
    with pytest.raises(ConfigError) as error:
        MKQAStudyConfig.parse({"scale": {"backend": "spark"}})
    assert str(error.value) == "mkqa parameters: scale: backend: expected backend to be one of 'local', 'ray', found 'spark'"
