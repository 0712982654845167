"""Paired views (xqg_lab.alignment.pairs), the conditions side by side (xqg_lab.studies.alignment, alignment_summary) and
one papermill run of the alignment notebook."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from xqg_lab.studies import alignment as study
from xqg_lab.studies import alignment_summary as summary
from xqg_lab.alignment import pairs
from xqg_lab.alignment import alignment_report


class FakeEncoder:
    """Deterministic vectors: a text's vector is a Gaussian draw seeded by its hash, plus
    ``shared`` times a draw seeded by the text's *key* (the part after "|"), so texts sharing
    a key are correlated; queries and passages get different offsets."""

    def __init__(self, dim: int = 16, shared: float = 2.0, salt: str = ""):
        self.dim, self.shared, self.salt = dim, shared, salt

    def _draw(self, s: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256((self.salt + s).encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dim)

    def encode(self, texts, *, role):
        rows = []
        for t in texts:
            key = t.split("|")[-1]
            rows.append(self._draw(t) + self.shared * self._draw("key:" + key) + (0.5 if str(getattr(role, "value", role)) == "passage" else 0.0))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_queries(self, texts):
        return self.encode(texts, role="query")


@pytest.fixture(scope="module")
def xquad():
    from xqg_lab.data import load_xquad

    return load_xquad()


@pytest.fixture(scope="module")
def heldout(xquad):
    from xqg_lab.generate.heldout import split_questions

    split = split_questions(xquad.queries, xquad.qrels, eval_fraction=0.5, seed=0)
    return split, pairs.heldout_queries(xquad, split)


# ------------------------------------------------------------------------------ real views


def test_xquad_question_pairs_1190_per_language_aligned_by_question(xquad):
    view = pairs.xquad_question_pairs(["ar", "zh"], data=xquad)
    assert view.groupby("lang").size().to_dict() == {"ar": 1190, "zh": 1190}
    assert view["pair_id"].is_unique and list(view.columns[:4]) == list(pairs.PAIR_COLUMNS)
    en = xquad.queries[xquad.queries["lang"] == "en"].set_index("question_id")["text"]
    assert (view["src_text"] == view["question_id"].map(en)).all()
    zh = xquad.queries.set_index("query_id")["text"]
    assert (view["tgt_text"] == view["pair_id"].map(zh)).all()


def test_xquad_passage_pairs_one_row_per_question_or_per_passage(xquad):
    view = pairs.xquad_passage_pairs(["de"], data=xquad)
    assert len(view) == 1190 and view["pair_id"].is_unique
    title, text = xquad.passages.set_index("doc_id").loc[view["doc_id"].iloc[0], ["title", "text"]]
    assert view["src_text"].iloc[0] == f"{title} {text}"  # what encode_passages encodes
    one = pairs.xquad_passage_pairs(["de"], data=xquad, max_per_passage=1, seed=3)
    assert len(one) == 240 and one["doc_id"].is_unique and one["src_text"].is_unique
    both = pairs.xquad_passage_pairs(["ar", "de"], data=xquad, max_per_passage=1, seed=3)
    assert both[both["lang"] == "de"].reset_index(drop=True).equals(one)  # independent of the other languages
    assert (both.groupby("doc_id")["question_id"].nunique() == 1).all()  # the same question in every language


@pytest.mark.filterwarnings("ignore:dropped 1 pair")  # the empty Arabic pair of the upstream file
def test_xor_translation_pairs_all_seven_languages():
    view = pairs.xor_translation_pairs()
    counts = view.groupby("lang").size()
    assert sorted(counts.index) == ["ar", "bn", "fi", "ja", "ko", "ru", "te"]
    assert counts.between(4600, 4800).all(), counts.to_dict()  # ar 4648 ... te 4761 (one empty ar pair dropped)
    assert view["pair_id"].is_unique


def test_tatoeba_pairs_map_iso_codes_and_keep_the_given_code():
    te = pairs.tatoeba_pairs(["te"])
    tel = pairs.tatoeba_pairs(["tel"])
    assert len(te) == len(tel) == 234
    assert set(te["lang"]) == {"te"} and set(tel["lang"]) == {"tel"}
    assert te["tgt_text"].equals(tel["tgt_text"])
    assert set(pairs.TATOEBA_CODES[lang] for lang in pairs.VIEWS[pairs.View.TATOEBA].default_langs) == {
        "ara", "ben", "fin", "jpn", "kor", "rus", "tel"
    }


def test_mkqa_sample_has_6_pairs_per_language_and_says_so():
    with pytest.warns(UserWarning, match="only 6 pairs per language"):
        view = pairs.mkqa_pairs(source="sample")
    counts = view.groupby("lang").size()
    assert len(counts) == 25 and (counts == 6).all() and "en" not in counts.index
    notes = pairs.pair_counts({"mkqa": view})
    assert (notes["note"].str.contains("only 6 pairs")).all()
    assert "N = 6" in summary.counts_notice(notes)


# ----------------------------------------------------------------------- the xQG view


def test_xqg_view_has_no_augmentation_question_on_the_target_side(xquad, heldout):
    split, augment = heldout
    view = pairs.xqg_pairs(xquad, split, augment=augment)
    augmentation_ids = set(split.loc[split["role"] == "augmentation", "question_id"])
    assert set(augment["question_id"]) <= augmentation_ids
    assert not set(view["question_id"]) & set(augment["question_id"])
    assert not set(view["question_id"]) & augmentation_ids
    assert set(view["lang"]) == {"ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"}
    assert "en" not in set(augment["lang"])
    # one row per (evaluation question, its paragraph), every paragraph with augmentation queries
    assert view["pair_id"].is_unique
    gold = xquad.qrels.set_index("query_id")["doc_id"]
    assert (view["doc_id"] == view["pair_id"].map(gold)).all()
    assert set(view["doc_id"]) <= set(augment["doc_id"])


def test_xqg_pairs_refuses_augmentation_that_overlaps_the_targets(xquad, heldout):
    split, augment = heldout
    question, doc = split.loc[split["role"] == "evaluation", ["question_id", "doc_id"]].iloc[0]
    text = xquad.queries.set_index("query_id").loc[f"{question}-de", "text"]
    extra = pd.DataFrame([{"doc_id": doc, "lang": "de", "sample": 99, "text": text, "question_id": question}])
    with pytest.raises(ValueError, match="disjoint"):
        pairs.xqg_pairs(xquad, split, langs=["de"], augment=pd.concat([augment, extra], ignore_index=True))


def test_xqg_target_language_augmentation_drops_passages_without_queries_in_that_language(xquad, heldout):
    split, augment = heldout
    target = pairs.xqg_pairs(xquad, split, langs=["ar"], augment=augment[augment["lang"] != "ar"], augment_langs="target")
    assert target.empty
    with pytest.raises(ValueError, match="augment_langs"):
        pairs.xqg_pairs(xquad, split, augment_langs="english")


def test_augmented_sources_is_the_xqg_formula_with_the_mean_rule():
    view = pd.DataFrame(
        {"pair_id": ["a", "b", "c"], "lang": ["ar", "ar", "de"], "src_text": ["P1", "P2", "P1"],
         "tgt_text": ["q1", "q2", "q3"], "doc_id": ["d1", "d2", "d1"]}
    )  # fmt: skip
    augment = pd.DataFrame(
        {"doc_id": ["d1", "d1", "d2"], "lang": ["ar", "de", "ar"], "sample": [0, 0, 0], "text": ["x", "y", "z"]}
    )
    enc = FakeEncoder()
    out = pairs.augmented_sources(view, enc, augment, alphas=[0.0, 0.25], rule="mean")
    P = enc.encode(["P1", "P2", "P1"], role="passage")
    q = dict(zip("xyz", enc.encode_queries(["x", "y", "z"])))
    S = np.stack([(q["x"] + q["y"]) / 2, q["z"], (q["x"] + q["y"]) / 2])
    np.testing.assert_allclose(out[0.0], P, rtol=1e-6)
    np.testing.assert_allclose(out[0.25], 0.75 * P + 0.25 * S, rtol=1e-5, atol=1e-6)
    target = pairs.augmented_sources(view, enc, augment, alphas=[0.25], augment_langs="target")[0.25]
    np.testing.assert_allclose(target[2], 0.75 * P[2] + 0.25 * q["y"], rtol=1e-5, atol=1e-6)



def test_augmented_sources_keep_passages_without_queries():
    view = pd.DataFrame(
        {"pair_id": ["a", "b", "c"], "lang": ["ar", "ar", "de"], "src_text": ["P1", "P2", "P1"],
         "tgt_text": ["q1", "q2", "q3"], "doc_id": ["d1", "d2", "d1"]}
    )  # fmt: skip
    only_d1 = pd.DataFrame({"doc_id": ["d1"], "lang": ["ar"], "sample": [0], "text": ["x"]})
    enc = FakeEncoder()
    P = enc.encode(["P1", "P2", "P1"], role="passage")
    kept = pairs.augmented_sources(view, enc, only_d1, alphas=[0.5])[0.5]
    np.testing.assert_allclose(kept[1], P[1], rtol=1e-6)  # d2 has no query: p' = p
    literal = pairs.augmented_sources(view, enc, only_d1, alphas=[0.5], on_no_query="literal")[0.5]
    np.testing.assert_allclose(literal[1], 0.5 * P[1], rtol=1e-6)
    assert pairs.passages_without_queries(view, only_d1) == {"all": 1}
    # per target language: d2 lacks an Arabic query, d1 a German one
    assert pairs.passages_without_queries(view, only_d1, augment_langs="target") == {"ar": 1, "de": 1}
    target = pairs.augmented_sources(view, enc, only_d1, alphas=[0.5], augment_langs="target")[0.5]
    np.testing.assert_allclose(target[2], P[2], rtol=1e-6)


# ----------------------------------------------------------------- compare_conditions


def _tiny_views(n: int = 12):
    rows, xqg = [], []
    for lang in ("ar", "de"):
        for i in range(n):
            rows.append({"pair_id": f"q{i}-{lang}", "lang": lang, "src_text": f"en {i}|{i}", "tgt_text": f"{lang} {i}|{i}"})
            xqg.append({"pair_id": f"e{i}-{lang}", "lang": lang, "src_text": f"passage {i}|p{i}",
                        "tgt_text": f"{lang} question {i}|p{i}", "doc_id": f"d{i}"})  # fmt: skip
    augment = pd.DataFrame(
        [{"doc_id": f"d{i}", "lang": lang, "sample": 0, "text": f"{lang} other question {i}|p{i}"} for i in range(n) for lang in ("ar", "de")]
    )
    return {"xquad_questions": pd.DataFrame(rows), "xqg": pd.DataFrame(xqg)}, augment


def test_compare_conditions_rows_per_view_condition_alpha_language():
    views, augment = _tiny_views()
    measures = ["infonce_bound", "bitext_accuracy", "linear_cka"]
    results = study.compare_conditions(
        views, FakeEncoder(), heldout=augment, finetuned=FakeEncoder(salt="ft"), alphas=[0.0, 0.5],
        measures=measures, n_bootstrap=5, seed=1,
    )  # fmt: skip
    assert list(results.columns) == list(study.RESULT_COLUMNS)
    head = results[results["name"] == results["measure"]]
    cells = set(zip(head["view"], head["condition"], head["alpha"], head["lang"]))
    expected = {(v, c, 0.0, lang) for v in views for c in ("plain", "finetuned") for lang in ("ar", "de")}
    expected |= {("xqg", "xqg_heldout", 0.5, lang) for lang in ("ar", "de")}
    assert cells == expected
    assert len(head) == len(expected) * len(measures)
    assert (head["n"] == 12).all() and (head["note"] == "").all()
    # a plain row is exactly alignment_report on the embedded view
    sub = views["xquad_questions"][views["xquad_questions"]["lang"] == "de"]
    X, Y = pairs.embed_view(sub, FakeEncoder(), "xquad_questions")
    direct = alignment_report(X, Y, measures=measures, n_bootstrap=5, seed=1)
    mine = results[(results["view"] == "xquad_questions") & (results["condition"] == "plain") & (results["lang"] == "de")]
    np.testing.assert_allclose(mine["value"].to_numpy(), direct["value"].to_numpy())
    assert set(results.attrs["seconds_by_measure"]) == set(measures)


def test_compare_conditions_records_a_measure_that_cannot_run_as_nan_with_its_reason():
    views, _ = _tiny_views(n=6)
    with pytest.warns(UserWarning, match="gaussian_mi not computed"):
        results = study.compare_conditions(
            {"xquad_questions": views["xquad_questions"]}, FakeEncoder(), measures=["gaussian_mi", "bitext_accuracy"], n_bootstrap=0
        )
    gauss = results[results["measure"] == "gaussian_mi"]
    assert gauss["value"].isna().all() and gauss["note"].str.contains("pairs").all() and (gauss["n"] == 6).all()
    assert results.loc[results["measure"] == "bitext_accuracy", "value"].notna().all()


def test_cached_compare_conditions_equals_a_fresh_one_with_one_entry_per_cell(isolated_cache):
    views, augment = _tiny_views(n=6)
    kwargs = dict(heldout=augment, alphas=[0.0, 0.5], measures=["gaussian_mi", "bitext_accuracy", "linear_cka"],
                  n_bootstrap=5, seed=1)  # fmt: skip
    with pytest.warns(UserWarning, match="gaussian_mi not computed"):
        fresh = study.compare_conditions(views, FakeEncoder(), **kwargs)
    for _ in range(2):  # computed and kept, then read back with its warnings
        with pytest.warns(UserWarning, match="gaussian_mi not computed"):
            cached = study.compare_conditions(views, FakeEncoder(), cache=True, **kwargs)
        pd.testing.assert_frame_equal(cached, fresh)
        assert set(cached.attrs["seconds_by_measure"]) == {"gaussian_mi", "bitext_accuracy", "linear_cka"}
    cells = fresh[["view", "condition", "alpha", "lang"]].drop_duplicates()
    assert len(list((isolated_cache / "results").glob("*.parquet"))) == len(cells) == 6


def test_compare_conditions_validates_inputs():
    views, augment = _tiny_views()
    with pytest.raises(ValueError, match="no 'xqg' view"):
        study.compare_conditions({"xquad_questions": views["xquad_questions"]}, FakeEncoder(), heldout=augment)
    with pytest.raises(ValueError, match="expected a view name to be one of"):
        study.compare_conditions({"bitext": views["xquad_questions"]}, FakeEncoder())
    with pytest.raises(ValueError, match="unknown keyword 'n_perm'"):
        study.compare_conditions(views, FakeEncoder(), measures=["ksg_mi"], options={"ksg_mi": {"n_perm": 3}})


def test_max_pairs_draws_the_same_subsample_for_every_condition():
    views, augment = _tiny_views(n=30)
    results = study.compare_conditions(views, FakeEncoder(), heldout=augment, alphas=[0.3], measures=["bitext_accuracy"],
                                       n_bootstrap=0, max_pairs=10)  # fmt: skip
    assert (results["n"] == 10).all()
    sub = pairs.subsample_pairs(views["xqg"], max_pairs=10, seed=0)
    assert sub.groupby("lang").size().tolist() == [10, 10] and sub.equals(pairs.subsample_pairs(views["xqg"], max_pairs=10, seed=0))


# ------------------------------------------------------------------ disagreement table


def _fixture_results():
    """plain vs xqg_heldout at α = 0.3, two languages, hand-set values and intervals."""
    rows = []

    def add(condition, alpha, lang, measure, value, half, higher):
        rows.append({"view": "xqg", "condition": condition, "alpha": alpha, "lang": lang, "measure": measure,
                     "name": measure, "value": value, "ci_low": value - half, "ci_high": value + half, "n": 100, "reference": math.nan,
                     "higher_is_better": higher})  # fmt: skip

    plain = {"infonce_bound": (3.0, 0.1, True), "bitext_accuracy": (0.6, 0.02, True),
             "alignment_loss": (0.4, 0.01, False), "linear_cka": (0.5, 0.05, True),
             "uniformity_loss": (-1.0, 0.01, False)}  # fmt: skip
    for lang in ("ar", "de"):
        for m, (v, h, hib) in plain.items():
            add("plain", 0.0, lang, m, v, h, hib)
    # ar: infonce up by 0.2 > 0.1 (more), bitext down 0.05 > 0.02 (less), alignment_loss down 0.03 (more),
    #     CKA up 0.01 < 0.05 (no clear change), uniformity up (less, but it does not vote)
    for m, v in {"infonce_bound": 3.2, "bitext_accuracy": 0.55, "alignment_loss": 0.37, "linear_cka": 0.51,
                 "uniformity_loss": -0.9}.items():  # fmt: skip
        add("xqg_heldout", 0.3, "ar", m, v, 0.1, plain[m][2])
    # de: everything agrees (more aligned or no clear change)
    for m, v in {"infonce_bound": 3.3, "bitext_accuracy": 0.65, "alignment_loss": 0.35, "linear_cka": 0.5,
                 "uniformity_loss": -0.9}.items():  # fmt: skip
        add("xqg_heldout", 0.3, "de", m, v, 0.1, plain[m][2])
    frame = pd.DataFrame(rows)
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    return frame


def test_measure_changes_uses_the_baseline_half_width_and_direction():
    changes = summary.measure_changes(_fixture_results())
    ar = changes[changes["lang"] == "ar"].set_index("measure")
    assert ar["change"].to_dict() == {
        "infonce_bound": "more aligned",
        "bitext_accuracy": "less aligned",
        "alignment_loss": "more aligned",
        "linear_cka": "within baseline CI",
        "uniformity_loss": "less aligned",
    }
    assert ar.loc["infonce_bound", "delta"] == pytest.approx(0.2)
    assert ar.loc["bitext_accuracy", "half_width"] == pytest.approx(0.02)


def test_estimator_disagreements_lists_only_contradicting_cells():
    changes = summary.measure_changes(_fixture_results())
    table = summary.estimator_disagreements(changes)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["view"], row["condition"], row["alpha"], row["lang"]) == ("xqg", "xqg_heldout", 0.3, "ar")
    assert row["more_aligned"] == "infonce_bound, alignment_loss"
    assert row["less_aligned"] == "bitext_accuracy"
    assert row["no_clear_change"] == "linear_cka"
    # uniformity alone against the others is no disagreement: it does not vote by default
    assert summary.estimator_disagreements(changes, measures=["alignment_loss", "uniformity_loss"])["lang"].tolist() == ["ar", "de"]
    lines = summary.summarize_disagreements(changes)
    assert len(lines) == 1 and "contradict each other in 1 of 2 languages (ar)" in lines[0]


def test_heatmap_scores_are_signed_z_scores_within_view_and_measure():
    results = _fixture_results()
    shifted = results.assign(value=results["value"] + (results["lang"] == "de") * 0.5)  # intervals unchanged
    scores = summary.heatmap_scores(shifted)
    loss = scores[scores["measure"] == "alignment_loss"].set_index("lang")["score"]
    assert loss["de"] == pytest.approx(-1.0) and loss["ar"] == pytest.approx(1.0)  # higher loss = less aligned
    nce = scores[scores["measure"] == "infonce_bound"].set_index("lang")["score"]
    assert nce["de"] == pytest.approx(1.0)
    # a difference smaller than the bootstrap half-width is not stretched to full colour:
    # infonce de - ar = 0.02, spread (std) 0.01, half-width 0.1 -> z = 0.01 / 0.1
    close = summary.heatmap_scores(results.assign(value=results["value"] + (results["lang"] == "de") * 0.02))
    assert close.set_index(["measure", "lang"]).loc[("infonce_bound", "de"), "score"] == pytest.approx(0.1)


def test_alpha_curve_starts_each_augmented_line_at_the_plain_value():
    curve = summary.alpha_curve(_fixture_results())
    ar = curve[(curve["lang"] == "ar") & (curve["measure"] == "infonce_bound")]
    assert ar["alpha"].tolist() == [0.0, 0.3] and ar["value"].tolist() == pytest.approx([3.0, 3.2])
    assert set(curve["condition"]) == {"xqg_heldout"}


def test_alignment_charts_render_to_vega_lite():
    from xqg_lab.present import plots_alignment

    results = _fixture_results()
    heat = plots_alignment.measure_heatmap(summary.heatmap_scores(results)).to_dict()
    assert heat["facet"]["row"]["field"] == "view"
    alpha = plots_alignment.alignment_alpha_chart(summary.alpha_curve(results)).to_dict()
    assert alpha["resolve"]["scale"]["y"] == "independent"


# --------------------------------------------------------------------- the notebook


@pytest.mark.parametrize("tiny_encoder_dir", ["bert"], indirect=True)
def test_alignment_notebook_papermill_run(tiny_encoder_dir, tmp_path, isolated_cache):
    from xqg_lab.core.config import RunConfig
    from xqg_lab.runner import run_config

    params = {
        "encoder": str(tiny_encoder_dir), "preset": "dpr", "views": ["xquad_questions", "tatoeba", "mkqa", "xqg"], "langs": ["ar"],
        "alphas": [0.0, 0.5], "n_bootstrap": 5, "max_pairs": 40, "batch_size": 16,
        "measure_options": {"ksg_mi": {"n_permutations": 3}, "language_probe": {"n_splits": 2}},
    }  # fmt: skip
    config = RunConfig.parse({"run": "tiny-alignment", "notebooks": [{"notebook": "alignment", "parameters": params}]})
    run_dir = run_config(config, reports_dir=tmp_path / "reports", progress=False)
    for name in ["alignment.ipynb", "alignment.html", "alignment_pairs.csv", "alignment_results.csv",
                 "alignment_by_lang.csv", "alignment_heatmap.svg", "alignment_alpha.png", "alignment_changes.csv",
                 "alignment_disagreements.csv", "alignment_heldout_split.csv"]:  # fmt: skip
        assert (run_dir / name).is_file(), name
    results = pd.read_csv(run_dir / "alignment_results.csv")
    assert set(results["view"]) == {"xquad_questions", "tatoeba", "mkqa", "xqg"}
    assert set(results.loc[results["view"] == "xqg", "condition"]) == {"plain", "xqg_heldout"}
    assert (results.loc[results["view"] == "mkqa", "n"] == 6).all()
    assert (results.loc[results["view"] != "mkqa", "n"] == 40).all()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    provenance = manifest["provenance"]["alignment"]
    assert manifest["notebooks"][0]["status"] == "ok"
    assert {"xquad.en", "tatoeba.ara.ara", "mkqa.sample"} <= {f["name"] for f in provenance["data_files"]}
    assert provenance["heldout_split"]["n_questions"] == 1190 and not math.isnan(provenance["seconds_total"])
    html = (run_dir / "alignment.html").read_text()
    assert "too few pairs" in html and "N = 6" in html
