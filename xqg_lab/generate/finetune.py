"""Fine-tune a seq2seq query generator on (passage, query, language) triples, as xQG did.

The authors fine-tuned mT5 on XOR-TyDi pairs of an English passage and a question about it
in another language, with the prompt naming the question's language (DSI-QG step 1,
``ArvinZhuang/DSI-QG``; learning rate 1e-4, inputs cut at 128 tokens). Training runs on
Hugging Face's ``Seq2SeqTrainer`` with ``DataCollatorForSeq2Seq`` (AdamW, teacher forcing,
cross-entropy on the question tokens; linear warm-up and decay, gradient clipping and
accumulation, bf16/fp16 from the trainer) and writes a ``save_pretrained`` folder that
:class:`~xqg_lab.generate.seq2seq.Seq2SeqGenerator` loads unchanged, with the same prompt
template. Options are named as in the encoder training (:class:`xqg_lab.train.TrainingConfig`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import pydantic

from xqg_lab.core.atomic import write_atomic
from xqg_lab.core.validation import ConfigModel, check_langs
from xqg_lab.generate.base import LANGUAGES, check_seed, check_template
from xqg_lab.generate.seq2seq import XQG_PROMPT, format_prompt

if TYPE_CHECKING:
    import pandas as pd

TRIPLE_COLUMNS = ("title", "passage", "query", "lang")
RECORD_FILE = "finetune.json"
"""The settings and losses written next to the fine-tuned weights."""

_Count = Annotated[int, pydantic.Field(strict=True, ge=1)]
_Fraction = Annotated[float, pydantic.Field(ge=0, lt=1)]


class FinetuneOptions(ConfigModel):
    """The hyper-parameters of :func:`finetune_seq2seq` (names and meanings of
    :class:`xqg_lab.train.TrainingConfig`)."""

    where: ClassVar[str] = "finetune_seq2seq"

    learning_rate: Annotated[float, pydantic.Field(gt=0)] = 1e-4
    batch_size: _Count = 8
    epochs: _Count = 1
    max_steps: _Count | None = None
    max_input_length: _Count = 256
    max_target_length: _Count = 64
    warmup_ratio: _Fraction = 0.0
    weight_decay: Annotated[float, pydantic.Field(ge=0)] = 0.0
    gradient_accumulation_steps: _Count = 1
    max_grad_norm: Annotated[float, pydantic.Field(gt=0)] | None = 1.0
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    seed: int = 0
    device: str = "cpu"


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune_seq2seq` did.

    output_dir : the saved model and tokenizer (plus ``finetune.json``).
    losses : mean training loss of each optimisation step (nats per target token).
    n_examples : training triples used.
    """

    output_dir: Path
    losses: tuple[float, ...]
    n_examples: int


def training_triples(passages: pd.DataFrame, queries: pd.DataFrame, qrels: pd.DataFrame) -> pd.DataFrame:
    """(passage, query, language) triples from a retrieval collection: one per relevant pair.

    Returns ``title``, ``passage``, ``query``, ``lang`` (str), in the order of ``qrels``.
    Exclude evaluation queries before calling this (e.g. with
    :func:`~xqg_lab.generate.heldout.split_questions`).
    """
    relevant = qrels[qrels["relevance"] > 0] if "relevance" in qrels.columns else qrels
    merged = relevant[["query_id", "doc_id"]].merge(queries[["query_id", "lang", "text"]], on="query_id")
    merged = merged.merge(
        passages[["doc_id", "title", "text"]].rename(columns={"text": "passage"}), on="doc_id"
    )
    out = merged.rename(columns={"text": "query"})[list(TRIPLE_COLUMNS)].copy()
    out["title"] = out["title"].fillna("").astype(str)
    return out.reset_index(drop=True)


