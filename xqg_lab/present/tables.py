"""Significance tables the way IR papers print them, from :func:`xqg_lab.stats.compare` frames,
in Markdown, LaTeX and CSV, and :func:`write_significance_tables`, which writes all three.

The Markdown table is written by hand: ``DataFrame.to_markdown`` needs the optional
``tabulate`` package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from xqg_lab.stats import Correction, PairedTest, check_measures, comparison_group_column, stack_comparisons

TEST_LABELS = {
    PairedTest.T: "paired t-test",
    PairedTest.WILCOXON: "Wilcoxon signed-rank test",
    PairedTest.RANDOMISATION: "paired randomisation (sign-flip) test",
}
"""How a caption names each :class:`~xqg_lab.stats.PairedTest`."""


def _constant(comparisons: Mapping[str, pd.DataFrame], column: str) -> Any:
    values = {v for frame in comparisons.values() for v in frame[column].unique().tolist()}
    if len(values) != 1:
        raise ValueError(
            f"expected one {column!r} across the comparisons of a table, found {sorted(map(str, values))}; "
            f"make separate tables"
        )
    return values.pop()


def _as_mapping(comparison: Any, treatment_name: str | None) -> dict[str, pd.DataFrame]:
    if isinstance(comparison, pd.DataFrame):
        return {treatment_name if treatment_name is not None else "treatment": comparison}
    if isinstance(comparison, Mapping):
        if treatment_name is not None:
            raise ValueError("treatment_name applies to a single comparison; with a mapping the keys name the systems")
        if not comparison:
            raise ValueError("expected at least one comparison, found an empty mapping")
        return {str(k): v for k, v in comparison.items()}
    raise TypeError(
        f"expected compare() output or a mapping {{system name: compare() output}}, found {type(comparison).__name__}"
    )


def significance_caption(
    comparison: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    marker: str = "†",
    arrows: bool = False,
    baseline_name: str = "baseline",
) -> str:
    """Legend for a significance table: marker meaning, test, sidedness, correction and its family, level.

    ``comparison`` is :func:`compare` output, or a mapping of system name to such outputs that
    share the test, alternative, correction and level (each with its own Holm family).
    """
    systems = _as_mapping(comparison, None)
    group_col = [comparison_group_column(frame, f"comparison {name!r}") for name, frame in systems.items()][0]
    test = _constant(systems, "test")
    alternative = _constant(systems, "alternative")
    correction = _constant(systems, "correction")
    level = _constant(systems, "level")
    test_label = TEST_LABELS[PairedTest(test)]
    sizes = sorted({int(f["family_size"].iloc[0]) for f in systems.values() if len(f)})
    if correction == Correction.HOLM.value:
        size = "/".join(str(s) for s in sizes)
        if len(systems) > 1:
            corr_text = (
                f"Holm-corrected within each system separately, over its {size} comparisons ({group_col} × "
                f"measure); the {len(systems)} systems ({', '.join(systems)}) are not corrected jointly"
            )
        else:
            corr_text = f"Holm-corrected over the {size} comparisons ({group_col} × measure) of the family"
    else:
        corr_text = "not corrected for multiple comparisons"
    text = (
        f"{marker} marks a significant difference from {baseline_name} ({test_label}, {alternative}, "
        f"{corr_text}, p < {level:g})."
    )
    if arrows:
        text += " ↑/↓: significantly higher/lower than " + baseline_name + "."
    return text


def significance_table(
    comparison: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    measures: Sequence[str] | None = None,
    baseline_name: str = "baseline",
    treatment_name: str | None = None,
    digits: int = 3,
    percent: bool = False,
    marker: str = "†",
    arrows: bool = False,
    show_baseline: bool = True,
) -> pd.DataFrame:
    """Formatted results table with IR-paper significance marks.

    Parameters
    ----------
    comparison : :func:`compare` output, or a mapping ``{system name: compare() output}`` for
        several systems against the same baseline (same groups, measures, baseline means and
        analysis settings; marks are always against the baseline).
    measures : measures to show, in order (default: all in the comparison, in their order).
    baseline_name, treatment_name : column labels (``treatment_name`` only for a single frame;
        default ``"treatment"``).
    digits : decimals shown; ``percent=True`` multiplies values by 100 first.
    marker : appended to a treatment value whose difference is significant (``significant``
        column, i.e. p_adjusted < level), e.g. ``"0.412†"``.
    arrows : also append ``"↑"`` / ``"↓"`` giving the direction of a significant difference.
    show_baseline : include the baseline columns.

    Returns
    -------
    DataFrame of str: index = groups (e.g. languages, name = grouping column), columns =
    MultiIndex (measure, system). ``table.attrs["caption"]`` holds the legend
    (:func:`significance_caption`), used by :func:`to_markdown` and :func:`to_latex`.
    Letter superscripts for all-pairs comparisons among several systems are not produced.
    """
    systems = _as_mapping(comparison, treatment_name)
    group_cols = {name: comparison_group_column(frame, f"comparison {name!r}") for name, frame in systems.items()}
    if len(set(group_cols.values())) != 1:
        raise ValueError(f"expected the same grouping column in every comparison, found {group_cols}")
    group_col = next(iter(group_cols.values()))
    if baseline_name in systems:
        raise ValueError(f"system name {baseline_name!r} equals baseline_name; rename one of them")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"expected digits as an int >= 0, found {digits!r}")
    first = next(iter(systems.values()))
    if measures is None:
        names = list(dict.fromkeys(first["measure"]))
    else:
        names = check_measures(measures)
    groups = list(dict.fromkeys(first[group_col]))
    keys = pd.MultiIndex.from_product([groups, names])

    indexed: dict[str, pd.DataFrame] = {}
    for name, frame in systems.items():
        f = frame.set_index([group_col, "measure"])
        if f.index.has_duplicates:
            raise ValueError(f"comparison {name!r}: expected one row per ({group_col}, measure), found duplicates")
        missing = keys.difference(f.index)
        if len(missing):
            raise ValueError(
                f"comparison {name!r}: expected rows for every ({group_col}, measure) shown, missing "
                f"{list(missing[:5])}; pass the same groups and measures for every system"
            )
        indexed[name] = f.loc[keys]
    base = next(iter(indexed.values()))["baseline_mean"].to_numpy()
    for name, f in indexed.items():
        if not np.allclose(f["baseline_mean"].to_numpy(), base, rtol=1e-12, atol=1e-12):
            raise ValueError(f"comparison {name!r} has different baseline means; systems must share the baseline")

    scale = 100.0 if percent else 1.0

    def fmt(value: float) -> str:
        return f"{value * scale:.{digits}f}"

    columns = []
    data: dict[tuple[str, str], list[str]] = {}
    for m in names:
        if show_baseline:
            col = (m, baseline_name)
            columns.append(col)
            data[col] = [fmt(v) for v in indexed[next(iter(indexed))].loc[[(g, m) for g in groups], "baseline_mean"]]
        for name, f in indexed.items():
            col = (m, name)
            columns.append(col)
            cells = []
            for g in groups:
                row = f.loc[(g, m)]
                cell = fmt(float(row["treatment_mean"]))
                if bool(row["significant"]):
                    cell += marker
                    if arrows:
                        cell += "↑" if row["diff"] > 0 else "↓"
                cells.append(cell)
            data[col] = cells
    table = pd.DataFrame(data, index=pd.Index(groups, name=group_col), columns=pd.MultiIndex.from_tuples(
        columns, names=["measure", "system"]))
    table.attrs["caption"] = significance_caption(
        systems, marker=marker, arrows=arrows, baseline_name=baseline_name
    )
    return table


def _label(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def to_markdown(table: pd.DataFrame, *, caption: str | None = None) -> str:
    """GitHub/pandoc pipe table of ``table`` (index first; MultiIndex labels joined with spaces).

    ``caption`` defaults to ``table.attrs["caption"]`` (set by :func:`significance_table`) and is
    written after the table as a pandoc ``Table: ...`` line; pass ``""`` for none. Written by
    hand (``DataFrame.to_markdown`` needs the optional ``tabulate`` package).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, found {type(table).__name__}")

    def cell(value: Any) -> str:
        return _label(value).replace("|", "\\|").replace("\n", " ")

    index_name = _label(tuple(n for n in table.index.names if n is not None) or None)
    header = [cell(index_name)] + [cell(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * len(table.columns)) + "|"]
    for idx, row in zip(table.index, table.itertuples(index=False), strict=True):
        lines.append("| " + " | ".join([cell(idx)] + [cell(v) for v in row]) + " |")
    text = "\n".join(lines) + "\n"
    caption = table.attrs.get("caption", "") if caption is None else caption
    if caption:
        text += f"\nTable: {caption}\n"
    return text


