"""Sizing arithmetic for a paper-scale run (xqg_lab.studies.sizing)."""

from __future__ import annotations

import json

import pytest

from xqg_lab.studies.sizing import ESTIMATE_COLUMNS, SizingParams, estimate, plot_estimate, throughputs_from_bench


def rows(params: SizingParams):
    return estimate(params).set_index("stage")


def test_paper_scale_query_sums_take_about_55_gb_instead_of_1_9_tb():
    frame = rows(SizingParams())  # 18M passages, 7 × 5 queries, 768-d
    s_bytes = 18_000_000 * 768 * 4
    counts_bytes = 18_000_000 * 7 * 4
    assert s_bytes / 1e9 == pytest.approx(55.296)
    assert frame.loc["encode queries into per-passage sums", "disk_gb"] == pytest.approx((s_bytes + counts_bytes) / 1e9)
    assert frame.loc["all query vectors (not stored)", "disk_gb"] == pytest.approx(630_000_000 * 768 * 4 / 1e9)
    assert frame.loc["all query vectors (not stored)", "disk_gb"] / 1000 == pytest.approx(1.935, abs=1e-3)  # TB


def test_passage_vectors_in_float16_take_half_the_disk_of_float32():
    full = rows(SizingParams(embedding_bytes=4)).loc["encode passages", "disk_gb"]
    half = rows(SizingParams(embedding_bytes=2)).loc["encode passages", "disk_gb"]
    ids = 18_000_000 * 12 / 1e9
    assert full - ids == pytest.approx(2 * (half - ids)) == pytest.approx(55.296)


def test_gpu_hours_follow_the_throughputs_and_wall_time_divides_by_gpus():
    params = SizingParams(passages_per_s=1000, queries_per_s=5000, generated_queries_per_s=250, n_gpus=8)
    frame = rows(params)
    assert frame.loc["encode passages", "gpu_hours"] == pytest.approx(18e6 / 1000 / 3600)  # 5 h
    assert frame.loc["encode queries into per-passage sums", "gpu_hours"] == pytest.approx(630e6 / 5000 / 3600)
    assert frame.loc["generate queries", "gpu_hours"] == pytest.approx(630e6 / 250 / 3600)  # 700 h
    assert frame.loc["generate queries", "wall_hours"] == pytest.approx(700 / 8)


def test_search_memory_in_memory_vs_sharded():
    frame = rows(SizingParams(n_passages=1_000_000, dim=100, shard_size=10_000, search_qps_per_million=100,
                              n_eval_queries=3600))
    assert frame.loc["exact search, in memory (IndexFlatIP)", "memory_gb"] == pytest.approx(0.4)
    assert frame.loc["α grid (11 values), in memory", "memory_gb"] == pytest.approx(0.8)
    assert frame.loc["exact search or α grid, sharded (streaming merge)", "memory_gb"] == pytest.approx(0.008)
    assert frame.loc["exact search, in memory (IndexFlatIP)", "wall_hours"] == pytest.approx(0.01)  # 36 s
    assert list(estimate(SizingParams()).columns) == ESTIMATE_COLUMNS


def test_params_refuse_unknown_keys_and_non_positive_values():
    with pytest.raises(ValueError, match="did you mean 'n_gpus'"):
        SizingParams.parse({"n_gpu": 4})
    with pytest.raises(ValueError, match="n_passages: expected a positive number, found 0"):
        SizingParams.parse({"n_passages": 0})
    with pytest.raises(ValueError, match="expected embedding_bytes 2 .float16. or 4 .float32., found 8"):
        SizingParams.parse({"embedding_bytes": 8})
    assert SizingParams.parse({"n_gpus": 4}).n_queries == 630_000_000


def test_throughputs_are_read_from_a_bench_results_file(tmp_path):
    results = {
        "benchmarks": {
            "encode": {"rows": [{"encoder": "xqg_lab Encoder (batch 64, default)", "texts_per_s": 12.5}]},
            "generation": {"rows": [{"mode": "batched (16 prompts per call)", "queries_per_s": 6.0},
                                    {"mode": "one prompt at a time", "queries_per_s": 1.0}]},
            "scaling": {
                "setup": {"dim": 384, "n_queries": 200},
                "rows": [{"step": "exact search, in memory", "n_passages": 100_000, "seconds": 1.0},
                         {"step": "exact search, in memory", "n_passages": 1_000_000, "seconds": 4.0}],
            },
        }
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(results))
    got = throughputs_from_bench(path, dim=768)
    assert got == {
        "passages_per_s": 12.5,
        "queries_per_s": 12.5,
        "generated_queries_per_s": 6.0,
        "search_qps_per_million": pytest.approx(200 / 4.0 * 1.0 * 384 / 768),
    }
    assert SizingParams().replace(**got).passages_per_s == 12.5


def test_plot_is_a_faceted_bar_chart():
    spec = plot_estimate(estimate(SizingParams())).to_dict()
    assert spec["spec"]["mark"]["type"] == "bar" and spec["facet"]["field"] == "measure"


def test_sizing_notebook_is_thin_has_no_outputs_and_runs(tmp_path):
    import re
    from pathlib import Path

    import nbformat

    path = Path(__file__).resolve().parents[1] / "notebooks" / "sizing.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    pattern = re.compile(r"^\w+: \w+ = .+  # .+$")
    assert all(pattern.match(line) for line in code[0].source.splitlines())
    assert not any(c.get("outputs") or c.get("execution_count") for c in code)
    assert not any(re.search(r"^\s*def ", c.source, re.M) for c in code)
    namespace: dict = {}
    for cell in code:  # the cells as papermill would run them, with the default parameters
        exec(compile(cell.source, str(path), "exec"), namespace)
    assert namespace["table"]["stage"].iloc[0] == "generate queries"