def finetune_seq2seq(
    triples: pd.DataFrame,
    output_dir: str | os.PathLike,
    *,
    model_name_or_path: str = "google/mt5-base",
    prompt_template: str = XQG_PROMPT,
    progress: bool = True,
    **options,
) -> FinetuneResult:
    """Fine-tune ``model_name_or_path`` to write a ``lang`` question for a passage.

    Parameters
    ----------
    triples : DataFrame
        ``passage``, ``query``, ``lang`` (ISO 639-1) and optionally ``title`` -- e.g. from
        :func:`training_triples`.
    output_dir : path
        Where the model, tokenizer and ``finetune.json`` (settings and losses) are saved.
    model_name_or_path : str
        The starting checkpoint (the paper: ``google/mt5-base``).
    prompt_template : str
        Input format; keep it equal to the generator's (default: the xQG prompt).
    progress : bool
        Progress bar over optimizer steps, with the running loss.
    **options
        :class:`FinetuneOptions`: ``learning_rate`` (peak AdamW rate), ``batch_size``
        (examples per micro-batch), ``epochs``, ``max_steps`` (cap on optimizer steps),
        ``max_input_length`` / ``max_target_length`` (truncation in tokens),
        ``warmup_ratio`` (share of steps of linear warm-up, then linear decay to 0),
        ``weight_decay``, ``gradient_accumulation_steps``, ``max_grad_norm`` (None: no
        clipping), ``precision`` (``"fp32"``, ``"fp16"``, ``"bf16"``), ``seed`` (shuffling
        and dropout), ``device`` (``"cpu"`` or a CUDA device).

    Returns
    -------
    FinetuneResult
    """
    import torch
    from transformers import (
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        PrinterCallback,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
    )

    missing = [c for c in ("passage", "query", "lang") if c not in triples.columns]
    if missing:
        raise ValueError(
            f"expected triples with columns passage, query, lang (title optional); missing {missing}"
        )
    if triples.empty:
        raise ValueError("expected at least one training triple, found none")
    check_langs(sorted(set(triples["lang"])), sorted(LANGUAGES), what="target language", refuse_duplicates=True)
    check_template(prompt_template)
    settings = FinetuneOptions.parse(options)
    check_seed(settings.seed)

    titles = triples["title"].fillna("").astype(str) if "title" in triples.columns else [""] * len(triples)
    inputs = [
        format_prompt(prompt_template, lang=lang, title=title, passage=passage)
        for title, passage, lang in zip(titles, triples["passage"].astype(str), triples["lang"])
    ]
    targets = triples["query"].astype(str).tolist()

    torch.manual_seed(settings.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_name_or_path)
    encoded = tokenizer(inputs, truncation=True, max_length=settings.max_input_length)
    labels = tokenizer(text_target=targets, truncation=True, max_length=settings.max_target_length)["input_ids"]
    examples = [
        {"input_ids": ids, "attention_mask": mask, "labels": label}
        for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], labels)
    ]
    losses: list[float] = []
    with tempfile.TemporaryDirectory(prefix="xqg-finetune-") as scratch:
        args = Seq2SeqTrainingArguments(
            output_dir=scratch,
            per_device_train_batch_size=settings.batch_size,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps or -1,
            learning_rate=settings.learning_rate,
            warmup_steps=settings.warmup_ratio,
            weight_decay=settings.weight_decay,
            gradient_accumulation_steps=settings.gradient_accumulation_steps,
            max_grad_norm=settings.max_grad_norm if settings.max_grad_norm is not None else 0.0,
            bf16=settings.precision == "bf16",
            fp16=settings.precision == "fp16",
            use_cpu=settings.device == "cpu",
            seed=settings.seed,
            data_seed=settings.seed,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = Seq2SeqTrainer(
            model=model,
            args=args,
            train_dataset=examples,
            data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100),
            processing_class=tokenizer,
            callbacks=[_loss_bar(losses, progress=progress)],
        )
        trainer.remove_callback(PrinterCallback)
        # mT5/T5 take **kwargs but ignore num_items_in_batch (their loss is a per-batch mean), so the
        # trainer must divide by the accumulation steps itself: one step's loss = mean of its micro-batches'.
        trainer.model_accepts_loss_kwargs = False
        trainer.train()

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    record = {
        "base_model": model_name_or_path,
        "prompt_template": prompt_template,
        **settings.model_dump(),
        "n_examples": len(inputs),
        "languages": sorted(set(triples["lang"])),
        "losses": losses,
    }
    write_atomic(output_dir / RECORD_FILE, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return FinetuneResult(output_dir=output_dir, losses=tuple(losses), n_examples=len(inputs))


def _loss_bar(losses: list[float], *, progress: bool):
    """A ``TrainerCallback`` that collects the loss of every optimizer step (the trainer logs
    each step) into ``losses`` and shows it on the toolkit's progress bar."""
    from transformers import TrainerCallback

    from xqg_lab.core.progress import tqdm

    class LossBar(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc="fine-tuning", unit="step", disable=not progress)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                self.bar.update(1)
                self.bar.set_postfix(loss=f"{losses[-1]:.3f}")

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return LossBar()
