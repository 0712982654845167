"""xqg_lab.studies.sizing.estimate_mkqa_study against sizes derived by hand."""

import pytest

from xqg_lab.studies import sizing


def test_mkqa_estimate_hand_checked():
    p = sizing.MKQAStudySizing(n_passages=1_000_000, n_scored=100, n_langs=2, n_encoders=2, pool_k=3, dim=10,
                               embedding_bytes=2, xqg_langs=7, n_per_lang=5, passages_per_s=1000,
                               generated_queries_per_s=35, n_gpus=2)  # fmt: skip
    table = sizing.estimate_mkqa_study(p).set_index("stage")
    enc = table.loc["encode passages (both encoders)"]
    assert enc["disk_gb"] == pytest.approx(2 * (1e6 * 10 * 2 + 1e6 * 12) / 1e9)
    assert enc["gpu_hours"] == pytest.approx(2 * 1e6 / 1000 / 3600)
    assert enc["wall_hours"] == pytest.approx(enc["gpu_hours"] / 2)
    low, high = p.pool_bounds
    assert (low, high) == (100, 100 * (1 + 2 * 3 * 2))
    gold = table.loc["generate xQG queries: gold passages only (pool_k = 0)"]
    assert gold["gpu_hours"] == pytest.approx(100 * 35 / 35 / 3600)


def test_mkqa_sizing_refuses_unknown_keys():
    with pytest.raises(ValueError, match="did you mean 'pool_k'"):
        sizing.MKQAStudySizing.parse({"pool_kk": 3})
