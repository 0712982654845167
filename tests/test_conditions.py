"""The four-condition grid: zero-shot / fine-tuned encoder, each without and with xQG."""

import numpy as np
import pandas as pd
import pytest

from xqg_lab.present import tables
from xqg_lab.studies import grid as conditions
from xqg_lab.data.common import RetrievalData
from xqg_lab.train import CHECKPOINT_FILE, parse_training_job
from xqg_lab.studies.xqg import evaluate_xqg


def two_article_collection():
    """Articles 01 (training) and 02 (held out), one paragraph each; two questions per
    paragraph in en and de: q1 about 01-00, q2 and q3 about 02-00."""
    passages = pd.DataFrame({"doc_id": ["01-00", "02-00"], "title": ["", ""], "text": ["p1", "p2"]})
    rows = [(f"{q}-{lang}", lang, f"{q}-{lang}", q) for q in ("q1", "q2", "q3") for lang in ("en", "de")]
    queries = pd.DataFrame(rows, columns=["query_id", "lang", "text", "question_id"])
    doc = {"q1": "01-00", "q2": "02-00", "q3": "02-00"}
    qrels = pd.DataFrame(
        {"query_id": queries["query_id"], "doc_id": queries["question_id"].map(doc), "relevance": 1}
    )
    return RetrievalData(passages, queries, qrels)


ARTICLES = pd.DataFrame({"article": ["01", "02"], "role": ["train", "eval"]})
QUESTIONS = pd.DataFrame(
    {"question_id": ["q1", "q2", "q3"], "doc_id": ["01-00", "02-00", "02-00"],
     "role": ["evaluation", "evaluation", "augmentation"]}
)  # fmt: skip


def test_grid_collection_keeps_evaluation_questions_of_held_out_articles_only():
    grid = conditions.grid_collection(two_article_collection(), ARTICLES, QUESTIONS, langs=["en", "de"])
    # q1 is about a training article, q3 augments: only q2 is scored, in both languages.
    assert sorted(grid.queries["query_id"]) == ["q2-de", "q2-en"]
    assert sorted(grid.qrels["query_id"]) == ["q2-de", "q2-en"]
    assert grid.passages["doc_id"].tolist() == ["01-00", "02-00"]  # every paragraph is searched


def test_grid_collection_refuses_a_split_without_held_out_articles():
    with pytest.raises(ValueError, match="no 'eval' article"):
        conditions.grid_collection(two_article_collection(), ARTICLES.assign(role="train"), QUESTIONS, langs=["en"])


def test_evaluate_grid_names_the_four_conditions_and_equals_evaluate_xqg(table_encoder):
    data = conditions.grid_collection(two_article_collection(), ARTICLES, QUESTIONS, langs=["en", "de"])
    augmentation = pd.DataFrame({"doc_id": ["02-00"], "lang": ["de"], "sample": [0], "text": ["q3-de"]})
    zero_shot = table_encoder({"p1": [1, 0], "p2": [0.6, 0], "q2-en": [1, 0.2], "q2-de": [1, 1], "q3-de": [0, 1]})
    fine_tuned = table_encoder({"p1": [0.2, 0], "p2": [1, 0], "q2-en": [1, 0], "q2-de": [1, 1], "q3-de": [0, 1]})
    per_query, results = conditions.evaluate_grid(
        data, augmentation, {"zero-shot": zero_shot, "fine-tuned": fine_tuned}, alpha=0.5, k=2, measures=["MRR@10"]
    )
    assert list(per_query) == list(conditions.CONDITIONS)
    rr = {c: dict(zip(f["query_id"], f["MRR@10"])) for c, f in per_query.items()}
    # zero-shot: p1 beats p2 for both. With xQG p2' = 0.5·(0.6, 0) + 0.5·(0, 1) scores 0.8 for q2-de,
    # and p1, which has no augmentation question, keeps p' = p (1.0): p1 still wins. Taking the
    # formula literally, p1' = 0.5·p1 (0.5) would lose to p2' only because it has no query.
    assert rr["zero-shot"] == {"q2-de": 0.5, "q2-en": 0.5}
    assert rr["zero-shot + xQG"] == {"q2-de": 0.5, "q2-en": 0.5}
    assert results["zero-shot"].n_no_query == 1
    literal, _ = conditions.evaluate_grid(
        data, augmentation, {"zero-shot": zero_shot, "fine-tuned": fine_tuned}, alpha=0.5, k=2, measures=["MRR@10"],
        on_no_query="literal",
    )  # fmt: skip
    assert dict(zip(literal["zero-shot + xQG"]["query_id"], literal["zero-shot + xQG"]["MRR@10"])) == {
        "q2-de": 1.0, "q2-en": 0.5}  # fmt: skip
    assert rr["fine-tuned"] == {"q2-de": 1.0, "q2-en": 1.0}
    direct = evaluate_xqg(data, augmentation, fine_tuned, alphas=[0.5], k=2, measures=["MRR@10"])
    pd.testing.assert_frame_equal(per_query["fine-tuned + xQG"], direct.per_query[0.5])
    assert set(results) == {"zero-shot", "fine-tuned"}


