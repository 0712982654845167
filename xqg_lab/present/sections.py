"""Notebook sections that write several outputs and show one thing, so that the notebooks hold
no branches: what is written depends on what the study produced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xqg_lab.present.report import save_chart, save_table

if TYPE_CHECKING:
    import pandas as pd

    from xqg_lab.studies.alignment import AlignmentInputs


def save_alignment_inputs(inputs: AlignmentInputs, counts: pd.DataFrame, prefix: str) -> None:
    """Write the pairs per (view, language) as ``<prefix>_pairs`` and, when the ``xqg`` view was
    built, the held-out question split as ``<prefix>_heldout_split``."""
    save_table(counts, f"{prefix}_pairs")
    if inputs.split is not None:
        save_table(inputs.split, f"{prefix}_heldout_split")


def alignment_alpha_section(results: pd.DataFrame, prefix: str, *, view: str = "xqg") -> Any:
    """The α curve of the augmented conditions on ``view``: writes ``<prefix>_alpha_curve``
    (table) and ``<prefix>_alpha`` (chart) and returns the chart; without an augmented
    condition writes nothing and returns a notice (Markdown)."""
    from IPython.display import Markdown

    from xqg_lab.present.plots_alignment import alignment_alpha_chart
    from xqg_lab.studies.alignment import Condition
    from xqg_lab.studies.alignment_summary import alpha_curve

    if not {Condition.XQG_HELDOUT.value, Condition.XQG_GENERATED.value} & set(results["condition"]):
        return Markdown("no augmented condition: add the 'xqg' view and an alpha > 0")
    curve = alpha_curve(results, view=view)
    save_table(curve, f"{prefix}_alpha_curve")
    chart = alignment_alpha_chart(curve)
    save_chart(chart, f"{prefix}_alpha")
    return chart
