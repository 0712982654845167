"""The notebooks' shape (parameters validated into a config object in the next cell, no loops or
branches), and one papermill run chaining query_generation → xqg_eval → query_explorer, as the
demo does, with tiny random models on the real XQuAD mirror."""

import ast
import json
from pathlib import Path

import pandas as pd
import pytest

N_PASSAGES = 4
GEN_LANGS = ["de", "ar"]
N_PER_LANG = 1
ALPHA = 0.3
MEASURES = ["MRR@10", "R@5"]
NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
THIN_NOTEBOOKS = ["retrieval_eval", "query_generation", "xqg_eval", "finetune_grid", "query_explorer", "alignment"]


def _code_cells(name):
    import nbformat

    cells = [c for c in nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4).cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    return cells[first], cells[first + 1], cells[first + 2:]


@pytest.mark.parametrize("name", THIN_NOTEBOOKS)
def test_the_cell_after_parameters_validates_every_parameter_into_a_config_model(name):
    import papermill

    from xqg_lab.core.validation import ConfigModel

    parameters, validation, _ = _code_cells(name)
    namespace: dict = {}
    exec(parameters.source, namespace)
    exec(validation.source, namespace)
    cfg = namespace["cfg"]
    assert isinstance(cfg, ConfigModel)
    assert set(type(cfg).model_fields) == set(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb")))


@pytest.mark.parametrize("name", THIN_NOTEBOOKS)
def test_notebooks_hold_no_loops_branches_or_definitions(name):
    _, validation, rest = _code_cells(name)
    control = (ast.For, ast.While, ast.If, ast.IfExp, ast.BoolOp, ast.ListComp, ast.SetComp, ast.DictComp,
               ast.GeneratorExp, ast.FunctionDef, ast.Lambda)  # fmt: skip
    found = [(i, ast.unparse(node)[:60]) for i, cell in enumerate([validation, *rest])
             for node in ast.walk(ast.parse(cell.source)) if isinstance(node, control)]  # fmt: skip
    assert found == []


@pytest.mark.slow
def test_generation_evaluation_and_explorer_notebooks_chain_through_the_store(
    tiny_mt5_dir, tiny_bert_dir, tmp_path, isolated_cache
):
    from xqg_lab.core.config import RunConfig
    from xqg_lab.runner.run import run_config

    encoder = {"encoder": str(tiny_bert_dir), "preset": "dpr"}
    config = RunConfig.parse({"run": "chain", "notebooks": [
        {"notebook": "query_generation", "parameters": {
            "generator": "seq2seq", "model_name_or_path": str(tiny_mt5_dir), "langs": GEN_LANGS,
            "n_per_lang": N_PER_LANG, "max_passages": N_PASSAGES, "batch_size": 4, "store": "generated_queries"}},
        {"notebook": "xqg_eval", "parameters": {
            **encoder, "langs": ["en", "ar", "de"], "augment_langs": ["ar", "de"],
            "generated_store": "generated_queries", "generated_rule": "sum",
            "alphas": [0.0, ALPHA], "alpha": ALPHA, "k": 10, "measures": MEASURES}},
        {"notebook": "query_explorer", "parameters": {
            **encoder, "langs": ["en", "de", "ar"], "source": "heldout", "rule": "mean", "alpha": ALPHA}},
    ]})  # fmt: skip
    run_dir = run_config(config, reports_dir=tmp_path / "reports", progress=False)

    manifest = json.loads((run_dir / "manifest.json").read_text())
    notebooks = ["query_generation", "xqg_eval", "query_explorer"]
    assert [n["notebook"] for n in manifest["notebooks"]] == notebooks
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"] * 3

    # query_generation: a store of passages × languages × n rows, its language check and provenance
    from xqg_lab.generate import read_store

    store = read_store(run_dir / "generated_queries")
    assert len(store) == N_PASSAGES * len(GEN_LANGS) * N_PER_LANG
    assert store["doc_id"].nunique() == N_PASSAGES and sorted(store["lang"].unique()) == sorted(GEN_LANGS)
    rates = pd.read_csv(run_dir / "generation_language_check.csv")
    assert sorted(rates["lang"]) == sorted(GEN_LANGS)
    for name in ["generation_language_check.png", "generation_language_check.svg", "generation.provenance.json"]:
        assert (run_dir / name).is_file(), name
    assert manifest["provenance"]["generation"]["n_passages"] == N_PASSAGES

    # xqg_eval: comparison and significance tables for both conditions, the α curve
    for stem in ["xqg_held_out_human", "xqg_generated"]:
        for suffix in ["_comparison.csv", "_table.md", "_table.tex", "_table.csv"]:
            assert (run_dir / f"{stem}{suffix}").is_file(), stem + suffix
    for name in ["xqg_heldout_split.csv", "xqg_alpha_curve.csv", "xqg_alpha_curve.png", "xqg.provenance.json"]:
        assert (run_dir / name).is_file(), name
    split = pd.read_csv(run_dir / "xqg_heldout_split.csv")
    evaluation = split[split["role"] == "evaluation"]
    n_eval_on_store = evaluation["doc_id"].isin(store["doc_id"]).sum()
    for stem, n in [("xqg_held_out_human", len(evaluation)), ("xqg_generated", n_eval_on_store)]:
        comparison = pd.read_csv(run_dir / f"{stem}_comparison.csv")
        assert sorted(zip(comparison["lang"], comparison["measure"])) == sorted(
            (lang, m) for lang in ["en", "ar", "de"] for m in MEASURES
        ), stem
        assert (comparison["n"] == n).all(), stem  # every evaluation question, in each language
    generated_comparison = pd.read_csv(run_dir / "xqg_generated_comparison.csv")
    r5 = generated_comparison[generated_comparison["measure"] == "R@5"]
    assert (r5["baseline_mean"] == 1.0).all()  # corpus of N_PASSAGES <= 5 passages
    generated = manifest["provenance"]["xqg"]["generated_store"]
    assert generated is not None and generated["n_per_lang"] == N_PER_LANG
    assert set(manifest["provenance"]["xqg"]["conditions"]) == {"held-out human", "generated"}
    curve = pd.read_csv(run_dir / "xqg_alpha_curve.csv")
    assert set(curve["alpha"]) == {0.0, ALPHA} and set(curve["condition"]) == {"held-out human", "generated"}
    import io

    import nbformat

    # its timings end the notebook, with the model cell's named steps as parts of that cell
    last = nbformat.read(run_dir / "xqg_eval.ipynb", as_version=4).cells[-1]
    steps = list(pd.read_html(io.StringIO(last.outputs[0].data["text/html"]), index_col=0)[0]["step"])
    model_cell = next(i for i, step in enumerate(steps) if step.endswith("] timer = StepTimer()"))
    assert steps[model_cell + 1] == "└ load encoder" and "└ other (not in a step)" in steps
    assert steps[-1] == "total (since the kernel started)"

    # query_explorer writes no files; its report shows, in place of the widget, the static page
    # of the passage that gained most
    assert manifest["notebooks"][2]["outputs"] == ["query_explorer.html", "query_explorer.ipynb"]
    cells = nbformat.read(run_dir / "query_explorer.ipynb", as_version=4).cells
    shown_in = [c for c in cells if c.cell_type == "code" and c.source.endswith("\nexplorer")]
    assert shown_in == cells[-3:-2]  # the last cell before the timings
    (shown,) = [o for o in shown_in[0].outputs if 'class="xqg-explorer"' in o.get("data", {}).get("text/html", "")]
    assert "application/vnd.jupyter.widget-view+json" in shown.data  # the live widget, for JupyterLab
    exported = (run_dir / "query_explorer.html").read_text()
    assert 'class="xqg-explorer"' in exported and "Generated queries:" in exported

    index = (run_dir / "index.html").read_text()
    for notebook in notebooks:
        assert f'<section id="{notebook}">' in index, notebook
    assert "<h2>Query generation" in index and "<h2>Query explorer" in index
    assert 'href="xqg_generated_table.md"' in index
