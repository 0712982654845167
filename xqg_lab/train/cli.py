"""``xqg-lab train``: run a training config file, optionally scoring the result on XQuAD."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from xqg_lab.core.config import ConfigError
from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import expected
from xqg_lab.data.common import RetrievalData
from xqg_lab.train.config import TrainingConfig
from xqg_lab.train.job import TrainingJob, XQuADTrainingData, load_training_config, run_training_job
from xqg_lab.train.loop import TrainingResult


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
            config = TrainingConfig.parse({**job.config.to_dict(), **overrides}, where="command line")
            job = job.model_copy(update={"config": config})
        if args.evaluate and not isinstance(job.data, XQuADTrainingData):
            raise ConfigError("--evaluate: " + expected(
                "an XQuAD config (data.source: xquad)", job.data.source.value, "drop --evaluate"))
        result, eval_data = run_training_job(
            job, output_dir=args.output_dir, overwrite=args.overwrite, progress=not args.quiet
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
        _print_evaluation(job, result, eval_data, progress=not args.quiet)
    return 0


def _print_evaluation(
    job: TrainingJob, result: TrainingResult, eval_data: RetrievalData, *, progress: bool
):
    import pandas as pd

    from xqg_lab.encode.model import Encoder
    from xqg_lab.metrics.retrieval import evaluate_retrieval

    cfg = job.config
    options = {"preset": cfg.preset, "progress": progress}
    if cfg.pooling:
        options["pooling"] = cfg.pooling
    if cfg.normalize is not None:
        options["normalize"] = cfg.normalize
    rows = {}
    for name, encoder in (
        ("zero-shot", Encoder(job.model_name_or_path, **options)),
        ("fine-tuned", result.encoder(progress=progress)),
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

