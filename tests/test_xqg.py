import pytest
import pandas as pd

from xqg_lab.data.common import RetrievalData
from xqg_lab.studies.xqg import evaluate_xqg, rank_changes


def tiny_collection():
    passages = pd.DataFrame({"doc_id": ["d1", "d2"], "title": ["", ""], "text": ["p1", "p2"]})
    queries = pd.DataFrame({"query_id": ["q-de"], "lang": ["de"], "text": ["frage"]})
    qrels = pd.DataFrame({"query_id": ["q-de"], "doc_id": ["d2"], "relevance": [1]})
    return RetrievalData(passages, queries, qrels)


def test_augmentation_moves_the_relevant_passage_up_at_large_alpha(table_encoder):
    # The German question looks like d1 but d2's generated German question matches it.
    table = {"p1": [1.0, 0.0], "p2": [0.6, 0.0], "frage": [1.0, 1.0], "gen-d2": [0.0, 1.0], "gen-d1": [0.0, -1.0]}
    generated = pd.DataFrame({"doc_id": ["d1", "d2"], "lang": ["de", "de"], "sample": [0, 0], "text": ["gen-d1", "gen-d2"]})
    result = evaluate_xqg(tiny_collection(), generated, table_encoder(table), alphas=[0.5], k=2, measures=["MRR@10"])
    # α = 0: scores d1 = 1.0, d2 = 0.6 → relevant at rank 2 → RR 0.5
    # α = 0.5: d1 = 0.5·1 + 0.5·(-1) = 0, d2 = 0.5·0.6 + 0.5·1 = 0.8 → rank 1
    assert result.per_query[0.0]["MRR@10"].tolist() == [0.5]
    assert result.per_query[0.5]["MRR@10"].tolist() == [1.0]
    curve = result.curve.set_index(["alpha", "lang", "measure"])["value"]
    assert curve[(0.0, "de", "MRR@10")] == 0.5 and curve[(0.5, "de", "MRR@10")] == 1.0
    changes = rank_changes(result.runs[0.0], result.runs[0.5], tiny_collection().qrels)
    assert changes[["rank_before", "rank_after", "change"]].values.tolist() == [[2.0, 1.0, 1.0]]
    assert result.rule == "sum"


def test_restrict_to_passages_keeps_only_queries_judged_on_them():
    from xqg_lab.studies.xqg import restrict_to_passages

    data = tiny_collection()
    sub = restrict_to_passages(data, ["d2"])
    assert sub.passages["doc_id"].tolist() == ["d2"] and sub.queries["query_id"].tolist() == ["q-de"]
    assert restrict_to_passages(data, ["d1"]).queries.empty
    import pytest

    with pytest.raises(ValueError, match=r"not passages of the collection, e.g. \['d9'\]"):
        restrict_to_passages(data, ["d9"])


def test_compare_to_baseline_reports_each_condition_per_language():
    from xqg_lab.studies.xqg import XQGResult, compare_to_baseline, curves

    base = pd.DataFrame({"query_id": ["a", "b", "c"], "lang": ["de"] * 3, "MRR@10": [0.5, 0.5, 1.0]})
    better = base.assign(**{"MRR@10": [1.0, 1.0, 1.0]})
    result = XQGResult({0.0: base, 0.3: better}, pd.DataFrame({"alpha": [0.0], "lang": ["de"], "measure": ["MRR@10"], "value": [2 / 3]}), {}, None, "mean", {})
    table = compare_to_baseline({"held-out": result}, alpha=0.3, measures=["MRR@10"])["held-out"]
    row = table.iloc[0]
    assert (row["lang"], row["measure"]) == ("de", "MRR@10")
    assert row["diff"] == pytest.approx(1 / 3) and (row["wins"], row["ties"], row["losses"]) == (2, 1, 0)
    assert curves({"held-out": result})[["condition", "rule"]].values.tolist() == [["held-out", "mean"]]


