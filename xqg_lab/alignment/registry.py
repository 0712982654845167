"""Measure names, the name -> function registry, and the tidy report over several measures."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

from xqg_lab.core.validation import check_choice
from xqg_lab.alignment._base import Estimate
from xqg_lab.alignment.cka import linear_cka
from xqg_lab.alignment.contrastive import bitext_accuracy, infonce_bound
from xqg_lab.alignment.gaussian import gaussian_mi
from xqg_lab.alignment.geometry import alignment_loss, cosine_gap, uniformity_loss
from xqg_lab.alignment.knn import ksg_mi
from xqg_lab.alignment.probe import language_probe

__all__ = ["Measure", "MEASURES", "REPORT_COLUMNS", "alignment_report", "estimates_frame"]


class Measure(str, Enum):
    """Alignment measures; each value is also the name of the function computing it."""

    INFONCE_BOUND = "infonce_bound"
    BITEXT_ACCURACY = "bitext_accuracy"
    ALIGNMENT_LOSS = "alignment_loss"
    UNIFORMITY_LOSS = "uniformity_loss"
    LINEAR_CKA = "linear_cka"
    GAUSSIAN_MI = "gaussian_mi"
    KSG_MI = "ksg_mi"
    LANGUAGE_PROBE = "language_probe"
    COSINE_GAP = "cosine_gap"


MEASURES: Mapping[Measure, Callable[..., Estimate]] = {
    Measure.INFONCE_BOUND: infonce_bound,
    Measure.BITEXT_ACCURACY: bitext_accuracy,
    Measure.ALIGNMENT_LOSS: alignment_loss,
    Measure.UNIFORMITY_LOSS: uniformity_loss,
    Measure.LINEAR_CKA: linear_cka,
    Measure.GAUSSIAN_MI: gaussian_mi,
    Measure.KSG_MI: ksg_mi,
    Measure.LANGUAGE_PROBE: language_probe,
    Measure.COSINE_GAP: cosine_gap,
}

REPORT_COLUMNS = (
    "measure",
    "name",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "unit",
    "higher_is_better",
    "reference",
    "reference_label",
    "p_value",
    "p_floor",
    "n_bootstrap",
)


def _flatten(estimate: Estimate, measure: str) -> Iterable[dict[str, Any]]:
    for e in (estimate, *estimate.parts):
        yield {
            "measure": measure,
            "name": e.name,
            "value": e.value,
            "ci_low": e.ci_low,
            "ci_high": e.ci_high,
            "n": e.n,
            "unit": e.unit,
            "higher_is_better": e.higher_is_better,
            "reference": e.reference,
            "reference_label": e.reference_label,
            "p_value": e.p_value,
            "p_floor": e.extra.get("p_floor", math.nan) if e is estimate else math.nan,
            "n_bootstrap": e.n_bootstrap,
        }


def estimates_frame(estimates: Mapping[str, Estimate]):
    """Tidy frame of :data:`REPORT_COLUMNS`, one row per estimate and per part, from
    ``{measure name: Estimate}``."""
    import pandas as pd

    rows = [row for measure, est in estimates.items() for row in _flatten(est, measure)]
    frame = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    frame["n"] = frame["n"].astype("int64")
    frame["n_bootstrap"] = frame["n_bootstrap"].astype("int64")
    return frame


def measure_options(options: Mapping[str, Mapping[str, Any]] | None, chosen: list[Measure]):
    options = dict(options or {})
    parsed: dict[Measure, dict[str, Any]] = {}
    for key, kwargs in options.items():
        measure = check_choice(key, Measure, what="an options key")
        if measure not in chosen:
            raise ValueError(f"options given for {measure.value!r}, which is not among the requested measures")
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"expected options[{key!r}] as a mapping of keyword arguments, found {type(kwargs).__name__}")
        params = inspect.signature(MEASURES[measure]).parameters
        valid = [p for p, spec in params.items() if spec.kind is inspect.Parameter.KEYWORD_ONLY]
        for arg in kwargs:
            if arg not in valid:
                raise ValueError(
                    f"options for {measure.value!r}: unknown keyword {arg!r}; valid keywords: {', '.join(valid)}"
                )
        parsed[measure] = dict(kwargs)
    return parsed


def alignment_report(
    X,
    Y,
    *,
    measures: Iterable[Measure | str] = tuple(Measure),
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int | None = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
):
    """Compute several alignment measures on paired embeddings; return a tidy frame.

    Parameters
    ----------
    X : float array (n, d); Y : float array (n, d')
        Row i of X (source language) is paired with row i of Y (target language). Measures
        that compare vectors across sides (all but ``linear_cka``, ``gaussian_mi``,
        ``ksg_mi``) need d == d'.
    measures : iterable of :class:`Measure` or its names
        Default: all of them.
    n_bootstrap, confidence, seed :
        Passed to every measure; each measure gets the same ``seed``, so a row equals what
        the measure's own function returns with these arguments.
    options : mapping, optional
        Per-measure keyword arguments overriding the above, e.g.
        ``{"infonce_bound": {"similarity": "dot"}, "ksg_mi": {"n_permutations": 99}}``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REPORT_COLUMNS`; one row per measure (``name`` == ``measure``) and one
        per part (``name`` == ``"<measure>.<part>"``), in the order requested. ``attrs`` holds
        ``confidence`` and ``seed``.
    """
    chosen = []
    for m in measures:
        measure = check_choice(m, Measure, what="a measure")
        if measure not in chosen:
            chosen.append(measure)
    if not chosen:
        raise ValueError(f"expected at least one measure, found none; valid: {', '.join(m.value for m in Measure)}")
    per_measure = measure_options(options, chosen)
    results = {}
    for measure in chosen:
        kwargs = {"n_bootstrap": n_bootstrap, "confidence": confidence, "seed": seed, **per_measure.get(measure, {})}
        results[measure.value] = MEASURES[measure](X, Y, **kwargs)
    frame = estimates_frame(results)
    frame.attrs.update({"confidence": confidence, "seed": seed})
    return frame
