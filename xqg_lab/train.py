"""xDR fine-tuning: contrastive training of a bi-encoder with in-batch negatives.

The baseline the xQG paper compares with (Zhuang et al., SIGIR 2023, arXiv 2305.03950) is a
multilingual PLM fine-tuned as a dense retriever with Tevatron on XOR-TyDi. This module trains
such a retriever the way DPR (Karpukhin et al., 2020) and Tevatron do:

- each training example is a triple ``(query, positive passage[, hard negatives])``;
- a micro-batch of ``B`` queries is scored against every passage of the micro-batch (the
  positives of all ``B`` queries plus up to ``n_negatives`` hard negatives per query), and the
  loss is the cross-entropy of each query's positive among them (InfoNCE):
  ``loss = mean_i [ -log softmax_j(q_i . p_j / temperature)[pos(i)] ]``;
- vectors follow the encoder preset exactly as :class:`xqg_lab.encode.Encoder` computes them
  (pooling, normalisation, ``query: ``/``passage: `` prefixes; :func:`~xqg_lab.encode.model.pool`
  is reused), so a checkpoint loads back with ``Encoder(<folder>, preset=...)``;
- AdamW, linear warm-up then linear decay (``transformers.get_linear_schedule_with_warmup``),
  gradient clipping, gradient accumulation, fp16/bf16 autocast.

Passages identical in text are encoded once per micro-batch: a passage that is the positive of
several queries in the micro-batch (XQuAD has ~60 queries per paragraph once all 12 languages
are counted) is one column that every one of them must rank first, never a false negative of
the others. DPR and Tevatron do not de-duplicate; on XOR-TyDi (one gold passage per question)
the difference is negligible.

**Gradient accumulation** multiplies the number of queries per optimizer step, *not* the pool of
in-batch negatives: negatives only come from the micro-batch (``batch_size`` queries). To
reproduce a batch of 128 with in-batch negatives, set ``batch_size: 128`` (Tevatron's
``per_device_train_batch_size``), not ``32 x 4``.

**Checkpoints** are ``save_pretrained`` folders (model + tokenizer) plus ``xqg_training.json``
(every parameter, the resolved start point, the data description and split, seed, loss
summary, timings, versions). A shared tower is saved at the folder's top level; separate towers
go to ``query_encoder/`` and ``passage_encoder/``. Intermediate checkpoints (``save_steps``) go
to ``checkpoint-<step>/`` with the same layout. Load one with::

    Encoder(folder, preset="dpr")                                            # shared tower
    Encoder(folder / "query_encoder", preset="dpr",
            passage_model_name_or_path=str(folder / "passage_encoder"))     # separate towers
    encoder_from_checkpoint(folder)    # reads xqg_training.json: preset, overrides, layout

**Training config files** (``configs/finetune_*.yaml``) are standalone, not notebook-runner
configs: everything sits under one top-level ``training:`` key (see
:func:`load_training_config`), and ``xqg-lab train --config FILE --output-dir DIR`` runs one
(:func:`main`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from xqg_lab.core.atomic import write_atomic
from xqg_lab.core.config import ConfigError, read_yaml
from xqg_lab.core.validation import check_keys
from xqg_lab.data.common import OnEmpty, RetrievalData, iter_lines, parse_json, read_text
from xqg_lab.encode.presets import EncoderPreset, Pooling, Role, get_preset, passage_text
from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import Choice

if TYPE_CHECKING:
    import pandas as pd

    from xqg_lab.encode.model import Encoder

__all__ = [
    "CHECKPOINT_FILE",
    "DataSource",
    "DPRTrainingData",
    "Precision",
    "TrainEvalSplit",
    "TrainingConfig",
    "TrainingJob",
    "TrainingResult",
    "XQuADTrainingData",
    "build_in_batch_passages",
    "contrastive_loss",
    "encoder_from_checkpoint",
    "load_training_config",
    "main",
    "prepare_training_data",
    "read_dpr_training_file",
    "run_training_job",
    "train_biencoder",
    "xquad_training_split",
]

CHECKPOINT_FILE = "xqg_training.json"
"""Name of the training record written next to the weights of every checkpoint."""

QUERY_TOWER_DIR = "query_encoder"
PASSAGE_TOWER_DIR = "passage_encoder"

E5_TEMPERATURE = 0.01
"""Default temperature for L2-normalised (cosine) presets: e5's contrastive fine-tuning value
(Wang et al., 2022, arXiv 2212.03533). Dot-product presets (DPR/Tevatron) default to 1.0."""


class Precision(Choice, label="precision"):
    """Arithmetic of the forward/backward pass (weights and optimizer stay float32)."""

    FP32 = "fp32"
    FP16 = "fp16"
    """``torch.autocast`` float16 with a gradient scaler; CUDA only."""
    BF16 = "bf16"
    """``torch.autocast`` bfloat16; CUDA or CPU."""

    @classmethod
    def error(cls, value) -> ConfigError:
        return ConfigError(str(super().error(value)))


# -- configuration ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Every hyper-parameter of one training run; validated on construction.

    Encoder convention (see :mod:`xqg_lab.encode.presets`)
        preset : ``"e5"`` or ``"dpr"``; pooling, normalisation and prefixes come from it.
        pooling, normalize : overrides of the preset (None: the preset's); recorded in the
            checkpoint so that :func:`encoder_from_checkpoint` applies them again.
        query_max_length, passage_max_length : truncation **during training** in tokens
            (None: the preset's, e.g. 32/128 for ``dpr``). Inference lengths stay the preset's.
        separate_towers : train a query and a passage encoder (both start from the same
            weights); default one shared tower (Tevatron's default, DPR uses two).
    Loss
        temperature : scores are divided by it (None: 1.0 for dot-product presets as in
            DPR/Tevatron, :data:`E5_TEMPERATURE` for normalised ones).
        n_negatives : hard negatives per query and micro-batch, drawn without replacement from
            the triple's ``negatives`` (fewer when it has fewer); Tevatron's
            ``train_n_passages - 1``. 0: in-batch negatives only.
    Optimisation
        learning_rate : peak AdamW learning rate. weight_decay : AdamW decay (not applied to
            biases and LayerNorm weights). warmup_ratio : fraction of optimizer steps of linear
            warm-up, then linear decay to 0.
        batch_size : queries per micro-batch = the in-batch negative pool.
        gradient_accumulation_steps : micro-batches per optimizer step.
        epochs : passes over the triples; max_steps : optional cap on optimizer steps (the
            schedule is laid out over the capped number).
        max_grad_norm : clip the global gradient norm (None: no clipping).
        precision : ``"fp32"``, ``"fp16"`` (CUDA only) or ``"bf16"``.
        freeze_embeddings : keep the input embeddings fixed (cuts optimizer memory and time for
            large multilingual vocabularies; e5-small: 96M of 118M parameters).
    Run
        seed : seeds weights that start random, dropout, shuffling and negative sampling.
        device : ``"cpu"``, ``"cuda"``, ... (None: CUDA when available).
        save_steps : also save ``checkpoint-<step>/`` every this many optimizer steps.
    """

    preset: str = "e5"
    pooling: str | None = None
    normalize: bool | None = None
    query_max_length: int | None = None
    passage_max_length: int | None = None
    separate_towers: bool = False
    temperature: float | None = None
    n_negatives: int = 0
    learning_rate: float = 2e-5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    epochs: int = 1
    max_steps: int | None = None
    max_grad_norm: float | None = 1.0
    precision: str = "fp32"
    freeze_embeddings: bool = False
    seed: int = 42
    device: str | None = None
    save_steps: int | None = None

    def __post_init__(self):
        get_preset(self.preset)  # ValueError listing the presets
        if self.pooling is not None:
            object.__setattr__(self, "pooling", Pooling.parse(self.pooling).value)
        object.__setattr__(self, "precision", Precision.parse(self.precision).value)
        _check_type("normalize", self.normalize, bool, optional=True)
        _check_type("separate_towers", self.separate_towers, bool)
        _check_type("freeze_embeddings", self.freeze_embeddings, bool)
        for name in ("query_max_length", "passage_max_length", "max_steps", "save_steps"):
            _check_int(name, getattr(self, name), minimum=1, optional=True)
        for name in ("batch_size", "gradient_accumulation_steps", "epochs"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("n_negatives", self.n_negatives, minimum=0)
        _check_int("seed", self.seed, minimum=0)
        _check_number("temperature", self.temperature, positive=True, optional=True)
        _check_number("learning_rate", self.learning_rate, positive=True)
        _check_number("weight_decay", self.weight_decay, positive=False)
        _check_number("max_grad_norm", self.max_grad_norm, positive=True, optional=True)
        _check_number("warmup_ratio", self.warmup_ratio, positive=False)
        if self.warmup_ratio >= 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1); got {self.warmup_ratio}")
        if self.device is not None and not isinstance(self.device, str):
            raise ConfigError(f"device must be a string such as 'cpu' or 'cuda'; got {self.device!r}")
        if self.device is not None:
            _check_precision_device(Precision(self.precision), self.device)

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "training config") -> TrainingConfig:
        """Build from a mapping; unknown keys are refused with the closest valid key suggested.

        Numbers written like ``2e-5`` (a string for YAML 1.1 parsers) are accepted for float
        fields.
        """
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping, found {type(raw).__name__}")
        check_keys(raw, cls.field_names(), where=where)
        values = dict(raw)
        for f in dataclasses.fields(cls):
            if f.name in values and "float" in str(f.type) and isinstance(values[f.name], str):
                try:
                    values[f.name] = float(values[f.name])
                except ValueError:
                    raise ConfigError(f"{where}: {f.name} must be a number; got {values[f.name]!r}") from None
        try:
            return cls(**values)
        except ValueError as exc:  # ConfigError, or an unknown preset / pooling
            raise ConfigError(f"{where}: {exc}") from None

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values of every field."""
        return dataclasses.asdict(self)

    def encoder_preset(self) -> EncoderPreset:
        """The preset with this config's pooling, normalisation and training lengths."""
        base = get_preset(self.preset)
        overrides = {
            "pooling": Pooling(self.pooling) if self.pooling else None,
            "normalize": self.normalize,
            "query_max_length": self.query_max_length,
            "passage_max_length": self.passage_max_length,
        }
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def resolved_temperature(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return E5_TEMPERATURE if self.encoder_preset().normalize else 1.0


def _check_type(name: str, value: Any, kind: type, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, kind):
        raise ConfigError(f"{name} must be {kind.__name__}; got {value!r}")


def _check_int(name: str, value: Any, *, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {what}{' or null' if optional else ''}; got {value!r}")


def _check_number(name: str, value: Any, *, positive: bool, optional: bool = False) -> None:
    if value is None and optional:
        return
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or (value <= 0 if positive else value < 0):
        what = "a positive number" if positive else "a number >= 0"
        raise ConfigError(f"{name} must be {what}{' or null' if optional else ''}; got {value!r}")


def _check_precision_device(precision: Precision, device: str) -> None:
    if precision is Precision.FP16 and not str(device).startswith("cuda"):
        raise ConfigError(
            f"precision='fp16' needs a CUDA device, found device {device!r}; use precision='bf16' "
            "(autocast works on CPU) or 'fp32'"
        )


# -- the loss and the micro-batch --------------------------------------------------------------


def contrastive_loss(query_vectors, passage_vectors, targets, *, temperature: float = 1.0):
    """InfoNCE / cross-entropy of each query's positive among the in-batch passages.

    Parameters
    ----------
    query_vectors : float tensor ``(n_queries, dim)``.
    passage_vectors : float tensor ``(n_passages, dim)``.
    targets : long tensor ``(n_queries,)``; ``targets[i]`` = column of query i's positive.
    temperature : scores ``q_i . p_j`` are divided by it.

    Returns
    -------
    scalar tensor: ``mean_i [logsumexp_j s_ij - s_i,targets[i]]`` with ``s = q p^T / temperature``,
    in nats (computed in float32).
    """
    import torch

    scores = (query_vectors @ passage_vectors.T).float() / temperature
    return torch.nn.functional.cross_entropy(scores, targets)


def build_in_batch_passages(
    positives: Sequence[str], negatives: Sequence[Sequence[str]] | None = None
) -> tuple[list[str], list[int]]:
    """The passages of one micro-batch and each query's target column.

    Positives come first in query order, then each query's negatives; texts are
    de-duplicated, so a passage that is the positive of several queries is one column that
    all of them must rank first, and a negative equal to the query's own positive is dropped.

    Returns ``(passages, targets)`` with ``passages[targets[i]] == positives[i]``.
    """
    column: dict[str, int] = {}
    for text in positives:
        column.setdefault(text, len(column))
    for negs in negatives or ():
        for text in negs:
            column.setdefault(text, len(column))
    return list(column), [column[t] for t in positives]


class _Towers:
    """One shared or two separate transformer towers plus the preset's pooling."""

    def __init__(self, query_model, passage_model, preset: EncoderPreset):
        self.query_model = query_model
        self.passage_model = passage_model  # None: shared
        self.preset = preset

    def models(self) -> list:
        return [self.query_model] + ([self.passage_model] if self.passage_model is not None else [])

    def encode(self, features, role: Role):
        import torch

        from xqg_lab.encode.model import pool

        model = (
            self.passage_model
            if role is Role.PASSAGE and self.passage_model is not None
            else self.query_model
        )
        hidden = model(**features).last_hidden_state
        vectors = pool(hidden, features["attention_mask"], self.preset.pooling)
        if self.preset.normalize:
            vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
        return vectors


# -- training ----------------------------------------------------------------------------------


@dataclasses.dataclass
class TrainingResult:
    """What :func:`train_biencoder` produced.

    Attributes
    ----------
    output_dir : the final checkpoint (see the module docstring for its layout).
    history : one row per optimizer step: ``step`` (1-based), ``epoch`` (1-based), ``loss``
        (mean InfoNCE of the step's micro-batches, nats), ``lr`` (learning rate used by the
        step), ``grad_norm`` (global norm before clipping).
    config : the training config.
    seconds : wall-clock training time (loading and saving excluded).
    query_model, passage_model, tokenizer : the trained ``transformers`` modules, in eval mode
        (``passage_model`` is None for a shared tower).
    """

    output_dir: Path
    history: pd.DataFrame
    config: TrainingConfig
    seconds: float
    query_model: Any = dataclasses.field(repr=False, default=None)
    passage_model: Any = dataclasses.field(repr=False, default=None)
    tokenizer: Any = dataclasses.field(repr=False, default=None)

    def encoder(self, **kwargs) -> Encoder:
        """An :class:`~xqg_lab.encode.Encoder` reading the saved checkpoint."""
        return encoder_from_checkpoint(self.output_dir, **kwargs)


def train_biencoder(
    triples: pd.DataFrame,
    *,
    model_name_or_path: str,
    output_dir: str | os.PathLike,
    config: TrainingConfig | None = None,
    split: pd.DataFrame | None = None,
    data_description: dict[str, Any] | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> TrainingResult:
    """Fine-tune a bi-encoder on ``triples`` with in-batch negatives; save it to ``output_dir``.

    Parameters
    ----------
    triples : frame with ``query`` and ``positive`` (non-empty strings; the positive already
        ``title + " " + text``) and optionally ``negatives`` (list[str] per row). Not modified.
    model_name_or_path : start point: a hub name (``bert-base-multilingual-cased``,
        ``xlm-roberta-base``), a local ``save_pretrained`` folder (a checkpoint of this module
        included, separate towers too) or an embedded name
        (``embedded:multilingual-e5-small``).
    output_dir : folder for the final checkpoint; must not exist or be empty, unless
        ``overwrite`` and it holds an earlier training output (then it is replaced).
    config : hyper-parameters (default :class:`TrainingConfig()`).
    split : optional frame recorded in the checkpoint (e.g. the article split of
        :func:`xquad_training_split`).
    data_description : optional JSON-able description of the data recorded in the checkpoint.
    show_progress : a progress bar with the running loss.

    Raises
    ------
    ValueError / ConfigError
        Malformed triples (naming the row), fp16 without CUDA, a non-empty output folder.
    """
    import numpy as np
    import pandas as pd
    import torch
    from xqg_lab.core.progress import tqdm
    from transformers import get_linear_schedule_with_warmup

    config = config or TrainingConfig()
    queries, positives, negatives = _check_triples(triples, n_negatives=config.n_negatives)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    precision = Precision(config.precision)
    _check_precision_device(precision, device.type)
    output_dir = Path(output_dir)
    _prepare_output_dir(output_dir, overwrite=overwrite)
    preset = config.encoder_preset()
    temperature = config.resolved_temperature()

    torch.manual_seed(config.seed)
    tokenizer, towers, start = _load_start(model_name_or_path, config=config, preset=preset)
    for model in towers.models():
        model.to(device).train()
        if config.freeze_embeddings:
            for p in model.get_input_embeddings().parameters():
                p.requires_grad_(False)

    n = len(queries)
    per_epoch = math.ceil(math.ceil(n / config.batch_size) / config.gradient_accumulation_steps)
    total_steps = per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    warmup_steps = math.ceil(config.warmup_ratio * total_steps)
    optimizer = torch.optim.AdamW(_param_groups(towers, config.weight_decay), lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    scaler = torch.amp.GradScaler("cuda") if precision is Precision.FP16 else None
    dtype = {Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16}.get(precision)
    params = [p for m in towers.models() for p in m.parameters() if p.requires_grad]

    def tokenize(texts: list[str], role: Role):
        prefix = preset.prefix(role)
        batch = tokenizer(
            [prefix + t for t in texts],
            truncation=True,
            max_length=preset.max_length(role),
            padding=True,
            return_tensors="pt",
        )
        return {k: v.to(device) for k, v in batch.items()}

    def micro_batch_loss(rows, rng):
        negs = None
        if config.n_negatives:
            negs = []
            for r in rows:
                pool_ = negatives[r]
                k = min(config.n_negatives, len(pool_))
                negs.append([pool_[j] for j in rng.choice(len(pool_), size=k, replace=False)] if k else [])
        passages, targets = build_in_batch_passages([positives[r] for r in rows], negs)
        with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
            q = towers.encode(tokenize([queries[r] for r in rows], Role.QUERY), Role.QUERY)
            p = towers.encode(tokenize(passages, Role.PASSAGE), Role.PASSAGE)
        targets = torch.tensor(targets, dtype=torch.long, device=device)
        return contrastive_loss(q.float(), p.float(), targets, temperature=temperature)

    history: list[dict[str, Any]] = []
    fixed = _record_fixed(
        config,
        start=start,
        temperature=temperature,
        device=device,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        triples=triples,
        split=split,
        data_description=data_description,
    )

    def record(seconds: float) -> dict[str, Any]:
        return {**fixed, "loss": _loss_summary(history), "seconds": {"training": seconds}}

    progress = tqdm(total=total_steps, desc="training", unit="step", disable=not show_progress)
    step = 0
    started = time.perf_counter()
    try:
        for epoch in range(1, config.epochs + 1):
            if step >= total_steps:
                break
            order = np.random.default_rng([config.seed, epoch]).permutation(n)
            micro = [order[i : i + config.batch_size] for i in range(0, n, config.batch_size)]
            groups = [
                micro[i : i + config.gradient_accumulation_steps]
                for i in range(0, len(micro), config.gradient_accumulation_steps)
            ]
            for group in groups:
                if step >= total_steps:
                    break
                step += 1
                lr = scheduler.get_last_lr()[0]
                total = 0.0
                for k, rows in enumerate(group):
                    rng = np.random.default_rng([config.seed, epoch, step, k])
                    loss = micro_batch_loss(rows, rng) / len(group)
                    (scaler.scale(loss) if scaler else loss).backward()
                    total += float(loss.detach())
                if not math.isfinite(total) and scaler is None:
                    raise FloatingPointError(
                        f"loss is {total} at step {step}; lower learning_rate or use fp32"
                    )
                if scaler:
                    scaler.unscale_(optimizer)
                norm = torch.nn.utils.clip_grad_norm_(
                    params, config.max_grad_norm if config.max_grad_norm is not None else float("inf")
                )
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                history.append(
                    {"step": step, "epoch": epoch, "loss": total, "lr": lr, "grad_norm": float(norm)}
                )
                recent = [h["loss"] for h in history[-20:]]
                progress.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", lr=f"{lr:.2e}")
                progress.update(1)
                if config.save_steps and step % config.save_steps == 0 and step < total_steps:
                    _save_checkpoint(
                        output_dir / f"checkpoint-{step}",
                        towers=towers,
                        tokenizer=tokenizer,
                        record=record(time.perf_counter() - started),
                    )
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    for model in towers.models():
        model.eval()
    frame = pd.DataFrame(history, columns=["step", "epoch", "loss", "lr", "grad_norm"])
    _save_checkpoint(output_dir, towers=towers, tokenizer=tokenizer, record=record(seconds))
    return TrainingResult(
        output_dir=output_dir,
        history=frame,
        config=config,
        seconds=seconds,
        query_model=towers.query_model,
        passage_model=towers.passage_model,
        tokenizer=tokenizer,
    )


def _check_triples(triples, *, n_negatives: int) -> tuple[list[str], list[str], list[list[str]]]:
    import numpy as np

    if not hasattr(triples, "columns"):
        raise TypeError(f"triples must be a pandas DataFrame, found {type(triples).__name__}")
    missing = [c for c in ("query", "positive") if c not in triples.columns]
    if missing:
        raise ValueError(
            f"triples frame lacks column(s) {missing}; expected 'query', 'positive' and optionally "
            f"'negatives'; found {list(triples.columns)}"
        )
    if len(triples) == 0:
        raise ValueError("triples frame is empty; expected at least one (query, positive) row")
    if n_negatives and "negatives" not in triples.columns:
        raise ValueError(
            f"n_negatives={n_negatives} but the triples frame has no 'negatives' column; add one "
            "(list of passage texts per row) or set n_negatives=0"
        )
    out: dict[str, list[str]] = {}
    for column in ("query", "positive"):
        values = triples[column].tolist()
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(
                    f"triples row {i} (index {triples.index[i]!r}): {column!r} must be a non-empty "
                    f"string, found {value!r:.80}"
                )
        out[column] = values
    negatives: list[list[str]] = [[] for _ in range(len(triples))]
    if "negatives" in triples.columns:
        for i, value in enumerate(triples["negatives"].tolist()):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if not isinstance(value, (list, tuple, np.ndarray)) or not all(
                isinstance(t, str) and t.strip() for t in value
            ):
                raise ValueError(
                    f"triples row {i} (index {triples.index[i]!r}): 'negatives' must be a list of "
                    f"non-empty strings, found {value!r:.80}"
                )
            negatives[i] = list(value)
    return out["query"], out["positive"], negatives


def _prepare_output_dir(output_dir: Path, *, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"output_dir {output_dir} is a file; expected a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not overwrite:
            raise ValueError(
                f"output_dir {output_dir} is not empty; choose a new folder or pass overwrite=True "
                "(--overwrite) to replace an earlier training output"
            )
        if not (output_dir / CHECKPOINT_FILE).is_file():
            raise ValueError(
                f"output_dir {output_dir} is not empty and holds no {CHECKPOINT_FILE}, so it is not "
                "an earlier training output; refusing to delete it, choose a new folder"
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)


def _resolve_start(model_name_or_path: str) -> tuple[str, str]:
    """``(local path or hub name, identity string)`` of a start point."""
    from xqg_lab.encode.model import model_identity

    if model_name_or_path.startswith("embedded:"):
        from xqg_lab.encode.embedded import resolve_embedded

        path = resolve_embedded(model_name_or_path)
        digest = json.loads((path / "conversion.json").read_text(encoding="utf-8"))["source_sha256"]
        return str(path), f"{model_name_or_path}@sha256:{digest}"
    folder = Path(model_name_or_path).expanduser()
    if folder.is_dir():
        sub = folder / QUERY_TOWER_DIR if (folder / QUERY_TOWER_DIR).is_dir() else folder
        return str(folder), model_identity(str(sub))
    try:
        return model_name_or_path, model_identity(model_name_or_path)
    except Exception:  # not in the local hub cache: identity resolved on download
        return model_name_or_path, model_name_or_path


def _load_start(model_name_or_path: str, *, config: TrainingConfig, preset: EncoderPreset):
    import copy

    from transformers import AutoTokenizer

    from xqg_lab.encode.model import load_model

    path, identity = _resolve_start(model_name_or_path)
    folder = Path(path)
    split_start = (folder / QUERY_TOWER_DIR).is_dir() and (folder / PASSAGE_TOWER_DIR).is_dir()
    if split_start and not config.separate_towers:
        raise ConfigError(
            f"start point {model_name_or_path} has separate towers ({QUERY_TOWER_DIR}/, "
            f"{PASSAGE_TOWER_DIR}/); set separate_towers: true to continue training it"
        )
    query_path = str(folder / QUERY_TOWER_DIR) if split_start else path
    tokenizer = AutoTokenizer.from_pretrained(query_path)
    query_model = load_model(query_path)
    passage_model = None
    if config.separate_towers:
        passage_model = (
            load_model(str(folder / PASSAGE_TOWER_DIR))
            if split_start
            else copy.deepcopy(query_model)
        )
    start = {"model_name_or_path": model_name_or_path, "resolved": path, "identity": identity}
    return tokenizer, _Towers(query_model, passage_model, preset), start


def _param_groups(towers: _Towers, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for model in towers.models():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _triples_sha256(triples) -> str:
    """SHA-256 of the (query, positive, negatives) rows in order, as JSON lines."""
    import numpy as np

    h = hashlib.sha256()
    negatives = triples["negatives"].tolist() if "negatives" in triples.columns else [None] * len(triples)
    for query, positive, negs in zip(triples["query"].tolist(), triples["positive"].tolist(), negatives):
        negs = [str(t) for t in negs] if isinstance(negs, (list, tuple, np.ndarray)) else []
        h.update(json.dumps([query, positive, negs], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def _loss_summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    if not history:
        return {"n_steps": 0}
    losses = [h["loss"] for h in history]
    k = max(1, len(losses) // 10)
    stride = max(1, math.ceil(len(history) / 100))
    curve = [[h["step"], round(h["loss"], 6)] for h in history[::stride]]
    if curve[-1][0] != history[-1]["step"]:
        curve.append([history[-1]["step"], round(history[-1]["loss"], 6)])
    return {
        "n_steps": len(losses),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "mean_first_10pct": sum(losses[:k]) / k,
        "mean_last_10pct": sum(losses[-k:]) / k,
        "min_loss": min(losses),
        "curve": curve,
    }


def _record_fixed(
    config: TrainingConfig,
    *,
    start: dict[str, str],
    temperature: float,
    device,
    total_steps: int,
    warmup_steps: int,
    triples,
    split,
    data_description: dict[str, Any] | None,
) -> dict[str, Any]:
    import torch
    import transformers

    from xqg_lab import __version__ as xqg_version

    preset = config.encoder_preset()
    data: dict[str, Any] = {
        "n_triples": len(triples),
        "triples_sha256": _triples_sha256(triples),
        "description": data_description or {},
    }
    if "lang" in triples.columns:
        data["n_triples_by_lang"] = {
            str(k): int(v) for k, v in triples["lang"].value_counts().sort_index().items()
        }
    if split is not None:
        data["split"] = json.loads(split.to_json(orient="records", force_ascii=False))
    return {
        "format": 1,
        "layout": "separate" if config.separate_towers else "shared",
        "towers": (
            {"query": QUERY_TOWER_DIR, "passage": PASSAGE_TOWER_DIR}
            if config.separate_towers
            else {"query": ".", "passage": "."}
        ),
        "start": start,
        "config": config.to_dict(),
        "encoder": {
            "preset": config.preset,
            "pooling": preset.pooling.value,
            "normalize": preset.normalize,
            "query_prefix": preset.query_prefix,
            "passage_prefix": preset.passage_prefix,
            "training_query_max_length": preset.query_max_length,
            "training_passage_max_length": preset.passage_max_length,
        },
        "resolved": {
            "temperature": temperature,
            "device": str(device),
            "total_steps": total_steps,
            "warmup_steps": warmup_steps,
            "in_batch_negatives": "micro-batch (batch_size queries)",
        },
        "seed": config.seed,
        "data": data,
        "versions": {
            "xqg_lab": xqg_version,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": sys.version.split()[0],
        },
    }


def _save_checkpoint(folder: Path, *, towers: _Towers, tokenizer, record: dict[str, Any]) -> None:
    """Weights and tokenizer first, the record last (its presence marks a complete checkpoint)."""
    folder.mkdir(parents=True, exist_ok=True)
    if towers.passage_model is None:
        targets = [(towers.query_model, folder)]
    else:
        targets = [
            (towers.query_model, folder / QUERY_TOWER_DIR),
            (towers.passage_model, folder / PASSAGE_TOWER_DIR),
        ]
    for model, target in targets:
        model.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
    write_atomic(folder / CHECKPOINT_FILE, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def encoder_from_checkpoint(path: str | os.PathLike, **kwargs) -> Encoder:
    """An :class:`~xqg_lab.encode.Encoder` for a checkpoint of :func:`train_biencoder`.

    Reads ``xqg_training.json`` for the preset, the pooling/normalisation overrides and the
    tower layout. Maximum lengths are the preset's inference lengths (training may have
    truncated shorter); any ``Encoder`` keyword in ``kwargs`` overrides.
    """
    from xqg_lab.encode.model import Encoder

    folder = Path(path)
    try:
        record = json.loads((folder / CHECKPOINT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{folder / CHECKPOINT_FILE} not found; expected a folder written by train_biencoder "
            "(use Encoder(folder, preset=...) for other save_pretrained folders)"
        ) from None
    cfg = record["config"]
    options: dict[str, Any] = {"preset": cfg["preset"]}
    if cfg.get("pooling"):
        options["pooling"] = cfg["pooling"]
    if cfg.get("normalize") is not None:
        options["normalize"] = cfg["normalize"]
    query = folder / record["towers"]["query"]
    if record["layout"] == "separate":
        options["passage_model_name_or_path"] = str(folder / record["towers"]["passage"])
    options.update(kwargs)
    return Encoder(str(query.resolve()), **options)


# -- data --------------------------------------------------------------------------------------


class TrainEvalSplit(NamedTuple):
    """A leakage-free train/evaluation split (see :func:`xquad_training_split`)."""

    train: pd.DataFrame
    eval: RetrievalData
    split: pd.DataFrame


def xquad_training_split(
    data: RetrievalData,
    *,
    eval_fraction: float = 0.5,
    seed: int = 0,
    keep_all_passages: bool = True,
) -> TrainEvalSplit:
    """Split XQuAD by article: train on the questions of some articles, evaluate on the others.

    XQuAD's 1,190 questions were asked on 240 paragraphs of 48 Wikipedia articles (5 each);
    ``doc_id`` is ``"<article:02d>-<paragraph:02d>"``. Splitting questions at random would
    train on one translation of a question and test on another, or on sibling questions of
    the same paragraph; splitting by article keeps every article (its paragraphs and every
    language's questions about them) on one side only.

    Parameters
    ----------
    data : from :func:`xqg_lab.data.load_xquad` (any language selection).
    eval_fraction : share of the articles held out for evaluation (rounded; at least one
        article on each side).
    seed : the split is ``numpy.random.default_rng(seed).permutation`` of the sorted articles,
        hence deterministic.
    keep_all_passages : evaluation corpus. True (default): all 240 paragraphs, the training
        articles' ones as distractors -- the same corpus as the zero-shot evaluation, harder,
        and it exposes a fine-tuned model that drifts towards passages it saw in training.
        False: only the evaluation articles' paragraphs.

    Returns
    -------
    TrainEvalSplit
        ``train``: triples, one row per training-article query: ``query_id``, ``lang``,
        ``query`` (question text), ``positive`` (its English gold paragraph as
        ``title + " " + text``), ``doc_id``, ``article``, ``negatives`` (the other paragraphs
        of the same article: topical hard negatives, used when ``n_negatives > 0``).
        ``eval``: :class:`RetrievalData` with the evaluation articles' queries and qrels.
        ``split``: one row per article: ``article``, ``title``, ``role`` (``"train"`` or
        ``"eval"``), ``n_paragraphs``, ``n_queries``.
    """
    import numpy as np
    import pandas as pd

    if (
        isinstance(eval_fraction, bool)
        or not isinstance(eval_fraction, (int, float))
        or not 0 < eval_fraction < 1
    ):
        raise ValueError(f"eval_fraction must be in (0, 1); got {eval_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    passages = data.passages
    bad = [d for d in passages["doc_id"] if not _is_xquad_doc_id(d)]
    if bad:
        raise ValueError(
            f"doc_id {bad[0]!r} is not an XQuAD id '<article:02d>-<paragraph:02d>'; expected data "
            "from xqg_lab.data.load_xquad"
        )
    article_of = {d: d.split("-")[0] for d in passages["doc_id"]}
    articles = sorted(set(article_of.values()))
    if len(articles) < 2:
        raise ValueError(f"need at least 2 articles to split, found {len(articles)}")
    n_eval = min(max(round(eval_fraction * len(articles)), 1), len(articles) - 1)
    order = np.random.default_rng(seed).permutation(len(articles))
    eval_articles = {articles[i] for i in order[:n_eval]}

    qrels = data.qrels[data.qrels["relevance"] > 0]
    unknown = set(qrels["doc_id"]) - set(article_of)
    if unknown:
        raise ValueError(f"qrels name passages missing from data.passages, e.g. {sorted(unknown)[0]!r}")
    roles = qrels.assign(
        role=qrels["doc_id"].map(lambda d: "eval" if article_of[d] in eval_articles else "train")
    )
    per_query = roles.groupby("query_id")["role"].agg(lambda r: sorted(set(r)))
    mixed = per_query[per_query.map(len) > 1]
    if len(mixed):
        raise ValueError(
            f"query {mixed.index[0]!r} is relevant to passages of a training and an evaluation "
            "article; the article split cannot keep it on one side"
        )
    query_role = per_query.map(lambda r: r[0])

    queries = data.queries
    train_q = queries[queries["query_id"].map(query_role) == "train"]
    eval_q = queries[queries["query_id"].map(query_role) == "eval"]

    text_of = {
        d: passage_text(t, x)
        for d, t, x in zip(passages["doc_id"], passages["title"], passages["text"])
    }
    by_article: dict[str, list[str]] = {}
    for d in passages["doc_id"]:
        by_article.setdefault(article_of[d], []).append(d)
    gold = qrels.drop_duplicates("query_id").set_index("query_id")["doc_id"]
    rows = []
    for qid, lang, text in zip(train_q["query_id"], train_q["lang"], train_q["text"]):
        doc = gold[qid]
        art = article_of[doc]
        rows.append(
            {
                "query_id": qid,
                "lang": lang,
                "query": text,
                "positive": text_of[doc],
                "doc_id": doc,
                "article": art,
                "negatives": [text_of[d] for d in by_article[art] if d != doc],
            }
        )
    train = pd.DataFrame(
        rows, columns=["query_id", "lang", "query", "positive", "doc_id", "article", "negatives"]
    )

    eval_docs = [d for d in passages["doc_id"] if article_of[d] in eval_articles]
    eval_passages = passages if keep_all_passages else passages[passages["doc_id"].isin(eval_docs)]
    eval_data = RetrievalData(
        passages=eval_passages.reset_index(drop=True),
        queries=eval_q.reset_index(drop=True),
        qrels=data.qrels[data.qrels["query_id"].isin(set(eval_q["query_id"]))].reset_index(drop=True),
    )

    title_of = {article_of[d]: t for d, t in zip(passages["doc_id"], passages["title"])}
    counts = roles.drop_duplicates("query_id")["doc_id"].map(article_of).value_counts()
    split = pd.DataFrame(
        {
            "article": articles,
            "title": [title_of[a] for a in articles],
            "role": ["eval" if a in eval_articles else "train" for a in articles],
            "n_paragraphs": [len(by_article[a]) for a in articles],
            "n_queries": [int(counts.get(a, 0)) for a in articles],
        }
    )
    return TrainEvalSplit(train=train, eval=eval_data, split=split)


def _is_xquad_doc_id(doc_id: Any) -> bool:
    parts = doc_id.split("-") if isinstance(doc_id, str) else []
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def read_dpr_training_file(
    path: str | os.PathLike,
    *,
    include_negative_ctxs: bool = False,
    on_no_positive: OnEmpty | str = OnEmpty.DROP,
) -> pd.DataFrame:
    """Read DPR-format (or Tevatron-format) retriever training data into a triples frame.

    Accepted layouts (gzip read transparently):

    - DPR (``biencoder-nq-train.json``; XOR-TyDi's ``dpr_train_data.json``): a JSON list of
      ``{"question": str, "answers": [str], "positive_ctxs": [{"title", "text",
      "passage_id"?}], "negative_ctxs": [...], "hard_negative_ctxs": [...]}``, or the same
      objects one per line (JSON lines, ``jq -c '.[]'``);
    - Tevatron (``Tevatron/xor-tydi`` train, which the xQG paper trained on): JSON lines of
      ``{"query_id", "query", "positive_passages": [{"docid", "title", "text"}],
      "negative_passages": [...]}``.

    As DPR does, the first positive is the positive, ``hard_negative_ctxs`` are the hard
    negatives (``negative_ctxs``, DPR's random/BM25 "other" negatives, are appended when
    ``include_negative_ctxs``), and items without a positive are dropped (``on_no_positive=
    "drop"``, with a warning giving their count and first index) or refused (``"raise"``).

    Returns
    -------
    DataFrame
        ``query_id`` (the item's ``id``/``query_id``/``q_id`` if any, else its index),
        ``query``, ``answers`` (list[str]), ``positive`` (``title + " " + text``),
        ``positive_id`` (``passage_id``/``docid`` or ``""``), ``negatives`` (list[str]).

    Raises
    ------
    DataFormatError
        Malformed JSON or a malformed item, naming the file, the item index and (JSON lines)
        the line.
    FileNotFoundError
        ``path`` does not exist.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no such file: {path}; expected a DPR-format training file (JSON list) or JSON lines"
        )
    on_no_positive = OnEmpty.parse(on_no_positive)
    rows: list[dict[str, Any]] = []
    dropped: list[int] = []
    for index, line, item in _iter_training_items(path):
        row = _parse_training_item(
            item, index=index, path=path, line=line, include_other=include_negative_ctxs
        )
        if row is None:
            if on_no_positive is OnEmpty.RAISE:
                raise DataFormatError(
                    path, line, f"item {index}: no positive passage; expected a non-empty positive_ctxs"
                )
            dropped.append(index)
            continue
        rows.append(row)
    if dropped:
        warnings.warn(
            f"{path}: dropped {len(dropped)} item(s) without a positive passage (first: item "
            f"{dropped[0]}), as DPR's loader does",
            stacklevel=2,
        )
    frame = pd.DataFrame(
        rows, columns=["query_id", "query", "answers", "positive", "positive_id", "negatives"]
    )
    if frame.empty:
        raise DataFormatError(path, None, "no training item with a positive passage")
    return frame


def _iter_training_items(path: Path):
    """Yield ``(index, line or None, object)`` from a JSON list or a JSON-lines file."""
    text = read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = parse_json(text, path=path, line=1)
        for index, item in enumerate(data):
            yield index, None, item
        return
    if not stripped:
        raise DataFormatError(path, None, "empty file; expected a JSON list of training items")
    index = 0
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        item = parse_json(line, path=path, line=number, expected=f" (item {index})")
        yield index, number, item
        index += 1


def _parse_training_item(item, *, index: int, path: Path, line: int | None, include_other: bool):
    def fail(message: str) -> DataFormatError:
        return DataFormatError(path, line, f"item {index}: {message}")

    if not isinstance(item, dict):
        raise fail(f"expected an object, found {type(item).__name__}")
    tevatron = "query" in item and "question" not in item
    q_key, pos_key = ("query", "positive_passages") if tevatron else ("question", "positive_ctxs")
    neg_keys = (
        ["negative_passages"]
        if tevatron
        else ["hard_negative_ctxs"] + (["negative_ctxs"] if include_other else [])
    )
    query = item.get(q_key)
    if not isinstance(query, str) or not query.strip():
        raise fail(f"field {q_key!r} must be a non-empty string, found {query!r:.80}")
    answers = item.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise fail(f"field 'answers' must be a list of strings, found {answers!r:.80}")
    if pos_key not in item:
        raise fail(f"missing field {pos_key!r}; found fields {sorted(item)}")

    def contexts(key: str) -> list[tuple[str, str]]:
        value = item.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            raise fail(f"field {key!r} must be a list of passages, found {type(value).__name__}")
        out = []
        for j, ctx in enumerate(value):
            if not isinstance(ctx, dict):
                raise fail(
                    f"{key}[{j}] must be an object with 'title' and 'text', found {type(ctx).__name__}"
                )
            text, title = ctx.get("text"), ctx.get("title", "")
            if not isinstance(text, str) or not text.strip():
                raise fail(f"{key}[{j}]: 'text' must be a non-empty string, found {text!r:.80}")
            if title is None:
                title = ""
            if not isinstance(title, str):
                raise fail(f"{key}[{j}]: 'title' must be a string, found {title!r:.80}")
            pid = ctx.get("docid" if tevatron else "passage_id", "")
            out.append((passage_text(title, text), "" if pid is None else str(pid)))
        return out

    positives = contexts(pos_key)
    negatives = [text for key in neg_keys for text, _ in contexts(key)]
    if not positives:
        return None
    qid = next((item[k] for k in ("id", "query_id", "q_id") if isinstance(item.get(k), (str, int))), index)
    return {
        "query_id": str(qid),
        "query": query,
        "answers": list(answers),
        "positive": positives[0][0],
        "positive_id": positives[0][1],
        "negatives": negatives,
    }


# -- config files and the command --------------------------------------------------------------


class DataSource(Choice, label="source"):
    """Where a training config takes its triples from."""

    XQUAD = "xquad"
    """XQuAD split by article (:func:`xquad_training_split`); the demo setting."""
    DPR = "dpr"
    """A DPR/Tevatron training file (:func:`read_dpr_training_file`); the paper's setting."""


@dataclasses.dataclass(frozen=True)
class XQuADTrainingData:
    """``data: {source: xquad, eval_fraction, seed, langs, keep_all_passages}``."""

    eval_fraction: float = 0.5
    seed: int = 0
    langs: tuple[str, ...] | None = None
    keep_all_passages: bool = True

    source = DataSource.XQUAD


@dataclasses.dataclass(frozen=True)
class DPRTrainingData:
    """``data: {source: dpr, path, include_negative_ctxs}``; ``path`` relative to the config."""

    path: str
    include_negative_ctxs: bool = False

    source = DataSource.DPR


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """A parsed training config file: start point, data and hyper-parameters."""

    model_name_or_path: str
    data: XQuADTrainingData | DPRTrainingData
    config: TrainingConfig
    source: str = "<config>"


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
    raw = read_yaml(path)
    where = str(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with a 'training' key at the top level")
    check_keys(raw, ["training"], where=where)
    if "training" not in raw:
        raise ConfigError(f"{where}: missing the top-level 'training' key")
    return parse_training_job(raw["training"], source=where, base=path.parent)


def parse_training_job(body: Any, *, source: str, base: str | os.PathLike = ".") -> TrainingJob:
    """A :class:`TrainingJob` from the mapping under ``training:`` (see
    :func:`load_training_config`); ``source`` names where it came from in error messages,
    ``base`` resolves a relative DPR ``data.path``. Notebooks take this mapping as a parameter."""
    where = f"{source}: training"
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping")
    check_keys(body, ["model_name_or_path", "data", *TrainingConfig.field_names()], where=where)
    for required in ("model_name_or_path", "data"):
        if required not in body:
            raise ConfigError(f"{where}: missing required key {required!r}")
    model = body["model_name_or_path"]
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{where}: model_name_or_path must be a non-empty string; got {model!r}")
    data = _parse_data(body["data"], where=f"{where}: data", base=Path(base))
    params = {k: v for k, v in body.items() if k not in ("model_name_or_path", "data")}
    config = TrainingConfig.from_dict(params, where=where)
    return TrainingJob(model_name_or_path=model, data=data, config=config, source=source)


def _parse_data(raw: Any, *, where: str, base: Path) -> XQuADTrainingData | DPRTrainingData:
    if not isinstance(raw, dict) or "source" not in raw:
        raise ConfigError(f"{where}: expected a mapping with 'source' ({DataSource.valid()})")
    try:
        source = DataSource.parse(raw["source"])
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    kind = XQuADTrainingData if source is DataSource.XQUAD else DPRTrainingData
    names = [f.name for f in dataclasses.fields(kind)]
    check_keys(raw, ["source", *names], where=where)
    values = {k: v for k, v in raw.items() if k != "source"}
    if source is DataSource.DPR:
        if not isinstance(values.get("path"), str) or not values["path"].strip():
            raise ConfigError(f"{where}: 'path' (the DPR-format training file) is required")
        values["path"] = str((base / Path(values["path"]).expanduser()).resolve())
        try:
            _check_type("include_negative_ctxs", values.get("include_negative_ctxs", False), bool)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return DPRTrainingData(**values)
    if "langs" in values and values["langs"] is not None:
        langs = values["langs"]
        if isinstance(langs, str):
            langs = [langs]
        if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
            raise ConfigError(f"{where}: langs must be a list of language codes or null (all)")
        values["langs"] = tuple(langs)
    frac = values.get("eval_fraction", 0.5)
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1:
        raise ConfigError(f"{where}: eval_fraction must be in (0, 1); got {frac!r}")
    try:
        _check_int("seed", values.get("seed", 0), minimum=0)
        _check_type("keep_all_passages", values.get("keep_all_passages", True), bool)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return XQuADTrainingData(**values)


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
    show_progress: bool = True,
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
        show_progress=show_progress,
    )
    return result, eval_data


def main(argv: Sequence[str] | None = None) -> int:
    """``xqg-lab train --config FILE --output-dir DIR [--overwrite] [--max-steps N]
    [--device D] [--evaluate] [--quiet]``; returns the exit code.

    ``--evaluate`` (XQuAD configs) scores the start point and the fine-tuned checkpoint on the
    held-out articles with :func:`xqg_lab.metrics.retrieval.evaluate_retrieval` and prints MRR@10 per
    language. Nothing is written outside ``--output-dir`` (the embedding cache aside).
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="xqg-lab train", description="Fine-tune a bi-encoder retriever from a training config."
    )
    parser.add_argument("--config", required=True, help="YAML file, e.g. configs/finetune_xquad_demo.yaml")
    parser.add_argument("--output-dir", required=True, help="folder of the final checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier training output there")
    parser.add_argument("--max-steps", type=int, default=None, help="cap the optimizer steps (smoke runs)")
    parser.add_argument("--device", default=None, help="override the config's device")
    parser.add_argument(
        "--evaluate", action="store_true", help="XQuAD: zero-shot vs fine-tuned MRR@10 per language"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        job = load_training_config(args.config)
        overrides = {}
        if args.max_steps is not None:
            overrides["max_steps"] = args.max_steps
        if args.device is not None:
            overrides["device"] = args.device
        if overrides:
            job = dataclasses.replace(job, config=dataclasses.replace(job.config, **overrides))
        if args.evaluate and not isinstance(job.data, XQuADTrainingData):
            raise ConfigError("--evaluate needs an XQuAD config (data.source: xquad)")
        result, eval_data = run_training_job(
            job, output_dir=args.output_dir, overwrite=args.overwrite, show_progress=not args.quiet
        )
    except (ConfigError, DataFormatError, ValueError, FileNotFoundError) as exc:
        print(f"xqg-lab train: error: {exc}", file=sys.stderr)
        return 1
    h = result.history
    k = max(1, len(h) // 10)
    print(f"checkpoint: {result.output_dir}")
    print(
        f"steps: {len(h)}  training time: {result.seconds:.1f} s  loss: first 10% "
        f"{h['loss'].head(k).mean():.4f} -> last 10% {h['loss'].tail(k).mean():.4f}"
    )
    if args.evaluate and eval_data is not None:
        _print_evaluation(job, result, eval_data, show_progress=not args.quiet)
    return 0


def _print_evaluation(
    job: TrainingJob, result: TrainingResult, eval_data: RetrievalData, *, show_progress: bool
):
    import pandas as pd

    from xqg_lab.encode.model import Encoder
    from xqg_lab.metrics.retrieval import evaluate_retrieval

    cfg = job.config
    options = {"preset": cfg.preset, "show_progress": show_progress}
    if cfg.pooling:
        options["pooling"] = cfg.pooling
    if cfg.normalize is not None:
        options["normalize"] = cfg.normalize
    rows = {}
    for name, encoder in (
        ("zero-shot", Encoder(job.model_name_or_path, **options)),
        ("fine-tuned", result.encoder(show_progress=show_progress)),
    ):
        started = time.perf_counter()
        by_lang = evaluate_retrieval(eval_data, encoder, k=100, measures=("MRR@10",)).by_lang
        rows[name] = by_lang["MRR@10"]
        print(f"{name}: evaluated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    table = pd.DataFrame(rows)
    table.loc["mean"] = table.mean()
    table["delta"] = table["fine-tuned"] - table["zero-shot"]
    print(
        f"MRR@10 on the held-out articles ({len(eval_data.queries)} queries, {len(eval_data.passages)} passages):"
    )
    print(table.round(4).to_string())


if __name__ == "__main__":
    sys.exit(main())