def test_evaluate_grid_refuses_missing_encoders_and_alpha_zero():
    data = two_article_collection()
    with pytest.raises(ValueError, match=r"missing \['fine-tuned'\]"):
        conditions.evaluate_grid(data, pd.DataFrame(), {"zero-shot": None}, alpha=0.3)
    with pytest.raises(ValueError, match=r"alpha in \(0, 1\]"):
        conditions.evaluate_grid(data, pd.DataFrame(), {"zero-shot": None, "fine-tuned": None}, alpha=0.0)


def per_query_grid():
    rng = np.random.default_rng(0)
    ids = [f"q{i}-{lang}" for lang in ("ar", "de") for i in range(20)]
    langs = [i.split("-")[1] for i in ids]
    base = rng.uniform(size=len(ids))
    shift = {"zero-shot": 0.0, "zero-shot + xQG": 0.05, "fine-tuned": 0.1, "fine-tuned + xQG": 0.12}
    return {
        c: pd.DataFrame({"query_id": ids, "lang": langs, "MRR@10": base + s + rng.normal(0, 0.01, len(ids))})
        for c, s in shift.items()
    }


def test_compare_grid_has_two_families_with_their_own_baselines():
    per_query = per_query_grid()
    families = conditions.compare_grid(per_query, measures=["MRR@10"])
    assert list(families["vs zero-shot"]) == ["zero-shot + xQG", "fine-tuned", "fine-tuned + xQG"]
    on_fine_tuned = families["xQG on fine-tuned"]["fine-tuned + xQG"].set_index("lang")
    expected = per_query["fine-tuned"].groupby("lang")["MRR@10"].mean()
    assert on_fine_tuned["baseline_mean"].to_dict() == pytest.approx(expected.to_dict())
    for comparison in families["vs zero-shot"].values():
        assert (comparison["family_size"] == 2).all()  # 2 languages x 1 measure, Holm per comparison
        assert comparison["significant"].all()  # shifts of 0.05 to 0.12 with noise 0.01


def test_grid_means_averages_languages_into_a_mean_row():
    means = conditions.grid_means(per_query_grid()).set_index(["condition", "lang", "measure"])["value"]
    for condition in conditions.CONDITIONS:
        assert means[(condition, "mean", "MRR@10")] == pytest.approx(
            (means[(condition, "ar", "MRR@10")] + means[(condition, "de", "MRR@10")]) / 2
        )


def test_restrict_views_keeps_rows_about_held_out_articles_and_needs_doc_ids():
    views = {"xqg": pd.DataFrame({"pair_id": ["a", "b"], "doc_id": ["01-00", "02-03"]})}
    assert conditions.restrict_views(views, ARTICLES)["xqg"]["pair_id"].tolist() == ["b"]
    with pytest.raises(ValueError, match="view 'tatoeba' has no doc_id"):
        conditions.restrict_views({"tatoeba": pd.DataFrame({"pair_id": ["a"]})}, ARTICLES)


def test_effects_table_sets_the_robustness_test_beside_the_main_one():
    per_query = per_query_grid()
    families = conditions.compare_grid(per_query, measures=["MRR@10"])
    robust = conditions.compare_grid(per_query, measures=["MRR@10"], test="wilcoxon")
    effects = conditions.effects_table(families, robust, measure="MRR@10", robustness_test="wilcoxon")
    assert effects["comparison"].unique().tolist() == [
        "zero-shot + xQG vs zero-shot", "fine-tuned vs zero-shot", "fine-tuned + xQG vs zero-shot",
        "fine-tuned + xQG vs fine-tuned",
    ]  # fmt: skip
    assert len(effects) == 4 * 2  # comparisons x languages
    row = effects.set_index(["comparison", "lang"]).loc[("fine-tuned vs zero-shot", "ar")]
    expected = families["vs zero-shot"]["fine-tuned"].set_index("lang").loc["ar"]
    assert row["diff"] == pytest.approx(expected["diff"]) and row["wins"] == expected["wins"]
    assert row["p (wilcoxon, Holm over 2)"] == pytest.approx(
        robust["vs zero-shot"]["fine-tuned"].set_index("lang").loc["ar", "p_adjusted"]
    )