_LATEX_SYMBOLS = {
    "†": r"\textsuperscript{\dag}",
    "‡": r"\textsuperscript{\ddag}",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "×": r"$\times$",
    "<": r"$<$",  # OT1-encoded fonts print "<" as an inverted exclamation mark in text mode
    ">": r"$>$",
}


def _latex_symbols(text: str) -> str:
    for symbol, latex in _LATEX_SYMBOLS.items():
        text = text.replace(symbol, latex)
    return text


def to_latex(table: pd.DataFrame, *, caption: str | None = None, label: str | None = None) -> str:
    """LaTeX ``tabular`` (booktabs rules) of ``table`` via ``pandas.io.formats.style.Styler.to_latex``.

    Cells and labels are LaTeX-escaped; the marks †, ‡, ↑, ↓ become ``\\textsuperscript{\\dag}``,
    ``\\textsuperscript{\\ddag}``, ``$\\uparrow$``, ``$\\downarrow$``. MultiIndex columns become
    ``\\multicolumn`` headers. With a caption (default ``table.attrs["caption"]``; ``""`` for none)
    or a label the tabular is wrapped in a ``table`` float. Needs jinja2 (a pandas Styler
    dependency) and ``\\usepackage{booktabs}`` in the document.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, found {type(table).__name__}")
    caption = table.attrs.get("caption", "") if caption is None else caption
    styler = (
        table.style.format(lambda v: _latex_symbols(str(v)), escape="latex")
        .format_index(lambda v: _latex_symbols(str(v)), escape="latex", axis=0)
        .format_index(lambda v: _latex_symbols(str(v)), escape="latex", axis=1)
    )
    n_index = table.index.nlevels
    return styler.to_latex(
        column_format="l" * n_index + "r" * table.shape[1],
        hrules=True,
        caption=_latex_symbols(_escape_latex(caption)) if caption else None,
        label=label,
        position_float="centering" if (caption or label) else None,
        multicol_align="c",
    )


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def _escape_latex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_csv(table: pd.DataFrame) -> str:
    """CSV text of ``table`` including its index (``DataFrame.to_csv``); write it where you need it."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a DataFrame, found {type(table).__name__}")
    return table.to_csv()


