"""The paper-table pipeline on tiny stand-ins of the real artifacts' formats.

Stand-ins: records of the released ``ielab/xor-tydi-xqg-augmented`` JSONL
(``docid, title, text, generated_queries{lang: [...]}``), an XOR-Retrieve dev JSONL
(``id, question, answers, lang``) whose answers occur in some passages, and a tiny random
BERT saved with ``save_pretrained`` (loaded by path, as a Hub checkpoint would be).
"""

import json
import random
import warnings

import numpy as np
import pandas as pd
import pytest

from xqg_lab.core.config import ConfigError, RunConfig
from xqg_lab.data.xor_tydi import XOR_LANGS
from xqg_lab.core.errors import DataFormatError
from xqg_lab.metrics.xor_retrieve import read_xor_data, read_xor_predictions, xor_recall, xor_recall_per_query
from xqg_lab.studies.paper_table import (
    PUBLISHED_SOURCES,
    PaperTableConfig,
    compare_with_published,
    convert_released_queries,
    published_table,
    released_files,
    run_paper_table,
)
from xqg_lab.scale import Backend, RayOptions, ScaleConfig

N_PASSAGES = 50
N_PER_LANG = 2
WORDS = "river city king war music film team island church school army bank road star game".split()


def _record(i, rng):
    body = " ".join(rng.choice(WORDS) for _ in range(120)) + f" answer{i:02d} ."
    queries = {lang: [f"{lang} question {i} {s} {rng.choice(WORDS)}" for s in range(N_PER_LANG)] for lang in XOR_LANGS}
    return {"docid": f"{i}", "title": f"Title {i}", "text": body, "generated_queries": queries}


@pytest.fixture
def released(tmp_path):
    """Two released-format shard files (numbered as upstream: shard_0, ..., so shard_10 sorts last)."""
    rng = random.Random(0)
    records = [_record(i, rng) for i in range(N_PASSAGES)]
    folder = tmp_path / "xor-tydi-xqg-augmented" / "data"
    folder.mkdir(parents=True)
    for name, part in (("shard_0.jsonl", records[:30]), ("shard_10.jsonl", records[30:])):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
    return folder


@pytest.fixture
def dev_file(tmp_path):
    """Two questions per language: answers found in passages, one yes/no-only (not scored)."""
    def row(qid, lang, question, answers):
        return {"id": qid, "question": question, "answers": answers, "lang": lang, "split": "dev"}

    rows = []
    for n, lang in enumerate(XOR_LANGS):
        rows.append(row(f"{lang}-1", lang, f"{lang} question {3 * n}", [f"answer{3 * n:02d}"]))
        rows.append(row(f"{lang}-2", lang, f"{lang} question {3 * n + 1}", [f"answer{3 * n + 1:02d}", "no"]))
    rows.append(row("ar-3", "ar", "ar yes or no", ["yes"]))
    path = tmp_path / "xor_dev_retrieve_eng_span_v1_1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(released, dev_file, tiny_bert_dir, tmp_path, **overrides):
    params = dict(
        retrievers={"mBERT": str(tiny_bert_dir)}, queries=str(released), dev=str(dev_file),
        work_dir=str(tmp_path / "work"), n_per_lang=N_PER_LANG, k=N_PASSAGES, shard_size=16, batch_size=16,
        device="cpu",
    )
    return PaperTableConfig.parse({**params, **overrides})


