"""The query explorer: pick a passage, see its generated queries and what augmentation did.

:func:`passage_view` computes everything shown for one passage (tidy frames, testable
without a browser), :func:`view_html` lays it out as HTML, and :class:`QueryExplorer` only
wires them to ipywidgets. Chinese, Japanese or Korean text needs a CJK font on the machine
running the browser (Debian/Ubuntu: ``fonts-noto-cjk`` or ``fonts-wqy-zenhei``); the HTML
names the usual CJK fonts first and falls back to the browser's default.
"""

from __future__ import annotations

import dataclasses
import html

import numpy as np
import pandas as pd

NOT_RETRIEVED = "not retrieved"
FONTS = '"Noto Sans", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC", "Microsoft YaHei", sans-serif'


@dataclasses.dataclass
class PassageView:
    """What the explorer shows for one passage.

    Attributes
    ----------
    passage : one row: ``doc_id, title, text``.
    generated : its generated queries, by language: ``lang, sample, text, in_target_language,
        similarity`` (inner product with the passage vector, same units as retrieval).
    moved : evaluation queries whose relevant passage this is: ``query_id, lang, text,
        rank_before, rank_after`` (Int64, 1 = top; ``<NA>`` = not retrieved within the run's
        depth), ``change`` (Int64, positive = moved up; ``<NA>`` when a rank is missing) and
        ``movement`` (words); ordered from the largest gain to the largest loss, questions
        that entered the ranking first and those that left it last.
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
    """Everything about passage ``doc_id``; ``changes`` is :func:`xqg_lab.studies.xqg.rank_changes`."""
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
    return PassageView(
        passage=passages.iloc[row],
        generated=own[["lang", "sample", "text", "in_target_language", "similarity"]].reset_index(drop=True),
        moved=_ranked_moves(moved),
    )


def _ranked_moves(moved: pd.DataFrame) -> pd.DataFrame:
    """Integer ranks (``<NA>`` = not retrieved), the change, its description, ordered by change."""
    before = moved["rank_before"].astype(float).replace(np.inf, np.nan).round().astype("Int64")
    after = moved["rank_after"].astype(float).replace(np.inf, np.nan).round().astype("Int64")
    change = before - after
    movement = [
        NOT_RETRIEVED if pd.isna(b) and pd.isna(a)
        else f"entered the ranking at {a}" if pd.isna(b)
        else "left the ranking" if pd.isna(a)
        else "unchanged" if c == 0
        else f"up {c}" if c > 0
        else f"down {-c}"
        for b, a, c in zip(before, after, change)
    ]  # fmt: skip
    # entered first, then by change, then never retrieved, left last
    group = np.select([before.isna() & after.notna(), after.isna() & before.isna(), after.isna()], [0, 2, 3], 1)
    out = moved.assign(rank_before=before, rank_after=after, change=change, movement=movement, _group=group)
    out = out.sort_values(["_group", "change", "query_id"], ascending=[True, False, True], na_position="last")
    columns = ["query_id", "lang", "text", "rank_before", "rank_after", "change", "movement"]
    return out[columns].reset_index(drop=True)


def filter_languages(view: PassageView, langs) -> PassageView:
    """``view`` restricted to the languages ``langs`` (generated and evaluation queries);
    an empty ``langs`` keeps every language."""
    if not langs:
        return view
    keep = set(langs)
    return dataclasses.replace(
        view,
        generated=view.generated[view.generated["lang"].isin(keep)].reset_index(drop=True),
        moved=view.moved[view.moved["lang"].isin(keep)].reset_index(drop=True),
    )


def most_gained_passage(changes: pd.DataFrame) -> str:
    """The passage whose evaluation questions gained the most rank positions in total
    (``changes``: :func:`xqg_lab.studies.xqg.rank_changes`; ties: the first passage in ``changes``)."""
    if changes.empty:
        raise ValueError("expected rank changes of at least one question, found none; evaluate some queries first")
    return str(changes.groupby("doc_id", sort=False)["change"].sum().idxmax())


_CELL = "border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top"
_WRAP = "white-space:normal;overflow-wrap:anywhere;max-width:60em"


def _table(header: list[str], rows: list[list[str]], *, wrap: int) -> str:
    """An HTML table of already-escaped cells; column ``wrap`` wraps long text."""
    head = "".join(f'<th style="{_CELL}">{h}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td style="{_CELL};{_WRAP if i == wrap else "white-space:nowrap"}">{cell}</td>' for i, cell in enumerate(row)
        ) + "</tr>"
        for row in rows
    )  # fmt: skip
    return f'<table style="border-collapse:collapse;margin:.3em 0 .8em 0"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _check(value) -> str:
    return "not checked" if pd.isna(value) else ("yes" if bool(value) else "<b>no</b>")


def view_html(view: PassageView) -> str:
    """The explorer's page for one passage: the passage, the evaluation questions about it
    with their ranks before and after augmentation, and every generated query grouped by
    language (full texts)."""
    e = html.escape
    passage = view.passage
    parts = [
        f'<div class="xqg-explorer" style="font-family:{e(FONTS)};line-height:1.4">',
        f'<p style="{_WRAP}"><code>{e(str(passage["doc_id"]))}</code> <b>{e(str(passage["title"]))}</b> — '
        f"{e(str(passage['text']))}</p>",
    ]
    moved = view.moved
    parts.append(
        f'<h4 style="margin:.6em 0 .2em 0">Evaluation questions about this passage: {len(moved)}, '
        "rank before → after augmentation</h4>"
    )
    if moved.empty:
        parts.append("<p><i>no evaluation question has this passage as its answer (in the chosen languages)</i></p>")
    else:
        rows = [
            [e(str(q)), e(str(lang)), e(str(t)), NOT_RETRIEVED if pd.isna(b) else str(b),
             NOT_RETRIEVED if pd.isna(a) else str(a), e(m)]
            for q, lang, t, b, a, m in zip(
                moved["query_id"], moved["lang"], moved["text"], moved["rank_before"], moved["rank_after"], moved["movement"]
            )
        ]  # fmt: skip
        parts.append(_table(["question", "lang", "text", "rank before", "rank after", "change"], rows, wrap=2))
    generated = view.generated
    langs = list(dict.fromkeys(generated["lang"]))
    parts.append(
        f"<h4 style=\"margin:.6em 0 .2em 0\">Generated queries: {len(generated)} in {len(langs)} language(s)</h4>"
    )
    if generated.empty:
        parts.append("<p><i>no generated queries for this passage in the chosen languages</i></p>")
    for lang in langs:
        own = generated[generated["lang"] == lang]
        rows = [
            [e(str(s)), e(str(t)), _check(ok), "" if pd.isna(sim) else f"{sim:.3f}"]
            for s, t, ok, sim in zip(own["sample"], own["text"], own["in_target_language"], own["similarity"])
        ]
        parts.append(f'<div style="margin-left:.5em"><b>{e(str(lang))}</b> ({len(own)})')
        parts.append(_table(["#", "query", "in target language", "similarity"], rows, wrap=1) + "</div>")
    parts.append("</div>")
    return "".join(parts)


_CONTROLS_ESM = """
function render({ model, el }) {
  // JupyterLab's command-mode shortcuts (arrow keys move between cells) match any focused
  // element of the notebook; Lumino skips shortcuts for a target carrying this attribute.
  const guard = (node) => { node.setAttribute("data-lm-suppress-shortcuts", "true"); return node; };
  const row = guard(document.createElement("div"));
  row.style.cssText = "display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start;margin:.3em 0";
  const field = (text, control, hint) => {
    const box = document.createElement("label");
    box.style.cssText = "display:flex;flex-direction:column;gap:.2em;font-size:.9em";
    box.append(text, control);
    if (hint) { const h = document.createElement("small"); h.textContent = hint; h.style.color = "#555"; box.append(h); }
    return box;
  };
  const passage = guard(document.createElement("select"));
  passage.className = "xqg-passage";
  passage.style.cssText = "width:44em;max-width:100%;font-size:1em";
  const langs = guard(document.createElement("select"));
  langs.className = "xqg-langs";
  langs.multiple = true;
  langs.style.cssText = "width:7em;font-size:1em";
  const fill = () => {
    passage.replaceChildren(...model.get("passages").map(([label, id]) => new Option(label, id)));
    const all = model.get("langs");
    langs.replaceChildren(...all.map((l) => new Option(l, l)));
    langs.size = Math.max(all.length, 2);
    sync();
  };
  const sync = () => {
    passage.value = model.get("doc_id");
    const chosen = new Set(model.get("selected_langs"));
    for (const o of langs.options) o.selected = chosen.has(o.value);
  };
  passage.addEventListener("change", () => { model.set("doc_id", passage.value); model.save_changes(); });
  langs.addEventListener("change", () => {
    model.set("selected_langs", [...langs.selectedOptions].map((o) => o.value));
    model.save_changes();
  });
  model.on("change:passages", fill);
  model.on("change:langs", fill);
  model.on("change:doc_id", sync);
  model.on("change:selected_langs", sync);
  row.append(
    field("passage", passage, "arrow keys or type to search; Tab to the languages"),
    field("languages", langs, "none selected = all; Shift/Ctrl + arrows or click for several"),
  );
  el.append(row);
  fill();
}
export default { render };
"""


def _controls_class():
    """The explorer's two lists as an anywidget (plain ``<select>`` elements whose keys are not
    taken by JupyterLab's shortcuts); built on first use so that importing this module stays light."""
    import anywidget
    import traitlets

    class ExplorerControls(anywidget.AnyWidget):
        _esm = _CONTROLS_ESM
        passages = traitlets.List().tag(sync=True)  # [[label, doc_id], ...]
        langs = traitlets.List().tag(sync=True)
        doc_id = traitlets.Unicode("").tag(sync=True)
        selected_langs = traitlets.List().tag(sync=True)

    return ExplorerControls


