"""One papermill run of the retrieval notebook on a tiny configuration."""

import json
import re

import pytest

from xqg_lab.core.config import ConfigError, RunConfig
from xqg_lab.runner import NOTEBOOK_DIR, NotebookFailed, run_config

from _helpers import write_notebook


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
    return RunConfig.parse({"run": "tiny", "notebooks": [{"notebook": "retrieval_eval", "parameters": params}]})


def test_papermill_run_writes_report_tables_figures_and_manifest(tiny_beir, tiny_encoder_dir, tmp_path, isolated_cache):
    run_dir = run_config(tiny_config(tiny_beir, tiny_encoder_dir), reports_dir=tmp_path / "reports", progress=False)
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

    # the notebook ends with its cell timings: they add up to its wall time, as papermill measured it
    import io

    import nbformat
    import pandas as pd

    cells = [c for c in nbformat.read(run_dir / "retrieval_eval.ipynb", as_version=4).cells if c.cell_type == "code"]
    (table,) = [o.data["text/html"] for o in cells[-1].outputs if "text/html" in o.get("data", {})]
    seconds = pd.read_html(io.StringIO(table), index_col=0)[0].set_index("step")["seconds"]
    top = seconds[~seconds.index.str.startswith("└")]  # parts of a cell start with └ (HTML drops the indent)
    assert top.iloc[:-1].sum() == pytest.approx(top.iloc[-1], abs=0.01 * len(top))
    durations = {c.execution_count: c.metadata.papermill.duration for c in cells}
    timed = {int(m[1]): s for name, s in top.items() if (m := re.match(r"\[(\d+)\] ", name))}
    clock_cell = next(c.execution_count for c in cells if "enter_output_dir" in c.source)
    assert sorted(timed) == list(range(clock_cell, len(cells) + 1))  # from the cell that starts the clock to the table
    assert sum(timed.values()) == pytest.approx(sum(durations[n] for n in timed), abs=1.0)
    assert -1.0 < top.iloc[-1] - sum(durations.values()) < 15.0  # plus the kernel start


def test_unknown_notebook_parameter_is_refused_before_running(tiny_beir, tiny_encoder_dir, tmp_path):
    config = tiny_config(tiny_beir, tiny_encoder_dir, batchsize=2)
    with pytest.raises(ConfigError, match=r"parameters\): expected a known key, found 'batchsize'; did you mean 'batch_size'"):
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
        run_config(config, reports_dir=tmp_path / "reports", progress=False)
    run_dir = tmp_path / "reports" / "tiny"
    assert (run_dir / "retrieval_eval.ipynb").is_file() and (run_dir / "retrieval_eval.html").is_file()
    assert json.loads((run_dir / "manifest.json").read_text())["notebooks"][0]["status"] == "failed"


def test_second_run_with_a_warm_cache_reuses_every_cached_artifact(tiny_beir, tiny_bert_dir, tmp_path, isolated_cache):
    config = tiny_config(tiny_beir, tiny_bert_dir)
    first = json.loads((run_config(config, reports_dir=tmp_path / "a", progress=False) / "manifest.json").read_text())
    stale = tmp_path / "b" / "tiny" / "retrieval_by_lang.csv.tmp-123-abcd"  # left by a killed writer
    stale.parent.mkdir(parents=True)
    stale.write_text("half a ta")
    second = json.loads((run_config(config, reports_dir=tmp_path / "b", progress=False) / "manifest.json").read_text())
    assert first["cache"]["files_written"] > 0  # embeddings of the corpus and queries
    assert second["cache"]["files_written"] == 0 and second["cache"]["written"] == []
    assert "retrieval_by_lang.csv" in second["notebooks"][0]["outputs"]
    assert not stale.exists()


def test_index_links_each_section_with_its_figures_tables_and_the_manifest(tiny_beir, tiny_bert_dir, tmp_path, isolated_cache):
    run_dir = run_config(tiny_config(tiny_beir, tiny_bert_dir), reports_dir=tmp_path, progress=False)
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
    run_dir = run_config(tiny_config(tiny_beir, tiny_bert_dir), reports_dir="reports", progress=False)
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