def table_stem(prefix: str, name: str) -> str:
    """File stem of a comparison's tables: ``"<prefix>_<name>"`` with spaces and hyphens as ``_``
    (``"xqg", "held-out human"`` -> ``"xqg_held_out_human"``)."""
    return f"{prefix}_{name.replace(' ', '_').replace('-', '_')}"


def write_significance_tables(
    comparisons: Mapping[str, pd.DataFrame | Mapping[str, pd.DataFrame]],
    prefix: str,
    *,
    baseline_name: str | Mapping[str, str] = "baseline",
    treatment_suffix: str = "",
    arrows: bool = False,
    output_dir: str | os.PathLike = ".",
) -> dict[str, pd.DataFrame]:
    """Write each comparison and its significance table; returns ``{name: table}``.

    Parameters
    ----------
    comparisons : ``{name: compare() frame}`` (one treatment each, e.g. the conditions of
        :func:`xqg_lab.studies.xqg.compare_to_baseline`) or ``{name: {system: compare() frame}}``
        (several systems against one baseline, e.g. the families of
        :func:`xqg_lab.studies.grid.compare_grid`).
    prefix : file-name prefix; the files of ``name`` are, with ``stem = table_stem(prefix, name)``:
        ``<stem>_comparison.csv`` / ``.json`` (the compare frame; several systems stacked with a
        ``system`` column, :func:`xqg_lab.stats.stack_comparisons`), ``<stem>_table.md``,
        ``<stem>_table.tex`` and ``<stem>_table.csv`` (:func:`significance_table` in each format).
    baseline_name : the baseline's column label, or one per name.
    treatment_suffix : appended to ``name`` to label a single treatment's column (e.g. ``" α=0.3"``);
        several systems keep their own names.
    arrows : also mark the direction of a significant difference (↑/↓).
    """
    from xqg_lab.present.report import save_table, write_text

    tables = {}
    for name, comparison in comparisons.items():
        stem = table_stem(prefix, name)
        base = baseline_name if isinstance(baseline_name, str) else baseline_name[name]
        if isinstance(comparison, pd.DataFrame):
            table = significance_table(comparison, baseline_name=base, treatment_name=f"{name}{treatment_suffix}",
                                       arrows=arrows)  # fmt: skip
            save_table(comparison, f"{stem}_comparison", output_dir=output_dir)
        else:
            table = significance_table(comparison, baseline_name=base, arrows=arrows)
            save_table(stack_comparisons(comparison), f"{stem}_comparison", output_dir=output_dir)
        write_text(to_markdown(table), f"{stem}_table.md", output_dir=output_dir)
        write_text(to_latex(table), f"{stem}_table.tex", output_dir=output_dir)
        write_text(to_csv(table), f"{stem}_table.csv", output_dir=output_dir)
        tables[name] = table
    return tables


def with_captions(tables: Mapping[str, pd.DataFrame]) -> list:
    """``[**name**, table, caption, ...]`` for ``IPython.display.display(*...)``: each table under
    its name, with its legend (``table.attrs["caption"]``) below."""
    from IPython.display import Markdown

    return [part for name, table in tables.items()
            for part in (Markdown(f"**{name}**"), table, Markdown(table.attrs.get("caption", "")))]  # fmt: skip
