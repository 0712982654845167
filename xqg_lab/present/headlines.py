"""The headline tables of a run folder, read back from the CSV files its notebooks wrote, for
the top of the run's ``index.html`` (:func:`xqg_lab.runner.index_page.write_index`).

One reader per notebook, keyed by the notebook's name and the suffix of the file it wrote
(so a changed ``output_prefix`` still works): per-language retrieval (``retrieval_eval``),
xQG against its α = 0 baseline at the fixed α (``xqg_eval``), the four-condition grid
(``finetune_grid``) and the alignment summary (``alignment``). Nothing is recomputed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

MAX_MEASURES = 3
"""Measures shown per headline table (the notebook's first ones); the section has them all."""


@dataclasses.dataclass
class Headline:
    """One table at the top of the index: ``rows`` are formatted cells under ``columns``;
    ``section`` is the notebook whose section (and files) it summarises, ``source`` the CSV it
    was read from, ``figure`` a figure of that section (SVG or PNG) shown below it (or None)."""

    title: str
    caption: str
    section: str
    source: str
    columns: list[str]
    rows: list[list[str]]
    figure: str | None = None


def headline_tables(run_dir: str | Path, notebooks: list[dict]) -> list[Headline]:
    """The headline tables of a run, in the order of its notebooks.

    ``notebooks``: the manifest's entries (``notebook``, ``parameters``, ``outputs``). A CSV
    that cannot be read gives a headline saying so instead of stopping the index.
    """
    run_dir = Path(run_dir)
    out = []
    for entry in notebooks:
        reader = READERS.get(entry["notebook"])
        if reader is None:
            continue
        outputs = sorted({p.split("/")[0] for p in entry.get("outputs", [])})
        try:
            out.extend(reader(run_dir, outputs, entry))
        except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
            out.append(Headline(f"{entry['notebook']}: headline table not available", f"{type(exc).__name__}: {exc}",
                                entry["notebook"], "", [], []))  # fmt: skip
    return out


def _one(outputs: list[str], suffix: str, *, exclude: tuple[str, ...] = ()) -> list[str]:
    return [n for n in outputs if n.endswith(suffix) and not n.endswith(exclude)]


def _figure(outputs: list[str], suffix: str) -> str | None:
    """The SVG (sharp at its natural size), else the PNG, of the first figure ending in ``suffix``."""
    for ext in (".svg", ".png"):
        found = _one(outputs, suffix + ext)
        if found:
            return found[0]
    return None


def _retrieval(run_dir: Path, outputs: list[str], entry: dict) -> list[Headline]:
    out = []
    for name in _one(outputs, "_by_lang.csv"):
        frame = pd.read_csv(run_dir / name)
        measures = [c for c in frame.columns if c not in ("lang", "n_queries")]
        rows = [
            [str(r["lang"]), *(f"{r[m]:.3f}" for m in measures), f"{int(r['n_queries']):,}" if "n_queries" in r else ""]
            for _, r in frame.iterrows()
        ]
        out.append(Headline(
            "Retrieval per query language", "Mean over the queries of each language; the row 'mean' is the "
            "unweighted mean over languages. Encoder: " + str(entry.get("parameters", {}).get("encoder", "?")) + ".",
            entry["notebook"], name, ["lang", *measures, "queries"], rows,
            _figure(outputs, name[: -len(".csv")]),
        ))  # fmt: skip
    return out


def _comparison_cells(frame: pd.DataFrame, group: str, measures: list[str]) -> tuple[list[str], list[list[str]]]:
    """``baseline → treatment (Δ†)`` per group value (rows) and measure (columns)."""
    rows = []
    for value, part in frame.groupby(group, sort=False):
        cells = []
        for m in measures:
            r = part[part["measure"] == m]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            mark = " †" if str(r["significant"]).lower() == "true" else ""
            cells.append(f"{r['baseline_mean']:.3f} → {r['treatment_mean']:.3f} ({r['diff']:+.3f}{mark})")
        rows.append([str(value), *cells])
    return [group, *measures], rows


def _xqg(run_dir: Path, outputs: list[str], entry: dict) -> list[Headline]:
    alpha = entry.get("parameters", {}).get("alpha")
    at = f"α = {alpha}" if alpha is not None else "the notebook's fixed α"
    out = []
    for name in _one(outputs, "_comparison.csv"):
        frame = pd.read_csv(run_dir / name)
        measures = list(dict.fromkeys(frame["measure"]))[:MAX_MEASURES]
        columns, rows = _comparison_cells(frame, "lang", measures)
        stem, prefix = name[: -len("_comparison.csv")], entry.get("parameters", {}).get("output_prefix", "xqg") + "_"
        condition = (stem[len(prefix):] if stem.startswith(prefix) else stem).replace("_", " ")
        test = frame["test"].iloc[0] if "test" in frame.columns and len(frame) else "paired"
        out.append(Headline(
            f"xQG vs baseline at {at}: {condition}",
            f"Each cell: α = 0 baseline → augmented (difference; † p < 0.05 after Holm over languages × measures, "
            f"{test} test), n = {int(frame['n'].max()) if 'n' in frame.columns and len(frame) else '?'} queries per language.",
            entry["notebook"], name, columns, rows,
        ))  # fmt: skip
    if out:
        out[-1].figure = _figure(outputs, "_alpha_curve")
    return out


def _grid(run_dir: Path, outputs: list[str], entry: dict) -> list[Headline]:
    out = []
    for name in _one(outputs, "_means.csv", exclude=("_alignment_means.csv",)):
        means = pd.read_csv(run_dir / name)
        measure = str(means["measure"].iloc[0])
        table = means[means["measure"] == measure].pivot_table(
            index="lang", columns="condition", values="value", sort=False
        )
        conditions = list(dict.fromkeys(means["condition"]))
        marks = _significant(run_dir, outputs, measure)
        rows = [
            [str(lang), *(f"{table.loc[lang, c]:.3f}{' †' if (c, lang) in marks else ''}" for c in conditions)]
            for lang in table.index
        ]
        out.append(Headline(
            f"Four-condition grid: {measure}",
            f"Mean {measure} per query language (row 'mean': over languages); † differs from zero-shot "
            "(p < 0.05 after Holm). Other measures and the test on xQG over fine-tuning: see the section.",
            entry["notebook"], name, ["lang", *conditions], rows, _figure(outputs, "_conditions"),
        ))  # fmt: skip
    return out


def _significant(run_dir: Path, outputs: list[str], measure: str) -> set[tuple[str, str]]:
    """``(system, lang)`` significantly different from zero-shot on ``measure`` (the grid's
    ``*_vs_zero_shot_comparison.csv``; empty when absent)."""
    marks = set()
    for name in _one(outputs, "_vs_zero_shot_comparison.csv"):
        frame = pd.read_csv(run_dir / name)
        hit = frame[(frame["measure"] == measure) & (frame["significant"].astype(str).str.lower() == "true")]
        marks |= set(zip(hit["system"].astype(str), hit["lang"].astype(str)))
    return marks


def _alignment(run_dir: Path, outputs: list[str], entry: dict) -> list[Headline]:
    out = []
    for name in _one(outputs, "_results.csv"):
        results = pd.read_csv(run_dir / name)
        head = results[results["name"] == results["measure"]]
        measures = list(dict.fromkeys(head["measure"]))
        keys = ["view", "condition", "alpha"]
        means = head.groupby([*keys, "measure"], sort=False)["value"].mean().unstack("measure")
        langs = head.groupby(keys, sort=False)["lang"].nunique()
        rows = [
            [str(v), str(c), f"{a:g}", str(langs.loc[(v, c, a)]),
             *("n/a" if pd.isna(means.loc[(v, c, a), m]) else f"{means.loc[(v, c, a), m]:.3f}" for m in measures)]
            for v, c, a in means.index
        ]  # fmt: skip
        out.append(Headline(
            "Alignment summary",
            "Mean of each measure over the target languages (per-language values with bootstrap intervals "
            "and each measure's reference: see the section).",
            entry["notebook"], name, ["view", "condition", "α", "languages", *measures], rows,
            _figure(outputs, "_heatmap"),
        ))  # fmt: skip
    return out


READERS = {"retrieval_eval": _retrieval, "xqg_eval": _xqg, "finetune_grid": _grid, "alignment": _alignment}
"""Notebook name → reader of its headline tables."""
