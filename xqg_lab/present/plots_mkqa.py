"""Charts of the MKQA study (presentation only: each takes a tidy frame, returns an ``alt.Chart``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd


def recall_chart(recall: pd.DataFrame, *, k: int, title: str = "") -> alt.Chart:
    """Bars of percent Recall@k per language, one colour per condition (:func:`xqg_lab.metrics.has_answer.recall_table`)."""
    import altair as alt

    column = f"R@{k}"
    if column not in recall.columns:
        raise ValueError(f"expected a {column!r} column in the recall table, found {list(recall.columns)}")
    return (
        alt.Chart(recall, title=title or f"MKQA QA Recall@{k} (% of scored questions)")
        .mark_bar()
        .encode(
            x=alt.X("lang:N", title="query language"),
            xOffset="condition:N",
            y=alt.Y(f"{column}:Q", title=f"Recall@{k} (%)"),
            color=alt.Color("condition:N"),
            tooltip=["condition", "lang", "n_scored", alt.Tooltip(f"{column}:Q", format=".1f")],
        )
    )


def alpha_chart(curve: pd.DataFrame, *, title: str = "") -> alt.Chart:
    """InfoNCE bound (nats) of English passage ``p'(α)`` <-> target query against α, per language
    and encoder (:func:`xqg_lab.studies.mkqa_alignment.alpha_curve`), with the bootstrap interval as error bars."""
    import altair as alt

    base = alt.Chart(curve).encode(x=alt.X("alpha:Q"), color=alt.Color("lang:N"))
    lines = base.mark_line(point=True).encode(y=alt.Y("value:Q", title="InfoNCE bound (nats)"),
                                              tooltip=["condition", "lang", "alpha", "value", "n"])  # fmt: skip
    bars = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="InfoNCE bound (nats)"), y2="ci_high:Q")
    title = title or "English passage p'(alpha) <-> target query: InfoNCE bound (nats), 95% interval"
    return (lines + bars).facet(column=alt.Column("encoder:N", title=None)).properties(title=title)
