"""The run's ``index.html``: headline tables, one section per notebook (figures, tables,
status), the statistics tables of the run and what it wrote into the cache."""

from __future__ import annotations

from pathlib import Path

from xqg_lab.core.atomic import write_atomic
from xqg_lab.runner.notebooks import TEMPLATES

FIGURE_SUFFIXES = (".png", ".svg")


TABLE_SUFFIXES = (".csv", ".json", ".md", ".tex", ".trec", ".html", ".ipynb")


def _section(run_dir: Path, entry: dict) -> dict:
    """What the index shows of one notebook: its figures (PNG preview, SVG link) and files."""
    own = {entry["output"], entry["html"]}
    names = sorted({p.split("/")[0] for p in entry.get("outputs", [])} - own - {"manifest.json", "index.html"})
    stems = sorted({n[: -len(Path(n).suffix)] for n in names if n.endswith(FIGURE_SUFFIXES)})
    figures = [
        {"stem": stem, "png": f"{stem}.png" if f"{stem}.png" in names else None,
         "svg": f"{stem}.svg" if f"{stem}.svg" in names else None}
        for stem in stems
    ]
    shown = {f for fig in figures for f in (fig["png"], fig["svg"])}
    files = [n for n in names if n not in shown and (n.endswith(TABLE_SUFFIXES) or (run_dir / n).is_dir())]
    return {**entry, "heading": entry.get("title", entry["notebook"]), "status": entry.get("status", "not run"),
            "seconds": entry.get("seconds", "?"), "figures": [f for f in figures if f["png"]], "files": files}


def write_index(run_dir: Path, manifest: dict) -> None:
    """``index.html``: the headline tables first (:mod:`xqg_lab.present.headlines`), then one section per
    notebook (figures, tables, status), the statistics tables of the whole run, and what the run
    wrote into the cache."""
    import jinja2

    sections = [_section(run_dir, n) for n in manifest["notebooks"]]
    tables = sorted({Path(f).stem for s in sections for f in s["files"] if f.endswith("_table.md")})
    statistics = [
        {"stem": stem, "files": [f"{stem}{ext}" for ext in (".md", ".tex", ".csv") if (run_dir / f"{stem}{ext}").is_file()]}
        for stem in tables
    ]
    from xqg_lab.present.headlines import headline_tables

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    page = env.get_template("report_index.html.j2").render(
        title=manifest["title"] or manifest["run"], manifest=manifest, env=manifest["environment"],
        cache=manifest.get("cache"), sections=sections, statistics=statistics,
        headlines=headline_tables(run_dir, manifest["notebooks"]),
    )  # fmt: skip
    write_atomic(run_dir / "index.html", page.encode("utf-8"))