def _run(config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # retrievals shorter than 5,000 tokens on a tiny corpus
        return run_paper_table(config, progress=False)


def test_run_paper_table_end_to_end_matches_the_official_scorer_and_resumes(
    released, dev_file, tiny_bert_dir, tmp_path, isolated_cache, monkeypatch
):
    config = _config(released, dev_file, tiny_bert_dir, tmp_path)
    ours = _run(config)

    langs = [*XOR_LANGS, "avg"]
    assert list(ours.columns) == ["retriever", "condition", "alpha", "metric", "lang", "value", "n_scored"]
    assert len(ours) == 2 * 2 * len(langs)
    for (condition, metric), group in ours.groupby(["condition", "metric"]):
        assert list(group["lang"]) == langs
    assert set(ours["alpha"]) == {0.0, 0.01}
    assert ours.loc[ours["lang"] == "avg", "n_scored"].eq(2 * len(XOR_LANGS)).all()  # the yes/no question is not scored

    folder = tmp_path / "work" / "mBERT"
    data = read_xor_data(dev_file)
    for condition in ("baseline", "xQG"):
        predictions = read_xor_predictions(folder / f"predictions-{condition}.json")
        assert len(predictions) == len(data) and predictions["ctxs"].map(len).eq(N_PASSAGES).all()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            official = xor_recall(xor_recall_per_query(data, predictions, ks=(2, 5)))
        for metric in ("R@2kt", "R@5kt"):
            mine = ours[(ours["condition"] == condition) & (ours["metric"] == metric)].set_index("lang")["value"]
            assert mine.to_dict() == pytest.approx(official[metric].to_dict())

    # a re-run reuses every shard (same files, untouched) and gives the same table; its
    # scale setting reaches the shard functions (with nothing left to do, no Ray is started)
    import xqg_lab.scale

    backends = []
    run = xqg_lab.scale.run_shard_tasks

    def spy(tasks, make_worker, *, backend, ray_options, **kwargs):
        backends.append((backend, ray_options, len(tasks)))
        return run(tasks, make_worker, backend=backend, ray_options=ray_options, **kwargs)

    monkeypatch.setattr(xqg_lab.scale, "run_shard_tasks", spy)
    shard_files = sorted(p for p in folder.glob("shard-*") if p.suffix in {".npy", ".json"})
    shard_files += sorted((tmp_path / "work" / "released").glob("shard-*"))
    before = {p: p.stat().st_mtime_ns for p in shard_files}
    on_ray = {"backend": "ray", "ray": {"num_workers": 2}}
    again = _run(_config(released, dev_file, tiny_bert_dir, tmp_path, scale=on_ray))
    assert {p: p.stat().st_mtime_ns for p in shard_files} == before
    pd.testing.assert_frame_equal(again, ours)
    assert backends == [(Backend.RAY, RayOptions(num_workers=2), 0)] * 2  # passages, then query sums


def test_baseline_is_exact_search_over_plain_passages(released, dev_file, tiny_bert_dir, tmp_path, isolated_cache):
    from xqg_lab.data.xor_tydi import load_dpr_corpus, load_xor_questions
    from xqg_lab.encode.model import Encoder

    _run(_config(released, dev_file, tiny_bert_dir, tmp_path))
    corpus = load_dpr_corpus(tmp_path / "work" / "released" / "corpus.tsv")
    encoder = Encoder(str(tiny_bert_dir), preset="dpr", device="cpu", cache_dir=False, progress=False)
    questions = load_xor_questions(dev_file)
    scores = encoder.encode_queries(questions["text"].tolist()) @ encoder.encode_passages(corpus).T
    row_of = {text: i for i, text in enumerate(corpus["text"])}  # texts are unique (answer<i>)
    predictions = read_xor_predictions(tmp_path / "work" / "mBERT" / "predictions-baseline.json")
    for i, ctxs in enumerate(predictions["ctxs"]):
        # the random tiny model nearly ties passages, so compare scores rather than orders
        assert scores[i, [row_of[t] for t in ctxs]] == pytest.approx(np.sort(scores[i])[::-1], rel=1e-5)


def test_parquet_queries_with_a_dpr_corpus_give_the_same_table(released, dev_file, tiny_bert_dir, tmp_path, isolated_cache):
    ours = _run(_config(released, dev_file, tiny_bert_dir, tmp_path))
    corpus = tmp_path / "work" / "released" / "corpus.tsv"
    rows = [
        {"doc_id": r["docid"], "lang": lang, "sample": s, "text": q}
        for path in released_files(released)
        for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())
        for lang, queries in r["generated_queries"].items()
        for s, q in enumerate(queries)
    ]
    queries = tmp_path / "queries.parquet"
    pd.DataFrame(rows).to_parquet(queries)
    again = _run(_config(released, dev_file, tiny_bert_dir, tmp_path, queries=str(queries), query_format="parquet",
                         corpus=str(corpus), work_dir=str(tmp_path / "work2")))
    pd.testing.assert_frame_equal(again, ours)


