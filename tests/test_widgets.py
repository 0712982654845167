import numpy as np
import pandas as pd
import pytest

from xqg_lab.widgets import QueryExplorer, passage_view


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
    assert view.moved[["query_id", "change"]].values.tolist() == [["q1-de", 2.0], ["q1-zh", -1.0]]


def test_unknown_passage_is_refused(context):
    with pytest.raises(ValueError, match="'d9' is not a passage"):
        passage_view("d9", **context)


def test_explorer_callbacks_update_the_view(context):
    explorer = QueryExplorer(**context)
    assert explorer.view.passage["doc_id"] == "d1"
    explorer.picker.value = "d2"
    assert explorer.view.generated["text"].tolist() == ["Hund"]
    assert explorer.view.moved.empty
    explorer.picker.value = "d1"
    explorer.lang_filter.value = ("zh",)
    assert explorer.view.generated["text"].tolist() == ["狐狸"]
