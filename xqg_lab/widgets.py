"""The query explorer: pick a passage, see its generated queries and what augmentation did.

:func:`passage_view` computes everything shown for one passage (tidy frames, testable
without a browser); :class:`QueryExplorer` only wires it to ipywidgets.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


@dataclasses.dataclass
class PassageView:
    """What the explorer shows for one passage.

    Attributes
    ----------
    passage : one row: ``doc_id, title, text``.
    generated : its generated queries: ``lang, sample, text, in_target_language,
        similarity`` (inner product with the passage vector, same units as retrieval).
    moved : evaluation queries whose relevant passage this is: ``query_id, lang, text,
        rank_before, rank_after, change`` (positive = moved up after augmentation).
    """

    passage: pd.Series
    generated: pd.DataFrame
    moved: pd.DataFrame


def passage_view(
    doc_id: str,
    *,
    passages: pd.DataFrame,
    generated: pd.DataFrame,
    changes: pd.DataFrame,
    queries: pd.DataFrame,
    passage_vectors: np.ndarray,
    encoder,
) -> PassageView:
    """Everything about passage ``doc_id``; ``changes`` is :func:`xqg_lab.xqg.rank_changes`."""
    row = np.flatnonzero(passages["doc_id"].to_numpy() == doc_id)
    if len(row) != 1:
        raise ValueError(f"doc_id {doc_id!r} is not a passage of this collection")
    row = int(row[0])
    own = generated[generated["doc_id"] == doc_id].sort_values(["lang", "sample"])
    if "in_target_language" not in own.columns:
        own = own.assign(in_target_language=np.nan)
    if len(own):
        vectors = encoder.encode_queries(own["text"].tolist())
        own = own.assign(similarity=vectors @ passage_vectors[row])
    else:
        own = own.assign(similarity=pd.Series(dtype=float))
    moved = changes[changes["doc_id"] == doc_id].merge(queries[["query_id", "lang", "text"]], on="query_id")
    moved = moved[["query_id", "lang", "text", "rank_before", "rank_after", "change"]].sort_values(
        "change", ascending=False
    )
    return PassageView(
        passage=passages.iloc[row],
        generated=own[["lang", "sample", "text", "in_target_language", "similarity"]].reset_index(drop=True),
        moved=moved.reset_index(drop=True),
    )


class QueryExplorer:
    """A passage picker with its generated queries and the rank moves of its questions.

    Build it with the same keyword arguments as :func:`passage_view` (all but
    ``doc_id``) and display ``explorer.widget``. ``explorer.view`` holds the last
    :class:`PassageView` shown.
    """

    def __init__(self, **context):
        import ipywidgets as w

        self.context = context
        passages = context["passages"]
        labels = [
            (f"{d} · {t[:60]}", d) for d, t in zip(passages["doc_id"], passages["title"] + " — " + passages["text"])
        ]
        self.picker = w.Dropdown(options=labels, description="passage", layout=w.Layout(width="90%"))
        self.lang_filter = w.SelectMultiple(
            options=sorted(context["generated"]["lang"].unique()), description="languages", rows=4
        )
        self.output = w.Output()
        self.picker.observe(lambda _: self.show(), names="value")
        self.lang_filter.observe(lambda _: self.show(), names="value")
        self.widget = w.VBox([w.HBox([self.picker, self.lang_filter]), self.output])
        self.view: PassageView | None = None
        if labels:
            self.show()

    def show(self) -> PassageView:
        """Recompute the view of the selected passage and redraw it."""
        from IPython.display import Markdown, display

        view = passage_view(self.picker.value, **self.context)
        if self.lang_filter.value:
            view.generated = view.generated[view.generated["lang"].isin(self.lang_filter.value)]
        self.view = view
        self.output.clear_output(wait=True)
        with self.output:
            display(Markdown(f"**{view.passage['title']}** — {view.passage['text']}"))
            display(Markdown(f"Generated queries ({len(view.generated)}):"))
            display(view.generated)
            display(Markdown("Evaluation questions about this passage, rank before → after augmentation:"))
            display(view.moved)
        return view
