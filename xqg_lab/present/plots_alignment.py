"""Charts of the alignment study (altair). Each function takes a tidy frame from
:mod:`xqg_lab.studies.alignment_summary` and returns a chart; nothing is computed here."""

from __future__ import annotations

import pandas as pd


def measure_heatmap(scores: pd.DataFrame, *, title: str = "") -> "alt.FacetChart":  # noqa: F821
    """Measures (rows) x languages (columns), one panel per view.

    ``scores``: :func:`xqg_lab.studies.alignment_summary.heatmap_scores` (``view, lang, measure,
    value, ci_low, ci_high, n, reference, score``). Colour = ``score`` (the measure's z-score
    across the view's languages, positive = more aligned); the text is the raw value.
    """
    import altair as alt

    measures = list(dict.fromkeys(scores["measure"]))
    views = list(dict.fromkeys(scores["view"]))
    frame = scores.assign(label=scores["value"].map(lambda v: f"{v:.2f}" if pd.notna(v) else "n/a"))
    limit = max(float(frame["score"].abs().max()), 1.0)
    base = alt.Chart(frame).encode(
        x=alt.X("lang:N", title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("measure:N", sort=measures, title=None),
    )
    rects = base.mark_rect().encode(
        color=alt.Color(
            "score:Q",
            scale=alt.Scale(scheme="redblue", domain=[-limit, limit]),
            title=["z within measure", "(+ = more aligned)"],
        ),
        tooltip=[
            "view", "lang", "measure", "n",
            alt.Tooltip("value:Q", format=".4f"), alt.Tooltip("ci_low:Q", format=".4f"),
            alt.Tooltip("ci_high:Q", format=".4f"), alt.Tooltip("reference:Q", format=".4f"),
            alt.Tooltip("score:Q", format=".2f"),
        ],
    )  # fmt: skip
    text = base.mark_text(fontSize=9).encode(
        text="label:N",
        color=alt.condition(f"abs(datum.score) > {limit * 0.6}", alt.value("white"), alt.value("black")),
    )
    return (
        alt.layer(rects, text, width=alt.Step(38), height=alt.Step(18))
        .facet(row=alt.Row("view:N", sort=views, title=None, header=alt.Header(labelAngle=0, labelAlign="left")))
        .resolve_scale(x="independent")
        .properties(title=title)
    )


def alignment_alpha_chart(curve: pd.DataFrame, *, title: str = "", columns: int = 3) -> "alt.FacetChart":  # noqa: F821
    """Each measure against α (one panel per measure, own y scale), one line per language
    (click a language in the legend to highlight it, double-click to clear);
    α = 0 is the plain passage embedding p, α > 0 the augmented p'. Several augmented
    conditions are told apart by the dash pattern.

    ``curve``: :func:`xqg_lab.studies.alignment_summary.alpha_curve` (``condition, alpha, lang, measure,
    value, ci_low, ci_high, n, higher_is_better``).
    """
    import altair as alt

    measures = list(dict.fromkeys(curve["measure"]))
    higher = curve["higher_is_better"].astype("boolean")
    frame = curve.assign(
        direction=higher.map({True: "higher = more aligned", False: "lower = more aligned"}, na_action="ignore")
        .astype(object)
        .fillna("")
    )
    picked = alt.selection_point(fields=["lang"], bind="legend", on="click", clear="dblclick")
    base = alt.Chart(frame, width=170, height=120)
    lines = base.mark_line(point=alt.OverlayMarkDef(size=18), strokeWidth=1.3).encode(
        x=alt.X("alpha:Q", title="α (0 = plain p)"),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("lang:N", title="language", scale=alt.Scale(scheme="tableau20")),
        strokeDash=alt.StrokeDash("condition:N", title="condition"),
        opacity=alt.condition(picked, alt.value(1.0), alt.value(0.15)),
        tooltip=[
            "condition", "lang", "measure", "direction", "n",
            alt.Tooltip("alpha:Q", format=".3f"), alt.Tooltip("value:Q", format=".4f"),
            alt.Tooltip("ci_low:Q", format=".4f"), alt.Tooltip("ci_high:Q", format=".4f"),
        ],
    ).add_params(picked)  # fmt: skip
    return (
        lines.facet(facet=alt.Facet("measure:N", sort=measures, title=None), columns=columns)
        .resolve_scale(y="independent")
        .properties(title=title or "Alignment measures against α (xQG view: p at α = 0, p' above)")
    )
