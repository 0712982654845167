"""Provenance records of the notebooks: the data files read (registry name, URL, sha256, path),
the models and their settings, the parameters that shape the numbers, and timings.

Each builder returns the dict one notebook writes with
:func:`xqg_lab.present.report.save_provenance`; the runner gathers them into the run's
``manifest.json`` (and hashes the data files they name to decide whether a re-run can be skipped).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xqg_lab.present.report import data_provenance

if TYPE_CHECKING:
    import pandas as pd

    from xqg_lab.metrics.retrieval import RetrievalEvalConfig, RetrievalResult
    from xqg_lab.studies.alignment import AlignmentConfig, AlignmentInputs
    from xqg_lab.studies.generation import QueryGenerationConfig
    from xqg_lab.studies.grid import GridConfig
    from xqg_lab.studies.xqg import XQGResult, XqgEvalConfig


def encoder_settings(encoder, **extra: Any) -> dict[str, Any]:
    """``{**extra, "query": ..., "passage": ...}``: the encoder's settings for each role
    (model, its hash or revision, pooling, lengths, prefixes)."""
    return {**extra, "query": encoder.settings("query"), "passage": encoder.settings("passage")}


def retrieval_eval(
    config: RetrievalEvalConfig, *, data_files: list[str], encoder, result: RetrievalResult
) -> dict[str, Any]:
    """Record of ``retrieval_eval``: data files, encoder, passage text, depth, measures, seconds per stage."""
    return {
        "data_files": data_provenance(data_files),
        "encoder": encoder_settings(encoder, name=config.encoder),
        "passage_fields": config.passage_fields,
        "k": config.k,
        "measures": config.measures,
        "seconds": result.seconds,
    }


def query_generation(config: QueryGenerationConfig, *, passages: pd.DataFrame) -> dict[str, Any]:
    """Record of ``query_generation``: the store, its parameters (generator, seed, ...), how many passages."""
    from xqg_lab.generate import read_store_params

    return {"store": config.store, "store_params": read_store_params(config.store), "n_passages": len(passages),
            "langs": config.langs, "n_per_lang": config.n_per_lang}  # fmt: skip


def xqg_eval(
    config: XqgEvalConfig, *, split: pd.DataFrame, results: Mapping[str, XQGResult], encoder
) -> dict[str, Any]:
    """Record of ``xqg_eval``: data files, the held-out split (counts and hash), each condition's
    rule, seconds and passages without query, the generated store's parameters, the encoder, α."""
    from xqg_lab.generate import read_store_params
    from xqg_lab.generate.heldout import split_summary

    return {
        "data_files": data_provenance([f"xquad.{lang}" for lang in config.data_langs]),
        "split": split_summary(split),
        "conditions": {name: {"rule": r.rule, "seconds": r.seconds, "on_no_query": r.on_no_query,
                              "n_no_query": r.n_no_query} for name, r in results.items()},  # fmt: skip
        "passage_fields": config.passage_fields,
        "generated_store": read_store_params(config.generated_store) if config.generated_store else None,
        "encoder": encoder_settings(encoder),
        "alpha": config.alpha, "alphas": config.alphas, "test": config.test,
    }  # fmt: skip


def finetune_grid(
    config: GridConfig,
    *,
    checkpoint: Path,
    reused: bool,
    record: dict[str, Any],
    question_split: pd.DataFrame,
    encoders: Mapping[str, Any],
    results: Mapping[str, XQGResult],
    alignment: pd.DataFrame,
    started: float,
) -> dict[str, Any]:
    """Record of ``finetune_grid``: data files, the training job and its record, the question
    split, both encoders, the grid's settings, seconds per encoder, the alignment settings and
    the wall time since ``started`` (a ``time.perf_counter()`` value)."""
    from xqg_lab.data.langs import XQUAD_LANGS
    from xqg_lab.generate.heldout import split_summary

    return {
        "data_files": data_provenance([f"xquad.{lang}" for lang in XQUAD_LANGS]),
        "training": {"job": config.training, "checkpoint": str(checkpoint), "reused": reused, "record": record},
        "question_split": split_summary(question_split),
        "encoders": {name: encoder_settings(e) for name, e in encoders.items()},
        "alpha": config.alpha, "alphas": config.alphas, "rule": config.rule, "test": config.test,
        "robustness_test": config.robustness_test,
        "on_no_query": config.on_no_query, "n_no_query": {name: r.n_no_query for name, r in results.items()},
        "passage_fields": config.passage_fields,
        "seconds": {name: r.seconds for name, r in results.items()},
        "alignment": dict(alignment.attrs),
        "seconds_total": round(time.perf_counter() - started, 1),
    }  # fmt: skip


def alignment(
    config: AlignmentConfig,
    *,
    inputs: AlignmentInputs,
    counts: pd.DataFrame,
    encoder,
    finetuned,
    results: pd.DataFrame,
    started: float,
) -> dict[str, Any]:
    """Record of ``alignment``: data files, both encoders, the generated store, the held-out
    split, pairs per (view, language), the study's settings and the wall time since ``started``."""
    from xqg_lab.generate.heldout import split_summary

    return {
        "data_files": data_provenance(inputs.data_files),
        "encoder": encoder_settings(encoder, name=config.encoder),
        "finetuned": None if finetuned is None else encoder_settings(finetuned, checkpoint=config.finetuned_checkpoint),
        "generated_store": config.generated_store or None,
        "heldout_split": None if inputs.split is None else split_summary(inputs.split),
        "pairs": counts.to_dict(orient="records"),
        "settings": dict(results.attrs),
        "seconds_total": round(time.perf_counter() - started, 1),
    }