# -- notebooks outside notebooks/, warm re-runs, warnings, cell timeout (issues 15.2, 16.5, 16.6) --------


def config_of(*steps, **extra):
    return RunConfig.parse({"run": "warm", **extra,
                                "notebooks": [{"notebook": str(nb), "parameters": p} for nb, p in steps]})


@pytest.mark.parametrize("where", ["traversal", "absolute", "symlink"])
def test_notebook_outside_the_notebooks_folder_is_refused_unless_allowed(where, tmp_path, monkeypatch):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_notebook(outside / "evil.ipynb", "x = 0", "open('ran', 'w').write('code from outside ran')")
    work = tmp_path / "work"
    (work / "notebooks").mkdir(parents=True)
    monkeypatch.chdir(work)
    name = {"traversal": "../../elsewhere/evil", "absolute": str(outside / "evil.ipynb"), "symlink": "link"}[where]
    if where == "symlink":
        (work / "notebooks" / "link.ipynb").symlink_to(outside / "evil.ipynb")
    config = RunConfig.parse({"run": "r", "notebooks": [{"notebook": name}]}, where="run.yaml")
    with pytest.raises(ConfigError, match=r"run.yaml: notebooks\[0\]: expected a notebook of .*notebooks.*, found "
                                          r".*evil.ipynb.*allow_external_notebooks: true.*--allow-external-notebooks"):
        run_config(config, reports_dir="reports", progress=False)
    assert not (work / "reports" / "r").exists()
    run_dir = run_config(config, reports_dir="reports", progress=False, allow_external_notebooks=True)
    assert (run_dir / "ran").read_text() == "code from outside ran"


def test_config_keys_of_the_runner_are_validated():
    base = {"run": "r", "notebooks": [{"notebook": "retrieval_eval"}]}
    assert RunConfig.parse({**base, "cell_timeout": 60, "allow_external_notebooks": True}).cell_timeout == 60
    for key, value, expected in [("cell_timeout", -1, "positive number of seconds"),
                                 ("cell_timeout", "ten", "positive number of seconds"),
                                 ("allow_external_notebooks", "yes", "true or false")]:
        with pytest.raises(ConfigError, match=rf"{key}: expected a {expected}|{key}: expected {expected}"):
            RunConfig.parse({**base, key: value})


@pytest.fixture
def two_step_run(tmp_path):
    """A first run of two notebooks: ``first`` reads a data file (named in its provenance)
    and writes a table; ``second`` reads that table and writes another. Returns a function
    that re-runs (with overrides) and gives ``(manifest, run folder)``."""
    import hashlib
    import shutil

    data = tmp_path / "data.txt"
    data.write_text("3\n")
    first = write_notebook(
        tmp_path / "first.ipynb", "scale = 1",
        "import hashlib, pathlib, pandas as pd\nfrom xqg_lab.present.report import save_table, save_provenance\n"
        f"path = pathlib.Path({str(data)!r})\nvalue = int(path.read_text()) * scale\n"
        "save_table(pd.DataFrame({'value': [value]}), 'first')\n"
        "save_provenance({'data': [{'path': str(path), 'sha256': hashlib.sha256(path.read_bytes()).hexdigest()}]}, 'first')",
    )
    second = write_notebook(
        tmp_path / "second.ipynb", "offset = 0",
        "import pandas as pd\nfrom xqg_lab.present.report import save_table\n"
        "save_table(pd.read_csv('first.csv') + offset, 'second')",
    )
    reports = tmp_path / "reports"

    def run(first_params=None, second_params=None, **kwargs):
        config = config_of((first, first_params or {"scale": 2}), (second, second_params or {"offset": 1}),
                           allow_external_notebooks=True)
        run_dir = run_config(config, reports_dir=reports, progress=False, **kwargs)
        return json.loads((run_dir / "manifest.json").read_text()), run_dir

    manifest, run_dir = run()
    assert [n["status"] for n in manifest["notebooks"]] == ["ok", "ok"]
    assert (run_dir / "second.csv").read_text() == "value\n7\n"
    run.first, run.second, run.data, run.dir = first, second, data, run_dir
    run.sha = lambda name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
    run.copy = shutil.copy
    return run


