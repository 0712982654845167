"""The index's headline tables, read back from the CSV files of a demo-like run folder."""

import json
from pathlib import Path

import pandas as pd

from xqg_lab.present import plots
from xqg_lab.present import report
from xqg_lab.present.headlines import headline_tables

LANGS = ["en", "de", "zh"]


def _comparison(lang_measure_values, *, system=None):
    """compare()-shaped rows: (lang, measure, baseline, treatment, significant)."""
    rows = []
    for lang, measure, base, treat, sig in lang_measure_values:
        rows.append({
            **({"system": system} if system else {}), "lang": lang, "measure": measure, "n": 10,
            "baseline_mean": base, "treatment_mean": treat, "diff": treat - base, "significant": sig,
            "p_adjusted": 0.01 if sig else 0.5, "test": "t",
        })  # fmt: skip
    return pd.DataFrame(rows)


def demo_like_run(run_dir: Path) -> tuple[Path, dict]:
    """A run folder with the files the demo's notebooks write for the headlines (hand-made
    numbers, real charts rendered by vl-convert) and its manifest; returns (folder, manifest)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    outputs = {}

    def written(notebook, paths):
        outputs.setdefault(notebook, []).extend(Path(p).name for p in paths)

    by_lang = pd.DataFrame(
        {"MRR@10": [0.96, 0.893, 0.765], "R@1": [0.934, 0.834, 0.676], "n_queries": [1190] * 3},
        index=pd.Index(LANGS, name="lang"),
    )
    table = by_lang.copy()
    table.loc["mean"] = [*by_lang[["MRR@10", "R@1"]].mean(), 3570]
    written("retrieval_eval", report.save_table(table, "retrieval_by_lang", output_dir=run_dir))
    written("retrieval_eval", report.save_chart(plots.per_language_chart(by_lang, title="e5 on XQuAD"),
                                                "retrieval_by_lang", output_dir=run_dir))  # fmt: skip

    comparison = _comparison([("en", "MRR@10", 0.95, 0.96, False), ("de", "MRR@10", 0.86, 0.90, True),
                              ("zh", "MRR@10", 0.70, 0.75, True), ("de", "R@1", 0.80, 0.85, True)])  # fmt: skip
    written("xqg_eval", report.save_table(comparison, "xqg_held_out_human_comparison", output_dir=run_dir))
    curve = pd.DataFrame([
        {"condition": "held-out human", "alpha": a, "lang": lang, "measure": "MRR@10", "value": v + a / 10}
        for a in (0.0, 0.1, 0.3) for lang, v in zip(LANGS, (0.95, 0.86, 0.70))
    ])  # fmt: skip
    written("xqg_eval", report.save_chart(plots.alpha_curve_chart(curve, measure="MRR@10"), "xqg_alpha_curve",
                                          output_dir=run_dir))  # fmt: skip

    conditions = ["zero-shot", "zero-shot + xQG", "fine-tuned", "fine-tuned + xQG"]
    means = pd.DataFrame([
        {"condition": c, "lang": lang, "measure": "MRR@10", "value": 0.5 + 0.1 * i + 0.01 * j}
        for i, c in enumerate(conditions) for j, lang in enumerate([*LANGS, "mean"])
    ])  # fmt: skip
    written("finetune_grid", report.save_table(means, "grid_means", output_dir=run_dir))
    grid = _comparison([("de", "MRR@10", 0.51, 0.61, True), ("zh", "MRR@10", 0.52, 0.62, False)],
                       system="zero-shot + xQG")  # fmt: skip
    written("finetune_grid", report.save_table(grid, "grid_vs_zero_shot_comparison", output_dir=run_dir))
    written("finetune_grid", report.save_chart(plots.conditions_chart(means[means["lang"] != "mean"], measure="MRR@10"),
                                               "grid_conditions", output_dir=run_dir))  # fmt: skip

    results = pd.DataFrame([
        {"view": "xqg", "condition": c, "alpha": a, "lang": lang, "measure": m, "name": m, "value": v}
        for c, a in (("plain", 0.0), ("xqg_heldout", 0.3)) for lang, v in (("de", 0.6), ("zh", 0.4))
        for m in ("bitext_accuracy", "linear_cka")
    ] + [{"view": "xqg", "condition": "plain", "alpha": 0.0, "lang": "de", "measure": "linear_cka",
          "name": "linear_cka_part", "value": 99.0}])  # fmt: skip
    written("alignment", report.save_table(results, "alignment_results", output_dir=run_dir))

    manifest = {
        "run": "demo-like", "title": "demo-like run", "config_file": "configs/demo.yaml", "started": "s",
        "finished": "f", "environment": {"python": "3", "platform": "p", "cpu_count": 2, "xqg_lab_commit": "c"},
        "cache": None,
        "notebooks": [
            {"notebook": n, "title": n, "parameters": {"alpha": 0.3} if n == "xqg_eval" else {},
             "output": f"{n}.ipynb", "html": f"{n}.html", "status": "ok", "seconds": 1.0, "outputs": sorted(o)}
            for n, o in outputs.items()
        ],
    }  # fmt: skip
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir, manifest


def test_headlines_read_each_notebooks_numbers(tmp_path):
    run_dir, manifest = demo_like_run(tmp_path / "run")
    heads = {h.title: h for h in headline_tables(run_dir, manifest["notebooks"])}
    assert list(heads) == [
        "Retrieval per query language", "xQG vs baseline at α = 0.3: held out human",
        "Four-condition grid: MRR@10", "Alignment summary",
    ]
    retrieval = heads["Retrieval per query language"]
    assert retrieval.columns == ["lang", "MRR@10", "R@1", "queries"]
    assert retrieval.rows[1] == ["de", "0.893", "0.834", "1,190"]
    assert retrieval.rows[-1][:2] == ["mean", f"{(0.96 + 0.893 + 0.765) / 3:.3f}"]
    assert retrieval.figure == "retrieval_by_lang.svg"

    xqg = heads["xQG vs baseline at α = 0.3: held out human"]
    assert xqg.columns == ["lang", "MRR@10", "R@1"]
    assert xqg.rows[1] == ["de", "0.860 → 0.900 (+0.040 †)", "0.800 → 0.850 (+0.050 †)"]
    assert xqg.rows[0] == ["en", "0.950 → 0.960 (+0.010)", ""]
    assert xqg.figure == "xqg_alpha_curve.svg"

    grid = heads["Four-condition grid: MRR@10"]
    assert grid.columns == ["lang", "zero-shot", "zero-shot + xQG", "fine-tuned", "fine-tuned + xQG"]
    assert grid.rows[1] == ["de", "0.510", "0.610 †", "0.710", "0.810"]  # only de is significant
    assert grid.rows[-1][0] == "mean"

    alignment = heads["Alignment summary"]
    assert alignment.columns == ["view", "condition", "α", "languages", "bitext_accuracy", "linear_cka"]
    assert alignment.rows == [["xqg", "plain", "0", "2", "0.500", "0.500"], ["xqg", "xqg_heldout", "0.3", "2", "0.500", "0.500"]]


def test_an_unreadable_csv_gives_a_headline_that_says_so(tmp_path):
    (tmp_path / "retrieval_by_lang.csv").write_text("lang,MRR@10\nen\n\"broken")
    entry = {"notebook": "retrieval_eval", "outputs": ["retrieval_by_lang.csv"]}
    (head,) = headline_tables(tmp_path, [entry])
    assert "not available" in head.title and head.rows == []


def test_index_opens_with_the_headline_tables_and_links_to_the_sections(tmp_path):
    from xqg_lab.runner.index_page import write_index

    run_dir, manifest = demo_like_run(tmp_path / "run")
    write_index(run_dir, manifest)
    index = (run_dir / "index.html").read_text()
    headline, first_section = index.index('<section id="headlines">'), index.index('<section id="retrieval_eval">')
    assert headline < first_section
    top = index[headline:first_section]
    assert "<td>0.893</td>" in top and "0.860 → 0.900 (+0.040 †)" in top and "0.610 †" in top
    assert '<img src="retrieval_by_lang.svg"' in top and 'href="#retrieval_eval"' in top
    assert index.index('id="run"') > first_section  # the run's provenance comes last
