import pandas as pd
import pytest

from xqg_lab.present.plots import alpha_curve_chart, per_language_chart


def test_per_language_chart_has_one_panel_per_measure():
    by_lang = pd.DataFrame({"MRR@10": [0.9, 0.5], "R@1": [0.8, 0.4], "n_queries": [3, 3]}, index=pd.Index(["en", "ar"], name="lang"))
    spec = per_language_chart(by_lang).to_dict()
    assert spec["facet"]["column"]["field"] == "measure"
    assert sorted({row["measure"] for row in spec["datasets"][next(iter(spec["datasets"]))]}) == ["MRR@10", "R@1"]


def test_alpha_curve_chart_draws_lines_and_baseline_rules():
    curve = pd.DataFrame(
        {"alpha": [0.0, 0.1, 0.0, 0.1], "lang": ["ar", "ar", "zh", "zh"], "measure": ["MRR@10"] * 4, "value": [0.5, 0.6, 0.4, 0.3]}
    )
    spec = alpha_curve_chart(curve, measure="MRR@10").to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "rule"]
    faceted = alpha_curve_chart(curve.assign(condition="held-out"), measure="MRR@10").to_dict()
    assert faceted["facet"]["row"]["field"] == "condition"
    with pytest.raises(ValueError, match=r"available: \['MRR@10'\]"):
        alpha_curve_chart(curve, measure="R@5")


def test_pass_rate_chart_plots_rates_per_language():
    from xqg_lab.present.plots import pass_rate_chart

    rates = pd.DataFrame({"lang": ["ar", "de"], "n": [4, 4], "n_pass": [2, 4], "pass_rate": [0.5, 1.0]})
    spec = pass_rate_chart(rates).to_dict()
    assert spec["encoding"]["y"]["field"] == "pass_rate"


def test_conditions_chart_draws_one_dot_per_condition_and_language():
    from xqg_lab.present.plots import conditions_chart

    means = pd.DataFrame(
        {"condition": ["zero-shot", "fine-tuned"] * 2, "lang": ["ar", "ar", "de", "de"],
         "measure": "MRR@10", "value": [0.7, 0.8, 0.9, 0.92]}
    )  # fmt: skip
    spec = conditions_chart(means, measure="MRR@10").to_dict()
    assert spec["mark"]["type"] == "point"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["zero-shot", "fine-tuned"]
    assert spec["encoding"]["shape"]["scale"]["domain"] == ["zero-shot", "fine-tuned"]  # one merged legend
    assert spec["encoding"]["y"]["sort"] == ["de", "ar"]  # by the first condition, best first
    with pytest.raises(ValueError, match="available"):
        conditions_chart(means, measure="R@5")


def test_loss_curve_chart_plots_loss_against_step():
    from xqg_lab.present.plots import loss_curve_chart

    spec = loss_curve_chart(pd.DataFrame({"step": [1, 2], "loss": [2.0, 1.5]})).to_dict()
    assert spec["encoding"]["x"]["field"] == "step" and spec["encoding"]["y"]["field"] == "loss"
