"""Training jobs: a start point, the data and the hyper-parameters, read from a config file.

**Training config files** (``configs/finetune_*.yaml``) are standalone, not notebook-runner
configs: everything sits under one top-level ``training:`` key (see
:func:`load_training_config`); notebooks pass the mapping under it to
:func:`parse_training_job`; ``xqg-lab train --config FILE --output-dir DIR`` runs one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import pydantic

from xqg_lab.core.config import ConfigError, read_yaml
from xqg_lab.core.validation import Choice
from xqg_lab.core.validation import ConfigModel, expected
from xqg_lab.data.common import RetrievalData
from xqg_lab.data.training import read_dpr_training_file, xquad_training_split
from xqg_lab.train.config import TrainingConfig, flag, integer, number, text
from xqg_lab.train.loop import TrainingResult, train_biencoder

if TYPE_CHECKING:
    import pandas as pd


class DataSource(Choice, label="source"):
    """Where a training config takes its triples from."""

    XQUAD = "xquad"
    """XQuAD split by article (:func:`~xqg_lab.data.training.xquad_training_split`); the demo setting."""
    DPR = "dpr"
    """A DPR/Tevatron training file (:func:`~xqg_lab.data.training.read_dpr_training_file`); the paper's."""


def _langs(value):
    """``langs``: a code or a list of codes (kept as a tuple), or null for all languages."""
    if isinstance(value, str):
        value = [value]
    if value is None:
        return value
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise ValueError("a list of language codes or null (all)")
    return tuple(value)


class XQuADTrainingData(ConfigModel):
    """``data: {source: xquad, eval_fraction, seed, langs, keep_all_passages}``."""

    model_config = pydantic.ConfigDict(frozen=True)
    source: ClassVar[DataSource] = DataSource.XQUAD

    eval_fraction: Annotated[float, number(positive=True, below_one=True, from_string=False)] = 0.5
    seed: Annotated[int, integer(0)] = 0
    langs: Annotated[tuple[str, ...] | None, pydantic.BeforeValidator(_langs)] = None
    keep_all_passages: Annotated[bool, flag()] = True


class DPRTrainingData(ConfigModel):
    """``data: {source: dpr, path, include_negative_ctxs}``; ``path`` relative to the config."""

    model_config = pydantic.ConfigDict(frozen=True)
    source: ClassVar[DataSource] = DataSource.DPR

    path: Annotated[str, text("the path of the DPR-format training file")]
    include_negative_ctxs: Annotated[bool, flag()] = False


class TrainingJob(ConfigModel):
    """A parsed training config: start point, data and hyper-parameters; ``source`` names
    where it came from in messages."""

    model_config = pydantic.ConfigDict(frozen=True)

    model_name_or_path: str
    data: XQuADTrainingData | DPRTrainingData
    config: TrainingConfig
    source: str = "<config>"

    def cache_spec(self) -> dict[str, Any]:
        """Start point, data settings and every hyper-parameter, as JSON-able values: what a
        trained checkpoint is named by (its SHA-256 is the cache key of
        :func:`xqg_lab.studies.grid.fine_tuned_checkpoint`)."""
        return {
            "model_name_or_path": self.model_name_or_path,
            "data": {"source": self.data.source.value, **self.data.model_dump()},
            "config": self.config.to_dict(),
        }


class _JobBody(TrainingConfig):
    """The mapping under ``training:``: the start point and the data beside every
    :class:`TrainingConfig` field (one model, so an unknown key gets the closest of all)."""

    model_name_or_path: Annotated[str, text("a hub name, a folder or an embedded: name")]
    data: dict[str, Any]


class _TrainingFile(ConfigModel):
    training: dict[str, Any]


