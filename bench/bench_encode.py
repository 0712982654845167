"""Encoding throughput: the toolkit's Encoder vs sentence-transformers, same model, same texts.

Model: the embedded multilingual-e5-small (``Encoder("embedded:multilingual-e5-small")``,
cache off) and ``SentenceTransformer(Transformer(folder) + Pooling(mean) + Normalize())``
on the same converted folder (:func:`xqg_lab.encode.embedded.resolve_embedded`). Texts:
XQuAD English paragraphs (``title + " " + text``) mixed with English questions, shuffled,
all with the ``passage: `` prefix (3 to 692 tokens, truncated at 512). Target (issue 6): at
least equal, aim for 1.3× on mixed-length passages.
"""

from __future__ import annotations

import numpy as np

from _common import interleaved, median


def _texts(quick: bool) -> list[str]:
    from xqg_lab.data.xquad import load_xquad

    data = load_xquad("en")
    paragraphs = (data.passages["title"] + " " + data.passages["text"]).tolist()
    questions = data.queries["text"].tolist()
    rng = np.random.default_rng(0)
    n_par, n_q = (30, 90) if quick else (60, 180)
    texts = [paragraphs[i] for i in rng.choice(len(paragraphs), n_par, replace=False)]
    texts += [questions[i] for i in rng.choice(len(questions), n_q, replace=False)]
    return [texts[i] for i in rng.permutation(len(texts))]


def run(*, quick: bool) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer, models

    from xqg_lab.encode.embedded import resolve_embedded
    from xqg_lab.encode.model import Encoder
    from xqg_lab.encode.presets import Role

    texts = _texts(quick)
    folder = str(resolve_embedded("embedded:multilingual-e5-small"))
    ours = {bs: Encoder("embedded:multilingual-e5-small", cache_dir=False, show_progress=False, batch_size=bs)
            for bs in (64, 32)}
    prefixed = ["passage: " + t for t in texts]
    st = SentenceTransformer(
        modules=[models.Transformer(folder, max_seq_length=512), models.Pooling(384, "mean"), models.Normalize()],
        device="cpu",
    )
    tokenizer = ours[64]._tower(Role.PASSAGE)[0]
    lengths = np.array([len(ids) for ids in tokenizer(prefixed, truncation=True, max_length=512)["input_ids"]])

    # Tokens each batching computes (padding included), relative to the real tokens.
    def padded(batches):
        return sum(len(b) * int(lengths[b].max()) for b in batches) / int(lengths.sum())

    by_tokens = np.argsort(-lengths, kind="stable")
    by_chars = np.argsort([-len(t) for t in prefixed], kind="stable")  # sentence-transformers' order
    computed = {
        "fixed batches of 64, sorted by tokens (Encoder before this change)": padded(
            [by_tokens[i : i + 64] for i in range(0, len(texts), 64)]
        ),
        "sentence-transformers, batches of 32 sorted by characters": padded(
            [by_chars[i : i + 32] for i in range(0, len(texts), 32)]
        ),
        "sentence-transformers, batches of 64 sorted by characters": padded(
            [by_chars[i : i + 64] for i in range(0, len(texts), 64)]
        ),
    }

    # Same vectors? (and warm-up of both)
    a = ours[64].encode_passages(texts)
    b = st.encode(prefixed, batch_size=32, show_progress_bar=False, convert_to_numpy=True)
    max_diff = float(np.abs(a - b).max())

    seen = []
    model = ours[64]._tower(Role.PASSAGE)[1]
    hook = model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["input_ids"].numel()), with_kwargs=True
    )
    ours[64].encode_passages(texts)
    hook.remove()
    computed["xqg_lab Encoder, batch_size 64 (length-adaptive batches)"] = sum(seen) / int(lengths.sum())

    cpu: dict[str, list[float]] = {}
    times = interleaved(
        {
            "xqg_lab Encoder (batch 64, default)": lambda: ours[64].encode_passages(texts),
            "sentence-transformers (batch 32, default)": lambda: st.encode(
                prefixed, batch_size=32, show_progress_bar=False, convert_to_numpy=True
            ),
            "xqg_lab Encoder (batch 32)": lambda: ours[32].encode_passages(texts),
            "sentence-transformers (batch 64)": lambda: st.encode(
                prefixed, batch_size=64, show_progress_bar=False, convert_to_numpy=True
            ),
        },
        repeats=2 if quick else 5,
        cpu_times=cpu,
    )
    st_default = median(times["sentence-transformers (batch 32, default)"])
    st_cpu = median(cpu["sentence-transformers (batch 32, default)"])
    rows = [
        {
            "encoder": name,
            "median_s": median(ts),
            "texts_per_s": len(texts) / median(ts),
            "tokens_per_s": int(lengths.sum()) / median(ts),
            "x_sentence_transformers_default": st_default / median(ts),
            "median_cpu_s": median(cpu[name]),
            "x_st_default_cpu_time": st_cpu / median(cpu[name]),
            "runs": len(ts),
        }
        for name, ts in times.items()
    ]
    ratio_default = st_default / median(times["xqg_lab Encoder (batch 64, default)"])
    ratio_same = median(times["sentence-transformers (batch 64)"]) / median(times["xqg_lab Encoder (batch 64, default)"])
    ratio_cpu = st_cpu / median(cpu["xqg_lab Encoder (batch 64, default)"])
    return {
        "title": f"Encoding: {len(texts)} mixed XQuAD texts ({int(lengths.sum()):,} tokens), multilingual-e5-small, CPU",
        "setup": {
            "n_texts": len(texts),
            "tokens_total": int(lengths.sum()),
            "tokens_min_median_max": [int(lengths.min()), int(np.median(lengths)), int(lengths.max())],
            "torch_threads": torch.get_num_threads(),
            "tokens_computed_over_real": computed,
            "model_folder": folder,
        },
        "rows": rows,
        "checks": {"max_abs_diff_vs_sentence_transformers": max_diff},
        "targets": [
            {"target": "Encoder ≥ 1.0× sentence-transformers (defaults)", "measured": f"{ratio_default:.2f}×",
             "met": ratio_default >= 1.0},
            {"target": "aim: 1.3× on mixed-length passages (defaults)", "measured": f"{ratio_default:.2f}×",
             "met": ratio_default >= 1.3},
            {"target": "(context) same batch size 64", "measured": f"{ratio_same:.2f}×", "met": None},
            {"target": "(context) defaults, by CPU time of the process", "measured": f"{ratio_cpu:.2f}×", "met": None},
        ],
    }
