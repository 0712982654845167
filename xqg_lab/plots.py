"""Charts (altair). Each function takes a tidy frame and returns an ``alt.Chart``."""

from __future__ import annotations

import pandas as pd


def per_language_chart(by_lang: pd.DataFrame, *, title: str = "") -> "alt.FacetChart":  # noqa: F821
    """Bars of every measure per language, one panel per measure.

    ``by_lang``: index ``lang``, one column per measure (values in [0, 1]) and optionally
    ``n_queries``. Languages are ordered by the first measure, best first.
    """
    import altair as alt

    measures = [c for c in by_lang.columns if c != "n_queries"]
    long = by_lang[measures].rename_axis("lang").reset_index().melt(
        id_vars="lang", var_name="measure", value_name="value"
    )
    order = by_lang[measures[0]].sort_values(ascending=False).index.tolist()
    return (
        alt.Chart(long, width=alt.Step(14), height=160)
        .mark_bar()
        .encode(
            x=alt.X("lang:N", sort=order, title="query language"),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
            color=alt.condition(alt.datum.lang == "en", alt.value("#4c78a8"), alt.value("#9ecae9")),
            tooltip=["lang", "measure", alt.Tooltip("value:Q", format=".3f")],
        )
        .facet(column=alt.Column("measure:N", sort=measures, title=None))
        .properties(title=title)
    )
