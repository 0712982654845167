"""Fine-tune a seq2seq query generator on (passage, query, language) triples, as xQG did.

The authors fine-tuned mT5 on XOR-TyDi pairs of an English passage and a question about it
in another language, with the prompt naming the question's language (DSI-QG step 1,
``ArvinZhuang/DSI-QG``; learning rate 1e-4, inputs cut at 128 tokens). This is a plain
PyTorch loop (AdamW, teacher forcing, cross-entropy on the question tokens) writing a
``save_pretrained`` folder that :class:`~xqg_lab.generate.seq2seq.Seq2SeqGenerator` loads
unchanged, with the same prompt template.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xqg_lab.core.validation import check_langs
from xqg_lab.core.atomic import write_atomic
from xqg_lab.generate.base import LANGUAGES, check_seed, check_template
from xqg_lab.generate.seq2seq import XQG_PROMPT, format_prompt

if TYPE_CHECKING:
    import pandas as pd

TRIPLE_COLUMNS = ("title", "passage", "query", "lang")


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
    learning_rate: float = 1e-4,
    batch_size: int = 8,
    num_epochs: int = 1,
    max_steps: int | None = None,
    max_input_length: int = 256,
    max_target_length: int = 64,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
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
    learning_rate, batch_size, num_epochs : AdamW settings and passes over the data.
    max_steps : int, optional
        Stop after this many optimisation steps.
    max_input_length, max_target_length : truncation of prompts and queries, in tokens.
    seed : int
        Seeds the shuffling and dropout.
    device : str
    progress : bool
        Progress bar over steps.

    Returns
    -------
    FinetuneResult
    """
    import torch
    from xqg_lab.core.progress import tqdm
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    missing = [c for c in ("passage", "query", "lang") if c not in triples.columns]
    if missing:
        raise ValueError(
            f"expected triples with columns passage, query, lang (title optional); missing {missing}"
        )
    if triples.empty:
        raise ValueError("expected at least one training triple, found none")
    check_langs(sorted(set(triples["lang"])), sorted(LANGUAGES), what="target language", refuse_duplicates=True)
    check_template(prompt_template)
    seed = check_seed(seed)
    for name, value in (("batch_size", batch_size), ("num_epochs", num_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be an int >= 1, found {value!r}")
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"expected max_steps to be an int >= 1 or None, found {max_steps!r}")
    if not learning_rate > 0:
        raise ValueError(f"expected learning_rate > 0, found {learning_rate!r}")

    titles = triples["title"].fillna("").astype(str) if "title" in triples.columns else [""] * len(triples)
    inputs = [
        format_prompt(prompt_template, lang=lang, title=title, passage=passage)
        for title, passage, lang in zip(titles, triples["passage"].astype(str), triples["lang"])
    ]
    targets = triples["query"].astype(str).tolist()

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_name_or_path).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)

    steps_per_epoch = -(-len(inputs) // batch_size)
    total = (
        steps_per_epoch * num_epochs if max_steps is None else min(max_steps, steps_per_epoch * num_epochs)
    )
    losses: list[float] = []
    bar = tqdm(total=total, desc="fine-tuning", unit="step", disable=not progress)
    while len(losses) < total:
        order = torch.randperm(len(inputs), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            if len(losses) >= total:
                break
            batch = order[start : start + batch_size]
            enc = tokenizer(
                [inputs[i] for i in batch],
                truncation=True,
                max_length=max_input_length,
                padding=True,
                return_tensors="pt",
            )
            labels = tokenizer(
                text_target=[targets[i] for i in batch],
                truncation=True,
                max_length=max_target_length,
                padding=True,
                return_tensors="pt",
            )["input_ids"]
            labels[labels == tokenizer.pad_token_id] = -100
            out = model(**{k: v.to(device) for k, v in enc.items()}, labels=labels.to(device))
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            losses.append(float(out.loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    record = {
        "base_model": model_name_or_path,
        "prompt_template": prompt_template,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "num_epochs": num_epochs,
        "max_steps": max_steps,
        "max_input_length": max_input_length,
        "max_target_length": max_target_length,
        "seed": seed,
        "n_examples": len(inputs),
        "languages": sorted(set(triples["lang"])),
        "losses": losses,
    }
    write_atomic(output_dir / "finetune.json", (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return FinetuneResult(output_dir=output_dir, losses=tuple(losses), n_examples=len(inputs))