def load_training_config(path: str | os.PathLike) -> TrainingJob:
    """Read a standalone training config (YAML); unknown keys are refused with a suggestion.

    Layout::

        training:
          model_name_or_path: embedded:multilingual-e5-small   # hub name, folder or embedded:
          data:
            source: xquad          # xquad: eval_fraction, seed, langs, keep_all_passages
                                   # dpr:   path (relative to this file), include_negative_ctxs
          preset: e5               # ... and any other TrainingConfig field
    """
    path = Path(path)
    body = _TrainingFile.parse(read_yaml(path), where=str(path)).training
    return parse_training_job(body, source=str(path), base=path.parent)


def parse_training_job(body: Any, *, source: str, base: str | os.PathLike = ".") -> TrainingJob:
    """A :class:`TrainingJob` from the mapping under ``training:`` (see
    :func:`load_training_config`); ``source`` names where it came from in error messages,
    ``base`` resolves a relative DPR ``data.path``. Notebooks take this mapping as a parameter."""
    where = f"{source}: training"
    parsed = _JobBody.parse(body, where=where)
    config = TrainingConfig(**parsed.model_dump(exclude={"model_name_or_path", "data"}))
    data = _parse_data(parsed.data, where=f"{where}: data", base=Path(base))
    return TrainingJob(model_name_or_path=parsed.model_name_or_path, data=data, config=config, source=source)


def _parse_data(raw: dict[str, Any], *, where: str, base: Path) -> XQuADTrainingData | DPRTrainingData:
    try:
        source = DataSource(raw.get("source"))
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: source: " + expected(
            f"one of {DataSource.valid()}", raw.get("source"), "name where the triples come from")) from None
    values = {k: v for k, v in raw.items() if k != "source"}
    if source is DataSource.XQUAD:
        return XQuADTrainingData.parse(values, where=where)
    data = DPRTrainingData.parse(values, where=where)
    return data.model_copy(update={"path": str((base / Path(data.path).expanduser()).resolve())})


def prepare_training_data(
    job: TrainingJob,
) -> tuple[pd.DataFrame, RetrievalData | None, pd.DataFrame | None, dict[str, Any]]:
    """``(triples, eval data or None, split frame or None, description)`` for ``job``."""
    data = job.data
    if isinstance(data, DPRTrainingData):
        from xqg_lab.core.checksums import file_sha256

        if not Path(data.path).is_file():
            raise FileNotFoundError(
                f"{job.source}: training.data.path {data.path} does not exist; fill in the path of "
                "the DPR-format training file (e.g. XOR-TyDi's dpr_train_data.json)"
            )
        triples = read_dpr_training_file(data.path, include_negative_ctxs=data.include_negative_ctxs)
        description = {
            "source": "dpr",
            "path": data.path,
            "sha256": file_sha256(data.path),
            "include_negative_ctxs": data.include_negative_ctxs,
        }
        return triples, None, None, description
    from xqg_lab.data.xquad import load_xquad

    xquad = load_xquad(list(data.langs) if data.langs else None)
    split = xquad_training_split(
        xquad, eval_fraction=data.eval_fraction, seed=data.seed, keep_all_passages=data.keep_all_passages
    )
    description = {
        "source": "xquad",
        "langs": sorted(set(xquad.queries["lang"])),
        "eval_fraction": data.eval_fraction,
        "split_seed": data.seed,
        "keep_all_passages": data.keep_all_passages,
        "n_eval_queries": len(split.eval.queries),
        "n_eval_passages": len(split.eval.passages),
    }
    return split.train, split.eval, split.split, description


def run_training_job(
    job: TrainingJob,
    *,
    output_dir: str | os.PathLike,
    overwrite: bool = False,
    progress: bool = True,
) -> tuple[TrainingResult, RetrievalData | None]:
    """Prepare the job's data and train; returns the result and the held-out data (XQuAD)."""
    triples, eval_data, split, description = prepare_training_data(job)
    description = {**description, "config_file": job.source}
    result = train_biencoder(
        triples,
        model_name_or_path=job.model_name_or_path,
        output_dir=output_dir,
        config=job.config,
        split=split,
        data_description=description,
        overwrite=overwrite,
        progress=progress,
    )
    return result, eval_data