def test_effects_table_labels_each_p_column_with_its_family():
    # main test over 2 languages x 2 measures (family of 4), robustness test on 1 measure (family of 2):
    # the columns must not read as the same kind of p
    per_query = per_query_grid()
    per_query = {c: f.assign(**{"R@1": f["MRR@10"]}) for c, f in per_query.items()}
    families = conditions.compare_grid(per_query, measures=["MRR@10", "R@1"])
    robust = conditions.compare_grid(per_query, measures=["MRR@10"], test="wilcoxon")
    effects = conditions.effects_table(families, robust, measure="MRR@10", robustness_test="wilcoxon")
    p_columns = [c for c in effects.columns if c.startswith("p ")]
    assert p_columns == ["p (t, Holm over 4)", "p (wilcoxon, Holm over 2)"]
    assert "No two comparisons" in effects.attrs["caption"] and "4 comparisons" in effects.attrs["caption"]
    table = tables.significance_table(families["vs zero-shot"], baseline_name="zero-shot")
    assert "the 3 systems" in table.attrs["caption"] and "not corrected jointly" in table.attrs["caption"]
    with pytest.raises(ValueError, match="robustness_test 'randomisation'"):
        conditions.effects_table(families, robust, measure="MRR@10", robustness_test="randomisation")


def test_article_split_needs_an_xquad_training_job(tmp_path):
    job = parse_training_job(
        {"model_name_or_path": "m", "data": {"source": "dpr", "path": "train.json"}}, source="grid.yaml"
    )
    with pytest.raises(ValueError, match="grid.yaml: .*expected training.data.source 'xquad', found 'dpr'"):
        conditions.article_split(two_article_collection(), job)


def test_fine_tuned_checkpoint_trains_once_and_reuses_it(tiny_bert_dir, tmp_path):
    body = {
        "model_name_or_path": str(tiny_bert_dir), "data": {"source": "xquad", "langs": ["en"], "seed": 1},
        "preset": "dpr", "batch_size": 2, "max_steps": 1, "device": "cpu",
    }  # fmt: skip
    job = parse_training_job(body, source="test")
    folder, reused = conditions.fine_tuned_checkpoint(job, cache_root=tmp_path, progress=False)
    assert not reused and (folder / CHECKPOINT_FILE).is_file()
    weights = (folder / "model.safetensors").read_bytes()
    again, reused = conditions.fine_tuned_checkpoint(job, cache_root=tmp_path, progress=False)
    assert reused and again == folder and (folder / "model.safetensors").read_bytes() == weights
    other = parse_training_job({**body, "learning_rate": 1e-4}, source="test")
    assert conditions.fine_tuned_checkpoint(other, cache_root=tmp_path, progress=False)[0] != folder
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.slow
def test_finetune_grid_notebook_writes_the_grid_tables_and_statistics(tiny_bert_dir, tmp_path, isolated_cache):
    import json

    from xqg_lab.core.config import RunConfig
    from xqg_lab.runner.run import run_config

    params = {
        "training": {"model_name_or_path": str(tiny_bert_dir), "data": {"source": "xquad", "seed": 13},
                     "preset": "dpr", "batch_size": 2, "max_steps": 1, "device": "cpu"},
        "langs": ["en", "ar"], "augment_langs": ["ar"], "alphas": [0.0, 0.3], "measures": ["MRR@10"],
        "alignment_measures": ["bitext_accuracy"], "n_bootstrap": 10,
    }  # fmt: skip
    config = RunConfig.parse({"run": "grid", "notebooks": [{"notebook": "finetune_grid", "parameters": params}]})
    run_dir = run_config(config, reports_dir=tmp_path, progress=False)
    assert json.loads((run_dir / "manifest.json").read_text())["notebooks"][0]["status"] == "ok"
    for name in ["grid_vs_zero_shot_table.md", "grid_xQG_on_fine_tuned_table.tex", "grid_effects.csv",
                 "grid_alignment_means.csv", "grid_conditions.png", "grid_training_loss.png", "grid.provenance.json"]:
        assert (run_dir / name).is_file(), name
    means = pd.read_csv(run_dir / "grid_means.csv")
    assert set(means["condition"]) == set(conditions.CONDITIONS) and set(means["lang"]) == {"en", "ar", "mean"}
    assert "Fine-tuning vs xQG" in (run_dir / "index.html").read_text()