def test_missing_generated_queries_are_refused(released, dev_file, tiny_bert_dir, tmp_path, isolated_cache):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("id\ttext\ttitle\n1\tsome text\tT\n2\tmore text\tU\n", encoding="utf-8")
    queries = tmp_path / "queries.parquet"
    pd.DataFrame({"doc_id": ["1"] * 14, "lang": [l for l in XOR_LANGS for _ in range(2)], "text": ["q"] * 14}).to_parquet(queries)
    config = _config(released, dev_file, tiny_bert_dir, tmp_path, queries=str(queries), query_format="parquet",
                     corpus=str(corpus))
    with pytest.raises(ValueError, match=r"passage '2' has \{'ar': 0, .*expected 2 per language"):
        _run(config)


def test_a_work_dir_refuses_other_queries(released, dev_file, tiny_bert_dir, tmp_path, isolated_cache):
    _run(_config(released, dev_file, tiny_bert_dir, tmp_path))
    other = tmp_path / "other.jsonl"
    other.write_text((released / "shard_0.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"holds results for other inputs \(differing: queries"):
        _run(_config(released, dev_file, tiny_bert_dir, tmp_path, queries=str(other)))


def test_convert_released_names_the_file_line_and_field_of_a_bad_record(tmp_path):
    record = _record(0, random.Random(0))
    del record["generated_queries"]["te"]
    path = tmp_path / "shard_0.jsonl"
    path.write_text(json.dumps(_record(1, random.Random(1))) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"shard_0\.jsonl:2: passage '0': field 'generated_queries\.te': expected a list of 2 strings, found"):
        convert_released_queries(path, tmp_path / "out", shard_size=10, n_per_lang=N_PER_LANG)
    assert not (tmp_path / "out" / "corpus.tsv").exists()


def test_released_files_are_in_numeric_order(released):
    assert [p.name for p in released_files(released)] == ["shard_0.jsonl", "shard_10.jsonl"]
    with pytest.raises(FileNotFoundError, match="released xQG queries"):
        released_files(released / "missing")


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"queries": "FILL_IN/data"}, ValueError, "queries: expected queries pointing at a real file or model, found 'FILL_IN/data'"),
        ({"retrievers": {"XLM-R": "FILL_IN/xlmr"}}, ValueError, r"expected retrievers\['XLM-R'\] pointing at a real file or model, found 'FILL_IN/xlmr'"),
        ({"corpus": "psgs.tsv"}, ValueError, "expected an empty corpus with query_format 'released-jsonl'.*found 'psgs.tsv'"),
        ({"query_format": "parquet"}, ValueError, "expected a corpus .a DPR-style TSV. with query_format 'parquet', found ''"),
        ({"query_format": "tsv"}, ValueError, "query_format: expected query_format to be one of 'released-jsonl', 'store', 'parquet', found 'tsv'"),
        ({"alpha": 0.0}, ValueError, "alpha: expected alpha above 0 .*found 0.0"),
        ({"langs": ["ar", "de"]}, ValueError, "langs: expected langs among the XOR-TyDi languages .*found \\['ar', 'de'\\]"),
        ({"retrievers": {"a b": "m", "a-b": "m"}}, ValueError, "expected retriever names that differ in letters or digits, found \\['a b', 'a-b'\\]"),
        ({"alhpa": 0.01}, ConfigError, "expected a known key, found 'alhpa'; did you mean 'alpha'"),
        ({"scale": {"backend": "spark"}}, ConfigError, "scale.backend: expected backend to be one of 'local', 'ray', found 'spark'"),
        ({"scale": {"backnd": "ray"}}, ConfigError, "scale: expected a known key, found 'backnd'; did you mean 'backend'"),
        ({"scale": {"ray": {"num_workers": 0}}}, ConfigError, "scale.ray.num_workers: expected greater than or equal to 1, found 0"),
        ({"scale": "ray"}, ConfigError, "scale: expected a valid dictionary or instance of ScaleConfig, found 'ray'"),
    ],
)
def test_config_refuses_bad_parameters(overrides, error, match):
    params = {"retrievers": {"mBERT": "m"}, "queries": "data", **overrides}
    with pytest.raises(error, match=match):
        PaperTableConfig.parse(params)


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        ({"backend": "local"}, ScaleConfig()),
        ({"backend": "ray", "ray": {"address": "auto", "num_workers": 4, "num_gpus_per_worker": 1}},
         ScaleConfig(backend=Backend.RAY, ray=RayOptions(address="auto", num_workers=4, num_gpus_per_worker=1))),
        (ScaleConfig(backend=Backend.RAY), ScaleConfig(backend=Backend.RAY)),
    ],
)
def test_config_parses_the_scale_parameter(scale, expected):
    config = PaperTableConfig.parse({"retrievers": {"mBERT": "m"}, "queries": "data", "scale": scale})
    assert config.scale == expected
    assert PaperTableConfig(retrievers={"mBERT": "m"}, queries="data").scale == ScaleConfig()


