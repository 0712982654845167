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
  (pooling, normalisation, ``query: ``/``passage: `` prefixes; :func:`~xqg_lab.encode.pool`
  is reused), so a checkpoint loads back with ``Encoder(<folder>, preset=...)``;
- AdamW, linear warm-up then linear decay (``transformers.get_linear_schedule_with_warmup``),
  gradient clipping, gradient accumulation, fp16/bf16 autocast.

The loop is hand-written rather than a ``transformers.Trainer`` because the in-batch negative
pool (de-duplicated passages of the micro-batch, two towers) is the thing being trained.

Passages identical in text are encoded once per micro-batch: a passage that is the positive of
several queries in the micro-batch (XQuAD has ~60 queries per paragraph once all 12 languages
are counted) is one column that every one of them must rank first, never a false negative of
the others. DPR and Tevatron do not de-duplicate; on XOR-TyDi (one gold passage per question)
the difference is negligible.

**Gradient accumulation** multiplies the number of queries per optimizer step, *not* the pool of
in-batch negatives: negatives only come from the micro-batch (``batch_size`` queries). To
reproduce a batch of 128 with in-batch negatives, set ``batch_size: 128`` (Tevatron's
``per_device_train_batch_size``), not ``32 x 4``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xqg_lab.core.validation import check_frame
from xqg_lab.encode.presets import EncoderPreset, Role
from xqg_lab.train.checkpoints import (
    encoder_from_checkpoint,
    load_start,
    loss_summary,
    prepare_output_dir,
    record_fixed,
    save_checkpoint,
)
from xqg_lab.train.config import Precision, TrainingConfig, check_precision_device

if TYPE_CHECKING:
    import pandas as pd

    from xqg_lab.encode.model import Encoder


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
    progress: bool = True,
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
        :func:`~xqg_lab.data.training.xquad_training_split`).
    data_description : optional JSON-able description of the data recorded in the checkpoint.
    progress : a progress bar with the running loss.

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
    check_precision_device(precision, device.type)
    output_dir = Path(output_dir)
    prepare_output_dir(output_dir, overwrite=overwrite)
    preset = config.encoder_preset()
    temperature = config.resolved_temperature()

    torch.manual_seed(config.seed)
    tokenizer, query_model, passage_model, start = load_start(model_name_or_path, config=config)
    towers = _Towers(query_model, passage_model, preset)
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
    fixed = record_fixed(
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
        return {**fixed, "loss": loss_summary(history), "seconds": {"training": seconds}}

    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not progress)
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
                bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", lr=f"{lr:.2e}")
                bar.update(1)
                if config.save_steps and step % config.save_steps == 0 and step < total_steps:
                    save_checkpoint(
                        output_dir / f"checkpoint-{step}",
                        query_model=towers.query_model,
                        passage_model=towers.passage_model,
                        tokenizer=tokenizer,
                        record=record(time.perf_counter() - started),
                    )
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    for model in towers.models():
        model.eval()
    frame = pd.DataFrame(history, columns=["step", "epoch", "loss", "lr", "grad_norm"])
    save_checkpoint(
        output_dir,
        query_model=towers.query_model,
        passage_model=towers.passage_model,
        tokenizer=tokenizer,
        record=record(seconds),
    )
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

    check_frame(triples, ("query", "positive"), what="triples",
                fix="add the columns 'query' and 'positive' (and optionally 'negatives')")
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
                    f"triples row {i} (index {triples.index[i]!r}): {column!r}: expected a non-empty "
                    f"string, found {value!r:.80}; fill in or drop the row"
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
                    f"triples row {i} (index {triples.index[i]!r}): 'negatives': expected a list of "
                    f"non-empty strings, found {value!r:.80}; give a list of passage texts (or None)"
                )
            negatives[i] = list(value)
    return out["query"], out["positive"], negatives


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


