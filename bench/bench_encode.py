"""Encoding throughput: the toolkit's Encoder vs sentence-transformers, same model, same texts.

Model: the embedded multilingual-e5-small (``Encoder("embedded:multilingual-e5-small")``,
cache off) and ``SentenceTransformer(Transformer(folder) + Pooling(mean) + Normalize())``
on the same converted folder (:func:`xqg_lab.encode.embedded.resolve_embedded`). Texts:
XQuAD English paragraphs (``title + " " + text``) mixed with English questions, shuffled,
all with the ``passage: `` prefix (3 to 692 tokens, truncated at 512). Target (issue 6): at
least equal, aim for 1.3× on mixed-length passages.

Against the machine's limit (issue 15): the same run times fp32 GEMMs of the encoder's own
linear-layer shapes (``torch.nn.functional.linear``, ``M`` = the median tokens of its batches,
same torch threads), interleaved with the encoders, and reports the Encoder's achieved FLOP/s
as a share of that rate (target ≥ 60%). FLOPs per forward of a batch of ``B`` texts padded to
``L`` tokens: ``2·W·B·L`` for the linear layers (``W`` their weights) plus ``4·n_layers·B·L²·d``
for attention (``QKᵀ`` and ``AV``); embeddings, layer norms, GELU and softmax are not counted.
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


def _linear_shapes(model) -> list[tuple[int, int]]:
    """``(in, out)`` of every ``nn.Linear`` of the encoder (the pooler, if any, excluded)."""
    import torch

    return [(m.in_features, m.out_features) for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and not name.startswith("pooler")]  # fmt: skip


def _forward_flops(batches: list[tuple[int, int]], shapes: list[tuple[int, int]], config) -> float:
    """FLOPs of the forwards over ``batches`` ``[(B, L), ...]`` (see the module docstring)."""
    weights = sum(i * o for i, o in shapes)
    d, layers = config.hidden_size, config.num_hidden_layers
    return float(sum(2 * weights * b * seq + 4 * layers * b * seq * seq * d for b, seq in batches))


def _gemm(shapes: list[tuple[int, int]], tokens: int):
    """A call doing one fp32 ``linear`` per encoder layer shape on ``tokens`` rows; and its FLOPs."""
    import torch

    gen = torch.Generator().manual_seed(0)
    inputs = {i: torch.randn(tokens, i, generator=gen) for i, _ in shapes}
    weights = [torch.randn(o, i, generator=gen) for i, o in shapes]
    flops = float(sum(2 * tokens * i * o for i, o in shapes))

    def call():
        with torch.inference_mode():
            for w in weights:
                torch.nn.functional.linear(inputs[w.shape[1]], w)

    return call, flops


def run(*, quick: bool) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer, models

    from xqg_lab.encode.embedded import resolve_embedded
    from xqg_lab.encode.model import Encoder
    from xqg_lab.encode.presets import Role

    texts = _texts(quick)
    folder = str(resolve_embedded("embedded:multilingual-e5-small"))
    ours = {bs: Encoder("embedded:multilingual-e5-small", cache_dir=False, progress=False, batch_size=bs)
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
        lambda module, args, kwargs: seen.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    ours[64].encode_passages(texts)
    hook.remove()
    computed["xqg_lab Encoder, batch_size 64 (length-adaptive batches)"] = sum(b * L for b, L in seen) / int(
        lengths.sum()
    )
    shapes = _linear_shapes(model)
    encoder_flops = _forward_flops(seen, shapes, model.config)
    gemm_tokens = int(np.median([b * L for b, L in seen]))
    gemm_call, gemm_flops = _gemm(shapes[: len(shapes) // model.config.num_hidden_layers], gemm_tokens)
    gemm_reps = max(1, int(encoder_flops / gemm_flops / 4))  # about a quarter of the encoder's work per call

    def gemm():
        for _ in range(gemm_reps):
            gemm_call()

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
            "fp32 GEMM, the encoder's linear shapes": gemm,
        },
        repeats=2 if quick else 5,
        cpu_times=cpu,
    )
    st_default = median(times["sentence-transformers (batch 32, default)"])
    st_cpu = median(cpu["sentence-transformers (batch 32, default)"])
    gemm_rate = gemm_reps * gemm_flops / median(times.pop("fp32 GEMM, the encoder's linear shapes"))
    cpu.pop("fp32 GEMM, the encoder's linear shapes")
    rows = [
        {
            "encoder": name,
            "median_s": median(ts),
            "texts_per_s": len(texts) / median(ts),
            "tokens_per_s": int(lengths.sum()) / median(ts),
            "x_sentence_transformers_default": st_default / median(ts),
            "median_cpu_s": median(cpu[name]),
            "x_st_default_cpu_time": st_cpu / median(cpu[name]),
            "gflop_per_s": encoder_flops / median(ts) / 1e9 if name.startswith("xqg_lab Encoder (batch 64") else None,
            "runs": len(ts),
        }
        for name, ts in times.items()
    ]
    ratio_default = st_default / median(times["xqg_lab Encoder (batch 64, default)"])
    ratio_same = median(times["sentence-transformers (batch 64)"]) / median(times["xqg_lab Encoder (batch 64, default)"])
    ratio_cpu = st_cpu / median(cpu["xqg_lab Encoder (batch 64, default)"])
    achieved = encoder_flops / median(times["xqg_lab Encoder (batch 64, default)"])
    share = achieved / gemm_rate
    return {
        "title": f"Encoding: {len(texts)} mixed XQuAD texts ({int(lengths.sum()):,} tokens), multilingual-e5-small, CPU",
        "setup": {
            "n_texts": len(texts),
            "tokens_total": int(lengths.sum()),
            "tokens_min_median_max": [int(lengths.min()), int(np.median(lengths)), int(lengths.max())],
            "torch_threads": torch.get_num_threads(),
            "tokens_computed_over_real": computed,
            "model_folder": folder,
            "encoder_gflop_per_pass": encoder_flops / 1e9,
            "encoder_batches_B_L": seen,
            "gemm_rows_M": gemm_tokens,
            "gemm_shapes_in_out": shapes[: len(shapes) // model.config.num_hidden_layers],
            "gemm_gflop_per_s": gemm_rate / 1e9,
            "encoder_gflop_per_s": achieved / 1e9,
        },
        "rows": rows,
        "checks": {"max_abs_diff_vs_sentence_transformers": max_diff},
        "targets": [
            {"target": "Encoder ≥ 1.0× sentence-transformers (defaults)", "measured": f"{ratio_default:.2f}×",
             "met": ratio_default >= 1.0},
            {"target": "aim: 1.3× on mixed-length passages (defaults)", "measured": f"{ratio_default:.2f}×",
             "met": ratio_default >= 1.3},
            {"target": "Encoder FLOP/s ≥ 60% of the fp32 GEMM rate (same run, same threads)",
             "measured": f"{100 * share:.0f}% ({achieved / 1e9:.1f} of {gemm_rate / 1e9:.1f} GFLOP/s)",
             "met": share >= 0.6},
            {"target": "(context) same batch size 64", "measured": f"{ratio_same:.2f}×", "met": None},
            {"target": "(context) defaults, by CPU time of the process", "measured": f"{ratio_cpu:.2f}×", "met": None},
        ],
    }
