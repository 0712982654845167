"""Charts (altair). Each function takes a tidy frame and returns an ``alt.Chart``.

Charts carry their interactions (tooltips; click a language or condition, in the chart or its
legend, to highlight it; drag and scroll to pan and zoom the α curves); they work where the
chart is drawn by Vega, i.e. with :func:`use_renderer` ``(interactive=True)`` in JupyterLab.
"""

from __future__ import annotations

import pandas as pd


def use_renderer(*, interactive: bool) -> str:
    """Choose how notebooks show charts; returns the altair renderer's name.

    ``interactive=True``: altair's widget renderer (``JupyterChart``, an anywidget) with its
    JavaScript (Vega, Vega-Lite, vega-embed) bundled by vl-convert, so charts are drawn and
    respond in JupyterLab with no network; they need a live kernel, so an exported report
    shows nothing for them. ``False``: static SVG embedded in the notebook (reports, papermill).
    """
    import altair as alt

    if interactive:
        alt.renderers.enable("jupyter", offline=True)
    else:
        alt.renderers.enable("svg")
    return alt.renderers.active


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
    picked = alt.selection_point(fields=["lang"], on="click", clear="dblclick")
    return (
        alt.Chart(long, width=max(14 * len(order), 60), height=160)
        .mark_bar()
        .encode(
            x=alt.X("lang:N", sort=order, title=None),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
            color=alt.condition(alt.datum.lang == "en", alt.value("#4c78a8"), alt.value("#9ecae9")),
            opacity=alt.condition(picked, alt.value(1.0), alt.value(0.3)),
            tooltip=["lang", "measure", alt.Tooltip("value:Q", format=".3f")],
        )
        .add_params(picked)
        .facet(column=alt.Column("measure:N", sort=measures, title=None))
        .properties(title=alt.Title(title, subtitle="per query language; click a bar to highlight its language"))
    )


def alpha_curve_chart(curve: pd.DataFrame, *, measure: str, title: str = "") -> "alt.LayerChart":  # noqa: F821
    """One line per language of ``measure`` against α, with each language's α = 0
    baseline as a dashed rule.

    ``curve``: tidy ``alpha, lang, measure, value`` (see :class:`xqg_lab.studies.xqg.XQGResult`);
    the optional ``condition`` column facets the chart into rows.
    """
    import altair as alt

    frame = curve[curve["measure"] == measure]
    if frame.empty:
        raise ValueError(f"no values for measure {measure!r}; available: {sorted(curve['measure'].unique())}")
    picked = alt.selection_point(fields=["lang"], bind="legend", on="click", clear="dblclick")
    zoom = alt.selection_interval(bind="scales")
    base = alt.Chart(frame)
    lines = base.mark_line(point=True).encode(
        x=alt.X(
            "alpha:Q",
            title="α (symlog scale)",
            scale=alt.Scale(type="symlog", constant=0.01),
            axis=alt.Axis(values=sorted(frame["alpha"].unique().tolist()), format="g", labelAngle=-45),
        ),
        y=alt.Y("value:Q", title=measure, scale=alt.Scale(zero=False)),
        color=alt.Color("lang:N", title="language", scale=alt.Scale(scheme="tableau20")),
        opacity=alt.condition(picked, alt.value(1.0), alt.value(0.15)),
        tooltip=["lang", alt.Tooltip("alpha:Q", format=".3f"), alt.Tooltip("value:Q", format=".3f")],
    ).add_params(picked, zoom)
    rules = base.transform_filter(alt.datum.alpha == 0).mark_rule(strokeDash=[4, 4]).encode(
        y="value:Q", color="lang:N", opacity=alt.condition(picked, alt.value(0.5), alt.value(0.1))
    )
    chart = alt.layer(lines, rules)
    if "condition" in frame.columns:
        chart = chart.facet(row=alt.Row("condition:N", title=None))
    return chart.properties(title=title or f"{measure} against α (dashed: α = 0 baseline)")


def pass_rate_chart(rates: pd.DataFrame) -> "alt.Chart":  # noqa: F821
    """Bars of the language-check pass rate per language.

    ``rates``: ``lang, n, n_pass, pass_rate`` (see
    :func:`xqg_lab.generate.langcheck.pass_rate_by_language`).
    """
    import altair as alt

    return (
        alt.Chart(rates, height=160, title="generated queries in the target language/script")
        .mark_bar()
        .encode(
            x=alt.X("lang:N", title="target language"),
            y=alt.Y("pass_rate:Q", scale=alt.Scale(domain=[0, 1]), title="pass rate"),
            tooltip=["lang", "n", "n_pass", alt.Tooltip("pass_rate:Q", format=".2f")],
        )
    )


def conditions_chart(means: pd.DataFrame, *, measure: str, title: str = "") -> "alt.Chart":  # noqa: F821
    """Dot plot of ``measure`` per language, one dot per condition (four-condition grid).

    ``means``: tidy ``condition, lang, measure, value`` (:func:`xqg_lab.studies.grid.grid_means`);
    conditions keep their order of appearance, languages are ordered by the first condition.
    Dots rather than bars: the axis does not start at zero, so differences of a few points show.
    """
    import altair as alt

    frame = means[means["measure"] == measure]
    if frame.empty:
        raise ValueError(f"no values for measure {measure!r}; available: {sorted(means['measure'].unique())}")
    conditions = list(dict.fromkeys(frame["condition"]))
    first = frame[frame["condition"] == conditions[0]].sort_values("value", ascending=False)
    picked = alt.selection_point(fields=["condition"], bind="legend", on="click", clear="dblclick")
    return (
        alt.Chart(frame, width=420)
        .mark_point(filled=True, size=70)
        .encode(
            y=alt.Y("lang:N", sort=first["lang"].tolist(), title="query language"),
            x=alt.X("value:Q", title=measure, scale=alt.Scale(zero=False)),
            color=alt.Color("condition:N", scale=alt.Scale(domain=conditions, scheme="paired"), title=None),
            shape=alt.Shape("condition:N", scale=alt.Scale(domain=conditions), title=None),
            opacity=alt.condition(picked, alt.value(0.85), alt.value(0.15)),
            tooltip=["condition", "lang", alt.Tooltip("value:Q", format=".3f")],
        )
        .add_params(picked)
        .properties(title=title or f"{measure} per language: zero-shot vs fine-tuned, without and with xQG")
    )


def loss_curve_chart(curve: pd.DataFrame, *, title: str = "training loss") -> "alt.Chart":  # noqa: F821
    """Training loss against the optimizer step; ``curve``: ``step, loss`` (nats)."""
    import altair as alt

    return (
        alt.Chart(curve, width=420, height=180)
        .mark_line(point=True)
        .encode(x=alt.X("step:Q", title="optimizer step"), y=alt.Y("loss:Q", title="InfoNCE loss (nats)"))
        .properties(title=title)
    )