def test_unchanged_rerun_reuses_every_notebook_and_says_so(two_step_run):
    before = {p.name: p.read_bytes() for p in two_step_run.dir.iterdir()
              if p.suffix in (".csv", ".ipynb", ".html") and p.name != "index.html"}
    manifest, run_dir = two_step_run()
    assert [n["status"] for n in manifest["notebooks"]] == ["reused", "reused"]
    assert all(n["reused_from"] for n in manifest["notebooks"]) and manifest["status"] == "ok"
    assert {name: (run_dir / name).read_bytes() for name in before} == before  # the same outputs, carried over
    assert (run_dir / "index.html").read_text().count("reused from previous run") == 2
    again, _ = two_step_run()  # reused twice: still reusable, still dated from the run that executed it
    assert [n["reused_from"] for n in again["notebooks"]] == [n["reused_from"] for n in manifest["notebooks"]]


CHANGES = {  # change: (statuses, the notebook whose reason is checked, its reason, second.csv's value)
    "second parameter": (["reused", "ok"], 1, "changed since the previous run: parameters", 11),
    "first parameter": (["ok", "ok"], 1, r"an earlier notebook \(first\) was executed", 10),
    "data file": (["ok", "ok"], 0, "data file .*data.txt changed", 9),
    "notebook file": (["ok", "ok"], 0, "changed since the previous run: notebook_sha256", 7),
    "output modified": (["reused", "ok"], 1, "its previous output second.csv is missing or was modified", 7),
    "output deleted": (["reused", "ok"], 1, "its previous output second.csv is missing or was modified", 7),
    "--force": (["ok", "ok"], 0, r"forced \(--force\)", 7),
    "--force second": (["reused", "ok"], 1, r"forced \(--force\)", 7),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_input_re_executes_that_notebook_and_the_ones_after_it(two_step_run, change):
    statuses, checked, reason, expected = CHANGES[change]
    kwargs = {}
    if change == "second parameter":
        kwargs["second_params"] = {"offset": 5}
    elif change == "first parameter":
        kwargs["first_params"] = {"scale": 3}
    elif change == "data file":
        two_step_run.data.write_text("4\n")
    elif change == "notebook file":
        text = two_step_run.first.read_text()
        two_step_run.first.write_text(text.replace("* scale", "* scale * 1"))
    elif change == "output modified":
        (two_step_run.dir / "second.csv").write_text("value\n999\n")
    elif change == "output deleted":
        (two_step_run.dir / "second.csv").unlink()
    elif change == "--force":
        kwargs["force"] = True
    else:
        kwargs["force"] = ["second"]
    manifest, run_dir = two_step_run(**kwargs)
    assert [n["status"] for n in manifest["notebooks"]] == statuses
    assert re.search(reason, manifest["notebooks"][checked]["executed_because"])
    assert (run_dir / "second.csv").read_text() == f"value\n{expected}\n"


def test_force_of_an_unknown_notebook_is_refused(two_step_run):
    with pytest.raises(ConfigError, match=r"--force: expected notebooks of this config \(first, second\), found thrid"):
        two_step_run(force=["thrid"])


def test_run_cli_passes_cell_timeout_force_and_external_notebooks(monkeypatch, tmp_path):
    from xqg_lab.runner import cli
    from xqg_lab.runner import run as runner

    calls = []
    monkeypatch.setattr(runner, "run_config", lambda config, **kw: calls.append(kw) or tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text("run: r\nnotebooks:\n  - notebook: retrieval_eval\n")
    assert cli.main(["run", "--force", str(config)]) == 0
    assert cli.main(["run", str(config), "--force", "retrieval_eval", "--cell-timeout", "30",
                     "--allow-external-notebooks"]) == 0
    assert cli.main(["run", str(config)]) == 0
    assert [c["force"] for c in calls] == [True, ["retrieval_eval"], False]
    assert calls[1]["cell_timeout"] == 30 and calls[1]["allow_external_notebooks"] is True
    assert calls[2]["cell_timeout"] is None and calls[2]["allow_external_notebooks"] is False


def test_warnings_raised_inside_a_notebook_reach_the_terminal_manifest_and_index(tmp_path):
    from xqg_lab.runner import NotebookWarning

    notebook = write_notebook(
        tmp_path / "damaged.ipynb", "n = 8",
        "import hashlib, pathlib\nimport numpy as np\nfrom xqg_lab.encode.cache import EmbeddingCache\n"
        "def vectors(texts):\n"
        "    return np.stack([np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))"
        ".standard_normal(4).astype('float32') for t in texts])\n"
        "texts = [f'text {i}' for i in range(n)]\n"
        "EmbeddingCache('cache', chunk_size=4).encode({'m': 1}, texts, vectors)\n"
        "chunk = sorted(pathlib.Path('cache').rglob('*.vectors.npy'))[0]\n"
        "chunk.write_bytes(chunk.read_bytes()[:-7])  # a damaged chunk\n"
        "again = EmbeddingCache('cache', chunk_size=4).encode({'m': 1}, texts, vectors)\n"
        "assert np.array_equal(again, vectors(texts))",
    )
    with pytest.warns(NotebookWarning, match=r"damaged.ipynb, cell 3: UserWarning: embedding cache chunk .* is "
                                             r"truncated or corrupted .*encoded again"):
        run_dir = run_config(config_of((notebook, {"n": 8}), allow_external_notebooks=True),
                             reports_dir=tmp_path / "reports", progress=False)
    (entry,) = json.loads((run_dir / "manifest.json").read_text())["notebooks"]
    assert entry["status"] == "ok" and len(entry["warnings"]) == 1 and entry["warnings"][0]["cell"] == 3
    assert "warning in cell 3: UserWarning: embedding cache chunk" in (run_dir / "index.html").read_text()


def test_a_re_executed_notebook_resumes_the_stores_it_wrote_in_the_previous_run(tmp_path):
    """Run folders are staged afresh; a folder the same notebook wrote last time (a resumable
    store) is carried into the staging folder, loose files are not."""
    from xqg_lab.runner.provenance import carry_stores

    run_dir, staging = tmp_path / "run", tmp_path / "staging"
    (run_dir / "generated_queries").mkdir(parents=True)
    (run_dir / "generated_queries" / "part-0.parquet").write_bytes(b"rows")
    (run_dir / "table.csv").write_text("old")
    staging.mkdir()
    old = {"notebook": "query_generation", "outputs": ["generated_queries/part-0.parquet", "table.csv"]}

    carry_stores(old, "xqg_eval", run_dir, staging)
    assert list(staging.iterdir()) == []
    carry_stores(old, "query_generation", run_dir, staging)
    assert (staging / "generated_queries" / "part-0.parquet").read_bytes() == b"rows"
    assert not (staging / "table.csv").exists()


IRI_VERDICTS = """
import json, sys
{setup}
import altair, jsonschema
loaded_by_altair = getattr(sys.modules.get("rfc3987_syntax"), "__file__", None) is not None
checker = jsonschema.FormatChecker()
verdicts = [checker.conforms(text, form) for text in ("http://例え.jp/パス", "http://[bad", "relative/パス")
            for form in ("iri", "iri-reference")]
print(json.dumps({{"loaded_by_altair": loaded_by_altair, "verdicts": verdicts}}))
"""


def test_the_runners_kernel_imports_rfc3987_syntax_only_when_an_iri_is_checked():
    """jsonschema imports rfc3987_syntax with altair (seconds of grammar compiling in every
    notebook); the runner and its kernels defer it to the first IRI check, with the same verdicts."""
    import subprocess
    import sys

    def run(setup):
        code = IRI_VERDICTS.format(setup=setup)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
        return json.loads(out.stdout.splitlines()[-1])

    deferred = run("from xqg_lab.runner.deferred_imports import defer_rfc3987_syntax; defer_rfc3987_syntax()")
    plain = run("")
    assert plain["loaded_by_altair"] and not deferred["loaded_by_altair"]
    assert deferred["verdicts"] == plain["verdicts"] == [True, True, False, False, False, True]
