"""Writing a notebook's tables, figures and provenance into the run folder.

A notebook works inside one output folder (:func:`enter_output_dir`): the run folder under
``xqg-lab run``, ``reports/interactive/`` of the checkout (git-ignored) when run by hand.

Every file is written whole or not at all (:func:`xqg_lab.core.atomic.write_atomic`): a run
killed mid-write, or a full disk, leaves the previous version of each file intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from xqg_lab.core.atomic import write_atomic
from xqg_lab.core.timing import start_cell_clock


INTERACTIVE_DIR = Path("reports") / "interactive"


def project_root() -> Path:
    """The source checkout that holds this package (the folder with ``pyproject.toml`` above
    ``xqg_lab/``), or the working folder when the package is installed elsewhere."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def enter_output_dir(output_dir: str | os.PathLike = "") -> Path:
    """Make ``output_dir`` the working folder, as ``xqg-lab run`` does with its run folder; returns it.

    ``""`` means ``reports/interactive/`` of the checkout, shared by the notebooks run by hand
    like a run folder (a store written by ``query_generation`` is found by ``xqg_eval`` under
    the same relative name). A relative ``output_dir`` is resolved from the checkout, never from
    the current folder, so running the cell twice stays put. Relative ``XQG_LAB_MIRROR`` /
    ``XQG_LAB_CACHE`` are made absolute first, so they keep pointing where they did. In a
    notebook it also starts the cell clock whose table (:func:`xqg_lab.core.timing.cell_table`)
    ends the notebook.
    """
    start_cell_clock()
    for var in ("XQG_LAB_MIRROR", "XQG_LAB_CACHE"):
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).expanduser().resolve())
    folder = Path(output_dir or INTERACTIVE_DIR).expanduser()
    folder = folder if folder.is_absolute() else project_root() / folder
    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    return folder


def _target(stem: str, output_dir: str | os.PathLike) -> Path:
    """``output_dir/stem``, refusing stems that would leave ``output_dir``."""
    root = Path(output_dir).resolve()
    path = (root / stem).resolve()
    if root != path.parent and root not in path.parents:
        raise ValueError(f"output name {stem!r} escapes the output folder {root}; use a plain file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _with_extension(base: Path, extension: str) -> Path:
    """``base`` with ``extension`` appended: a stem with a dot (``"exp.v2_by_lang"``) keeps
    it (``Path.with_suffix`` would replace ``".v2_by_lang"``, so two tables would overwrite
    each other as ``exp.csv``)."""
    return base.with_name(base.name + extension)


def save_table(frame: pd.DataFrame, stem: str, *, output_dir: str | os.PathLike = ".") -> list[Path]:
    """Write ``frame`` as ``<stem>.csv`` and ``<stem>.json`` (records); returns the paths."""
    base = _target(stem, output_dir)
    flat = frame.reset_index() if frame.index.name is not None else frame
    csv, js = _with_extension(base, ".csv"), _with_extension(base, ".json")
    write_atomic(csv, flat.to_csv(index=False).encode("utf-8"))
    write_atomic(js, flat.to_json(orient="records", indent=1, force_ascii=False).encode("utf-8"))
    return [csv, js]


def write_text(text: str, name: str, *, output_dir: str | os.PathLike = ".") -> Path:
    """Write ``text`` (e.g. a Markdown or LaTeX table) to ``output_dir/name``."""
    return write_atomic(_target(name, output_dir), text.encode("utf-8"))


def save_chart(chart, stem: str, *, output_dir: str | os.PathLike = ".") -> list[Path]:
    """Write an altair chart as ``<stem>.png``, ``<stem>.svg`` and its Vega-Lite spec
    ``<stem>.vl.json``; returns the paths. vl-convert renders it once, offline: the PNG is the
    SVG rasterised at twice its size (the bytes ``chart.save(format="png", scale_factor=2)``
    writes, without a second rendering and a second and third validation of the spec)."""
    import altair as alt
    import vl_convert

    base = _target(stem, output_dir)
    paths = [_with_extension(base, ext) for ext in (".png", ".svg", ".vl.json")]
    with alt.data_transformers.enable("default"), alt.data_transformers.disable_max_rows():  # data inline, as chart.save
        spec = chart.to_dict()
    vl_version = "v" + "_".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    svg = vl_convert.vegalite_to_svg(spec, vl_version=vl_version)
    png = vl_convert.svg_to_png(svg, scale=2, ppi=72)
    for path, content in zip(paths, [png, svg.encode("utf-8"), json.dumps(spec).encode("utf-8")]):
        write_atomic(path, content)
    return paths


def save_provenance(info: dict, stem: str, *, output_dir: str | os.PathLike = ".") -> Path:
    """Write ``<stem>.provenance.json`` (data files and hashes, models, parameters, timings);
    the runner gathers these into the run's ``manifest.json``."""
    text = json.dumps(info, indent=1, ensure_ascii=False, default=str)
    return write_atomic(_target(f"{stem}.provenance.json", output_dir), text.encode("utf-8"))


def data_provenance(names: list[str]) -> list[dict]:
    """Registry name, URL, pinned sha256 and local path of each data file in ``names``."""
    from xqg_lab.data.fetch import fetch, registry

    entries = registry()
    return [
        {"name": n, "url": entries[n].url, "sha256": entries[n].sha256, "path": str(fetch(n))}
        for n in names
    ]