class QueryExplorer:
    """A passage picker and a language filter over :func:`view_html`.

    Build it with the same keyword arguments as :func:`passage_view` (all but ``doc_id``)
    and display the explorer itself: JupyterLab shows the live widget, an exported report
    (no kernel) the static HTML of the passage shown last. It opens on ``doc_id``, by default
    :func:`most_gained_passage`. ``explorer.controls.doc_id`` / ``.selected_langs`` hold the
    choice (set them to change it), ``explorer.view`` the :class:`PassageView` shown.
    Keyboard: Tab moves between the two lists, arrow keys choose, Shift/Ctrl + arrows select
    several languages; no language selected shows them all.
    """

    def __init__(self, *, doc_id: str | None = None, **context):
        import ipywidgets as w

        self.context = context
        passages = context["passages"]
        labels = [
            [f"{d} · {t[:80]}", d] for d, t in zip(passages["doc_id"], passages["title"] + " — " + passages["text"])
        ]
        if doc_id is None and labels:
            doc_id = most_gained_passage(context["changes"]) if len(context["changes"]) else labels[0][1]
        self.controls = _controls_class()(
            passages=labels, langs=sorted({*context["generated"]["lang"], *context["queries"]["lang"]}),
            doc_id=doc_id or "",
        )  # fmt: skip
        self.page = w.HTML()
        self.widget = w.VBox([self.controls, self.page])
        self.view: PassageView | None = None
        if labels:
            self.show()
        self.controls.observe(lambda _: self.show(), names=["doc_id", "selected_langs"])

    def show(self) -> PassageView:
        """Recompute the view of the selected passage and languages and redraw it."""
        view = passage_view(self.controls.doc_id, **self.context)
        self.view = filter_languages(view, self.controls.selected_langs)
        self.page.value = view_html(self.view)
        return self.view

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, with the static HTML of the current view for viewers without a kernel."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self.page.value
        return bundle
