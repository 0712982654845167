import numpy as np
import pandas as pd
import pytest

from xqg_lab.present.widgets import NOT_RETRIEVED, QueryExplorer, most_gained_passage, passage_view, view_html


@pytest.fixture
def context(table_encoder):
    passages = pd.DataFrame({"doc_id": ["d1", "d2"], "title": ["Fox", "Dog"], "text": ["quick fox", "lazy dog"]})
    generated = pd.DataFrame(
        {
            "doc_id": ["d1", "d1", "d2"],
            "lang": ["zh", "de", "de"],
            "sample": [0, 0, 0],
            "text": ["狐狸", "Fuchs", "Hund"],
            "in_target_language": [True, True, False],
        }
    )
    queries = pd.DataFrame({"query_id": ["q1-de", "q1-zh"], "lang": ["de", "zh"], "text": ["wer?", "谁?"]})
    changes = pd.DataFrame(
        {"query_id": ["q1-de", "q1-zh"], "doc_id": ["d1", "d1"], "rank_before": [3.0, 1.0], "rank_after": [1.0, 2.0], "change": [2.0, -1.0]}
    )
    table = {"狐狸": [1.0, 0.0], "Fuchs": [0.5, 0.5], "Hund": [0.0, 1.0]}
    return dict(
        passages=passages, generated=generated, changes=changes, queries=queries,
        passage_vectors=np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32), encoder=table_encoder(table),
    )


def test_passage_view_lists_generated_queries_with_similarity_and_rank_moves(context):
    view = passage_view("d1", **context)
    assert view.passage["title"] == "Fox"
    assert view.generated[["lang", "text"]].values.tolist() == [["de", "Fuchs"], ["zh", "狐狸"]]
    assert view.generated["similarity"].tolist() == [0.5, 1.0]
    assert view.moved[["query_id", "change"]].values.tolist() == [["q1-de", 2], ["q1-zh", -1]]
    assert str(view.moved["rank_before"].dtype) == "Int64" and view.moved["movement"].tolist() == ["up 2", "down 1"]


def test_ranks_are_integers_with_not_retrieved_spelled_out_and_ordered_by_change(context):
    inf = float("inf")
    context["queries"] = pd.DataFrame({"query_id": [f"q{i}" for i in range(5)], "lang": ["de"] * 5, "text": list("abcde")})
    context["changes"] = pd.DataFrame({
        "query_id": [f"q{i}" for i in range(5)], "doc_id": ["d1"] * 5,
        "rank_before": [2.0, inf, 5.0, inf, 1.0], "rank_after": [4.0, 91.0, 1.0, inf, inf],
        "change": [-2.0, float("nan"), 4.0, float("nan"), float("nan")],
    })  # fmt: skip
    moved = passage_view("d1", **context).moved
    assert moved["query_id"].tolist() == ["q1", "q2", "q0", "q3", "q4"]  # entered, up 4, down 2, never, left
    assert moved["movement"].tolist() == [
        "entered the ranking at 91", "up 4", "down 2", NOT_RETRIEVED, "left the ranking"
    ]
    page = view_html(passage_view("d1", **context))
    assert "<td" in page and ">91<" in page and "91.0" not in page and "inf" not in page and "nan" not in page.lower()
    assert page.count(f">{NOT_RETRIEVED}<") == 5  # ranks: q1 before, q3 both, q4 after; q3 change


def test_page_lists_every_generated_query_by_language_with_full_text(context):
    long = "Wie heißt der sehr schnelle braune Fuchs, der über den faulen Hund springt, wirklich?"
    many = pd.DataFrame({"doc_id": "d1", "lang": ["de"] * 40 + ["zh"] * 37, "sample": [*range(40), *range(37)],
                         "text": [f"{long} {i}" for i in range(40)] + [f"狐狸 {i}" for i in range(37)]})  # fmt: skip
    context["generated"] = many
    context["encoder"] = _constant_encoder()
    page = view_html(passage_view("d1", **context))
    assert "77 in 2 language(s)" in page
    for i in range(40):
        assert f"{long} {i}<" in page
    for i in range(37):
        assert f"狐狸 {i}<" in page
    assert page.index("<b>de</b> (40)") < page.index("<b>zh</b> (37)")


def _constant_encoder():
    class Constant:
        def encode_queries(self, texts):
            return np.ones((len(texts), 2), dtype=np.float32)

    return Constant()


def test_most_gained_passage_sums_the_changes():
    changes = pd.DataFrame({"doc_id": ["a", "b", "b"], "change": [3.0, 2.0, 2.0]})
    assert most_gained_passage(changes) == "b"
    with pytest.raises(ValueError, match="found none"):
        most_gained_passage(changes.iloc[:0])


def test_unknown_passage_is_refused(context):
    with pytest.raises(ValueError, match="'d9' is not a passage"):
        passage_view("d9", **context)


def test_explorer_callbacks_update_the_view(context):
    explorer = QueryExplorer(**context)
    assert explorer.view.passage["doc_id"] == "d1"
    assert explorer.controls.langs == ["de", "zh"]  # every language of the queries, none hidden
    explorer.controls.doc_id = "d2"
    assert explorer.view.generated["text"].tolist() == ["Hund"]
    assert explorer.view.moved.empty
    explorer.controls.doc_id = "d1"
    explorer.controls.selected_langs = ["zh"]
    assert explorer.view.generated["text"].tolist() == ["狐狸"]
    assert explorer.view.moved["query_id"].tolist() == ["q1-zh"]  # the filter applies to both tables
    assert "Fuchs" not in explorer.page.value and "狐狸" in explorer.page.value


def test_explorer_publishes_its_static_page_beside_the_widget(context):
    explorer = QueryExplorer(**context, doc_id="d2")
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Hund" in bundle["text/html"] and bundle["text/html"] == explorer.page.value