def test_published_table_holds_the_cited_numbers_only():
    table = published_table()
    assert set(table["source"]) == set(PUBLISHED_SOURCES)
    paper = table[table["source"] == "paper"].set_index(["retriever", "condition"])["value"]
    assert paper.to_dict() == {
        ("mBERT", "baseline"): 44.1, ("mBERT", "xQG"): 46.2,
        ("XLM-R", "baseline"): 27.5, ("XLM-R", "xQG"): 29.8,
        ("mBERT (zero-shot)", "baseline"): 33.0, ("mBERT (zero-shot)", "xQG"): 36.0,
    }
    assert set(table.loc[table["source"] == "paper", "lang"]) == {"avg"}
    repo = table[table["source"] == "xQG4xDR README"]
    # the README's averages are the means of its per-language values (to its 2 decimals)
    for (metric, condition), group in repo.groupby(["metric", "condition"]):
        values = group.set_index("lang")["value"]
        assert values["avg"] == pytest.approx(values.drop("avg").mean(), abs=0.006)


def test_compare_with_published_sets_ours_beside_each_source():
    ours = pd.DataFrame({
        "retriever": ["mBERT"] * 4, "condition": ["baseline", "xQG"] * 2, "alpha": [0.0, 0.01] * 2,
        "metric": ["R@2kt"] * 4, "lang": ["ar", "ar", "avg", "avg"], "value": [40.0, 43.0, 45.0, 47.5],
        "n_scored": [300] * 4,
    })
    table = compare_with_published(ours)
    assert list(table.index) == [("mBERT", "R@2kt", "ar"), ("mBERT", "R@2kt", "avg")]
    avg = table.loc[("mBERT", "R@2kt", "avg")]
    assert avg["ours baseline"] == 45.0 and avg["ours xQG"] == 47.5 and avg["ours Δ"] == pytest.approx(2.5)
    assert avg["paper baseline"] == 44.1 and avg["paper xQG"] == 46.2 and avg["paper Δ"] == pytest.approx(2.1)
    assert avg["xQG4xDR README baseline"] == 44.20 and avg["xQG4xDR README xQG"] == 46.23
    ar = table.loc[("mBERT", "R@2kt", "ar")]
    assert np.isnan(ar["paper baseline"]) and ar["xQG4xDR README xQG"] == 42.39


def test_notebook_runs_through_papermill(released, dev_file, tiny_bert_dir, tmp_path, isolated_cache):
    from xqg_lab.runner import run_config

    params = dict(
        retrievers={"mBERT": str(tiny_bert_dir)}, queries=str(released), dev=str(dev_file),
        work_dir=str(tmp_path / "work"), n_per_lang=N_PER_LANG, k=N_PASSAGES, shard_size=16, batch_size=16, device="cpu",
    )
    config = RunConfig.parse({"run": "paper", "notebooks": [{"notebook": "paper_table", "parameters": params}]})
    run_dir = run_config(config, reports_dir=tmp_path / "reports", progress=False)
    table = pd.read_csv(run_dir / "paper_table_vs_published.csv")
    assert len(table) == 2 * (len(XOR_LANGS) + 1)
    avg = table[(table["metric"] == "R@2kt") & (table["lang"] == "avg")].iloc[0]
    assert avg["paper baseline"] == 44.1
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["provenance"]["paper_table"]["published_sources"] == PUBLISHED_SOURCES


def test_paper_config_file_has_the_published_rows_and_names_what_to_fill_in():
    from pathlib import Path

    from xqg_lab.core.config import load_config
    from xqg_lab.runner import check_parameters, find_notebook

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "paper_xor_tydi.yaml")
    (step,) = config.notebooks
    check_parameters(find_notebook(step.notebook), step.parameters, where="paper_xor_tydi.yaml")
    assert list(step.parameters["retrievers"]) == list(published_table()["retriever"].unique())
    assert step.parameters["alpha"] == 0.01 and step.parameters["n_per_lang"] == 5
    with pytest.raises(ValueError, match="pointing at a real file or model, found .FILL_IN"):
        PaperTableConfig.parse(step.parameters)