def test_passage_without_queries_keeps_its_vector_by_default(table_encoder):
    # d1, the relevant passage, gets no generated query; q·p1 = 1, q·p2 = 0.6, q·gen-d2 = 0.3.
    # Literal formula (S = 0) at α = 0.9: d1 = 0.1·1 = 0.1 < d2 = 0.1·0.6 + 0.9·0.3 = 0.33: rank 2.
    # Kept (p' = p): d1 = 1.0 for every α, d2 <= 0.6: rank 1 at every α.
    table = {"p1": [1.0, 0.0], "p2": [0.6, 0.0], "frage": [1.0, 0.3], "gen-d2": [0.0, 1.0]}
    data = tiny_collection()
    data = RetrievalData(data.passages, data.queries, data.qrels.assign(doc_id=["d1"]))
    generated = pd.DataFrame({"doc_id": ["d2"], "lang": ["de"], "sample": [0], "text": ["gen-d2"]})
    kept = evaluate_xqg(data, generated, table_encoder(table), alphas=[0.5, 0.9], k=2, measures=["MRR@10"])
    literal = evaluate_xqg(data, generated, table_encoder(table), alphas=[0.9], k=2, measures=["MRR@10"],
                           on_no_query="literal")  # fmt: skip
    assert [kept.per_query[a]["MRR@10"].item() for a in (0.0, 0.5, 0.9)] == [1.0, 1.0, 1.0]
    assert literal.per_query[0.9]["MRR@10"].item() == 0.5
    run = kept.runs[0.9].set_index("doc_id")["score"]
    assert run["d1"] == pytest.approx(1.0, abs=1e-6)  # q·p' = q·p for a passage without queries
    assert (kept.n_no_query, kept.on_no_query, literal.on_no_query) == (1, "keep", "literal")
    from xqg_lab.studies.xqg import no_query_counts

    table_rows = no_query_counts({"kept": kept}).to_dict("records")
    assert table_rows == [{"condition": "kept", "augment_langs": "de", "n_passages": 2, "n_no_query": 1,
                           "on_no_query": "keep"}]  # fmt: skip
    with pytest.raises(ValueError, match="expected on_no_query to be one of 'keep', 'literal'"):
        evaluate_xqg(data, generated, table_encoder(table), alphas=[0.5], on_no_query="zero")


def test_xqg_eval_config_names_a_misspelt_or_out_of_range_parameter():
    from xqg_lab.core.config import ConfigError
    from xqg_lab.studies.xqg import XqgEvalConfig

    good = dict(encoder="e", preset="e5", passage_fields="text", on_no_query="keep", langs=["zh", "en"],
                augment_langs=["de"], eval_fraction=0.5, split_seed=0, heldout_rule="mean", generated_store="",
                generated_rule="sum", alphas=[0.0, 0.3], alpha=0.3, k=10, measures=["R@5"], test="t",
                interactive_charts=False, output_prefix="xqg", output_dir="")  # fmt: skip
    assert XqgEvalConfig.parse(good).data_langs == ["de", "en", "zh"]
    with pytest.raises(ConfigError, match=r"xqg_eval parameters: expected a known key, found 'alpah'; did you mean 'alpha'\?"):
        XqgEvalConfig.parse({**good, "alpah": 0.3})
    with pytest.raises(ConfigError, match=r"xqg_eval parameters: alpha: expected less than or equal to 1, found 3"):
        XqgEvalConfig.parse({**good, "alpha": 3})


def test_describe_conditions_says_rule_passages_without_query_and_queries():
    from xqg_lab.studies.xqg import XQGResult, describe_conditions

    sums = type("Sums", (), {"doc_ids": ["d1", "d2", "d3"]})()
    frame = pd.DataFrame({"query_id": ["a", "b"], "lang": ["de", "de"], "MRR@10": [1.0, 0.5]})
    result = XQGResult({0.0: frame}, pd.DataFrame(), {}, sums, "mean", {}, on_no_query="keep", n_no_query=1)
    assert describe_conditions({"held-out human": result}) == (
        "held-out human: rule mean, 3 passages (1 without query, on_no_query='keep'), 2 queries")
