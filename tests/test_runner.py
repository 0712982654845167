"""One papermill run of the retrieval notebook on a tiny configuration."""

import json
import re

import pytest

from xqg_lab.config import ConfigError, RunConfig
from xqg_lab.runner import NOTEBOOK_DIR, NotebookFailed, run_config


@pytest.fixture
def tiny_beir(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    docs = [("d1", "Fox", "the quick brown fox"), ("d2", "Dog", "the lazy dog"), ("d3", "Tokyo", "東京は日本の首都です")]
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}, ensure_ascii=False) + "\n" for i, t, x in docs)
    )
    queries = [("q1", "quick fox"), ("q2", "lazy dog"), ("q3", "日本の首都")]
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": x}, ensure_ascii=False) + "\n" for i, x in queries)
    )
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    return folder


def tiny_config(tiny_beir, encoder_dir, **overrides):
    params = {"dataset": f"beir:{tiny_beir}", "encoder": str(encoder_dir), "k": 3, "batch_size": 2, **overrides}
    return RunConfig.from_dict({"run": "tiny", "notebooks": [{"notebook": "retrieval_eval", "parameters": params}]})


def test_papermill_run_writes_report_tables_figures_and_manifest(tiny_beir, tiny_encoder_dir, tmp_path, isolated_cache):
    run_dir = run_config(tiny_config(tiny_beir, tiny_encoder_dir), reports_dir=tmp_path / "reports", progress_bar=False)
    for name in ["retrieval_eval.ipynb", "retrieval_eval.html", "index.html", "manifest.json",
                 "retrieval_by_lang.csv", "retrieval_by_lang.json", "retrieval_by_lang.png",
                 "retrieval_by_lang.svg", "retrieval.trec", "retrieval_per_query.csv"]:
        assert (run_dir / name).is_file(), name
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["notebooks"][0]["status"] == "ok"
    assert manifest["environment"]["packages"]["torch"]
    assert manifest["provenance"]["retrieval"]["encoder"]["query"]["model"].startswith("sha256:")
    html = (run_dir / "retrieval_eval.html").read_text()
    assert not re.search(r"<script[^>]+src=['\"]https?://", html), "report must render offline"
    assert "data:image/svg+xml" in html or "<svg" in html


def test_unknown_notebook_parameter_is_refused_before_running(tiny_beir, tiny_encoder_dir, tmp_path):
    config = tiny_config(tiny_beir, tiny_encoder_dir, batchsize=2)
    with pytest.raises(ConfigError, match="unknown key 'batchsize'; did you mean 'batch_size'"):
        run_config(config, reports_dir=tmp_path)


def test_output_dir_is_the_runners_and_refused_in_a_config(tiny_beir, tmp_path):
    from xqg_lab.runner import find_notebook, with_output_dir

    config = tiny_config(tiny_beir, tmp_path / "no-model", output_dir="elsewhere")
    with pytest.raises(ConfigError, match="expected no 'output_dir' parameter, found 'elsewhere'"):
        run_config(config, reports_dir=tmp_path)
    assert not (tmp_path / "tiny").exists()  # refused before anything ran
    params = with_output_dir(find_notebook("retrieval_eval"), {"k": 3}, tmp_path / "run")
    assert params == {"k": 3, "output_dir": str((tmp_path / "run").resolve())}


def test_failing_notebook_stops_the_run_and_keeps_partial_output(tiny_beir, tiny_encoder_dir, tmp_path, isolated_cache):
    config = tiny_config(tiny_beir, tiny_encoder_dir, preset="colbert")
    with pytest.raises(NotebookFailed, match=r"retrieval_eval.ipynb failed in cell \d+: ValueError: unknown encoder preset 'colbert'"):
        run_config(config, reports_dir=tmp_path / "reports", progress_bar=False)
    run_dir = tmp_path / "reports" / "tiny"
    assert (run_dir / "retrieval_eval.ipynb").is_file() and (run_dir / "retrieval_eval.html").is_file()
    assert json.loads((run_dir / "manifest.json").read_text())["notebooks"][0]["status"] == "failed"


def test_second_run_with_a_warm_cache_reuses_every_cached_artifact(tiny_beir, tiny_bert_dir, tmp_path, isolated_cache):
    config = tiny_config(tiny_beir, tiny_bert_dir)
    first = json.loads((run_config(config, reports_dir=tmp_path / "a", progress_bar=False) / "manifest.json").read_text())
    stale = tmp_path / "b" / "tiny" / "retrieval_by_lang.csv.tmp-123-abcd"  # left by a killed writer
    stale.parent.mkdir(parents=True)
    stale.write_text("half a ta")
    second = json.loads((run_config(config, reports_dir=tmp_path / "b", progress_bar=False) / "manifest.json").read_text())
    assert first["cache"]["files_written"] > 0  # embeddings of the corpus and queries
    assert second["cache"]["files_written"] == 0 and second["cache"]["written"] == []
    assert "retrieval_by_lang.csv" in second["notebooks"][0]["outputs"]
    assert not stale.exists()


def test_index_links_each_section_with_its_figures_tables_and_the_manifest(tiny_beir, tiny_bert_dir, tmp_path, isolated_cache):
    run_dir = run_config(tiny_config(tiny_beir, tiny_bert_dir), reports_dir=tmp_path, progress_bar=False)
    index = (run_dir / "index.html").read_text()
    assert '<section id="retrieval_eval">' in index
    assert "<h2>Retrieval evaluation" in index  # the notebook's own heading
    assert '<img src="retrieval_by_lang.png"' in index and 'href="retrieval_by_lang.svg"' in index
    assert 'href="retrieval_by_lang.csv"' in index and 'href="manifest.json"' in index
    assert "every cached artifact was reused" not in index  # this run filled an empty cache


def test_relative_mirror_and_cache_paths_are_resolved_before_notebooks_change_folder(
    tiny_beir, tiny_bert_dir, tmp_path, monkeypatch
):
    # The README says `export XQG_LAB_MIRROR=../shared/data`; notebooks run inside the run folder.
    (tmp_path / "mirror").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XQG_LAB_MIRROR", "mirror")
    monkeypatch.setenv("XQG_LAB_CACHE", "cache")
    run_dir = run_config(tiny_config(tiny_beir, tiny_bert_dir), reports_dir="reports", progress_bar=False)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["mirror"] == str(tmp_path / "mirror")
    assert manifest["cache"]["root"] == str(tmp_path / "cache") and manifest["cache"]["files_written"] > 0
    assert not (run_dir / "cache").exists()  # not a second cache inside the run folder


@pytest.mark.parametrize("name", ["retrieval_eval", "query_generation", "xqg_eval", "finetune_grid",
                                  "query_explorer", "alignment", "paper_table", "mkqa_retrieval",
                                  "mkqa_study"])  # fmt: skip
def test_notebooks_that_write_declare_an_output_dir_papermill_can_read(name):
    import papermill

    from xqg_lab.runner import find_notebook

    declared = papermill.inspect_notebook(str(find_notebook(name)))
    assert declared["output_dir"]["default"] == '""'


@pytest.mark.parametrize("path", sorted(NOTEBOOK_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_parameter_line_of_a_notebook_is_one_papermill_can_read(path):
    """papermill skips a line it cannot parse (e.g. ' = ' inside the help comment): the runner
    would then refuse that parameter in a config as unknown."""
    import nbformat
    import papermill

    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    written = [m.group(1) for line in cell.source.splitlines() if (m := re.match(r"(\w+)\s*(?::[^=]*)?=", line))]
    assert list(papermill.inspect_notebook(str(path))) == written
