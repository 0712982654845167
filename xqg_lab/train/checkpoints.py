"""Checkpoints of :func:`~xqg_lab.train.train_biencoder`: start points, the saved folder, its record.

A checkpoint is a ``save_pretrained`` folder (model + tokenizer) plus ``xqg_training.json``
(every parameter, the resolved start point, the data description and split, seed, loss
summary, timings, versions). A shared tower is saved at the folder's top level; separate towers
go to ``query_encoder/`` and ``passage_encoder/``. Intermediate checkpoints (``save_steps``) go
to ``checkpoint-<step>/`` with the same layout. Load one with::

    Encoder(folder, preset="dpr")                                            # shared tower
    Encoder(folder / "query_encoder", preset="dpr",
            passage_model_name_or_path=str(folder / "passage_encoder"))     # separate towers
    encoder_from_checkpoint(folder)    # reads xqg_training.json: preset, overrides, layout
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xqg_lab.core.atomic import write_atomic
from xqg_lab.core.config import ConfigError
from xqg_lab.train.config import TrainingConfig

if TYPE_CHECKING:
    from xqg_lab.encode.model import Encoder

CHECKPOINT_FILE = "xqg_training.json"
"""Name of the training record written next to the weights of every checkpoint."""

QUERY_TOWER_DIR = "query_encoder"
PASSAGE_TOWER_DIR = "passage_encoder"


def prepare_output_dir(output_dir: Path, *, overwrite: bool) -> None:
    """Create ``output_dir``; replace it only when ``overwrite`` and it holds an earlier checkpoint."""
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


def resolve_start(model_name_or_path: str) -> tuple[str, str]:
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


def load_start(model_name_or_path: str, *, config: TrainingConfig):
    """``(tokenizer, query model, passage model or None, start record)`` of a start point."""
    import copy

    from transformers import AutoTokenizer

    from xqg_lab.encode.model import load_model

    path, identity = resolve_start(model_name_or_path)
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
    return tokenizer, query_model, passage_model, start




def triples_sha256(triples) -> str:
    """SHA-256 of the (query, positive, negatives) rows in order, as JSON lines."""
    import numpy as np

    h = hashlib.sha256()
    negatives = triples["negatives"].tolist() if "negatives" in triples.columns else [None] * len(triples)
    for query, positive, negs in zip(triples["query"].tolist(), triples["positive"].tolist(), negatives):
        negs = [str(t) for t in negs] if isinstance(negs, (list, tuple, np.ndarray)) else []
        h.update(json.dumps([query, positive, negs], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def loss_summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    """First/last/min losses (nats), 10% means and a curve of at most ~100 ``[step, loss]`` points."""
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


def record_fixed(
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
    """The parts of the checkpoint record that do not change during training."""
    import torch
    import transformers

    from xqg_lab import __version__ as xqg_version

    preset = config.encoder_preset()
    data: dict[str, Any] = {
        "n_triples": len(triples),
        "triples_sha256": triples_sha256(triples),
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


def save_checkpoint(folder: Path, *, query_model, passage_model, tokenizer, record: dict[str, Any]) -> None:
    """Weights and tokenizer first, the record last (its presence marks a complete checkpoint)."""
    folder.mkdir(parents=True, exist_ok=True)
    if passage_model is None:
        targets = [(query_model, folder)]
    else:
        targets = [
            (query_model, folder / QUERY_TOWER_DIR),
            (passage_model, folder / PASSAGE_TOWER_DIR),
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


