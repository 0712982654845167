import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from xqg_lab.encode.cache import EmbeddingCache
from xqg_lab.encode.model import Encoder
from xqg_lab.data.common import passage_text
from xqg_lab.encode.presets import PRESETS, get_preset

TEXTS = ["wer ist der präsident", "the quick brown fox jumps over the lazy dog again", "東京", "ما هي"]


def reference_vectors(folder, texts, *, pooling, normalize, max_length):
    """Straightforward one-text-at-a-time forward pass, the ground truth."""
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for t in texts:
            batch = tok([t], truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**batch).last_hidden_state[0]
            v = hidden[0] if pooling == "cls" else hidden.mean(0)
            out.append(torch.nn.functional.normalize(v, dim=0) if normalize else v)
    return torch.stack(out).numpy()


@pytest.mark.parametrize("preset", ["e5", "dpr"])
def test_encode_queries_matches_reference_forward_pass(tiny_encoder_dir, preset):
    p = get_preset(preset)
    enc = Encoder(str(tiny_encoder_dir), preset=preset, batch_size=3, cache_dir=False, progress=False)
    got = enc.encode_queries(TEXTS)
    want = reference_vectors(
        tiny_encoder_dir,
        [p.query_prefix + t for t in TEXTS],
        pooling=p.pooling.value,
        normalize=p.normalize,
        max_length=p.query_max_length,
    )
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_e5_vectors_are_unit_length_and_dpr_are_not(tiny_encoder_dir):
    e5 = Encoder(str(tiny_encoder_dir), preset="e5", cache_dir=False, progress=False)
    dpr = Encoder(str(tiny_encoder_dir), preset="dpr", cache_dir=False, progress=False)
    np.testing.assert_allclose(np.linalg.norm(e5.encode_queries(TEXTS), axis=1), 1.0, atol=1e-5)
    assert not np.allclose(np.linalg.norm(dpr.encode_queries(TEXTS), axis=1), 1.0)


def test_passages_are_encoded_as_title_space_text(tiny_encoder_dir):
    import pandas as pd

    enc = Encoder(str(tiny_encoder_dir), preset="dpr", cache_dir=False, progress=False)
    frame = pd.DataFrame({"doc_id": ["a", "b"], "title": ["Fox", ""], "text": ["jumps over", "lazy dog"]})
    got = enc.encode_passages(frame)
    want = enc.encode_passages(["Fox jumps over", "lazy dog"])
    np.testing.assert_array_equal(got, want)
    assert passage_text("", "x") == "x"


def test_passage_fields_text_drops_the_title_and_is_recorded(tiny_encoder_dir):
    import pandas as pd

    frame = pd.DataFrame({"doc_id": ["a", "b"], "title": ["Fox", ""], "text": ["jumps over", "lazy dog"]})
    enc = Encoder(str(tiny_encoder_dir), preset="dpr", passage_fields="text", cache_dir=False, progress=False)
    np.testing.assert_array_equal(enc.encode_passages(frame), enc.encode_passages(["jumps over", "lazy dog"]))
    assert enc.settings("passage")["passage_fields"] == "text" and "passage_fields" not in enc.settings("query")
    default = Encoder(str(tiny_encoder_dir), preset="dpr", cache_dir=False, progress=False)
    assert "passage_fields" not in default.settings("passage")  # existing cache keys stay valid
    both = default.with_passage_fields("text")
    np.testing.assert_array_equal(both.encode_passages(frame), enc.encode_passages(frame))
    assert default.preset.passage_fields.value == "title_text" and passage_text("T", "x", "text") == "x"
    with pytest.raises(ValueError, match="expected passage_fields to be one of 'title_text', 'text'"):
        Encoder(str(tiny_encoder_dir), passage_fields="title")


def test_dpr_preset_truncates_passages_to_128_tokens(tiny_encoder_dir):
    long_text = " ".join(["the quick brown fox"] * 100)
    enc = Encoder(str(tiny_encoder_dir), preset="dpr", cache_dir=False, progress=False)
    got = enc.encode_passages([long_text])
    want = reference_vectors(tiny_encoder_dir, [long_text], pooling="cls", normalize=False, max_length=128)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert PRESETS["dpr"].query_max_length == 32


def test_batch_size_and_length_sorting_do_not_change_vectors(tiny_encoder_dir):
    a = Encoder(str(tiny_encoder_dir), batch_size=1, cache_dir=False, progress=False)
    b = Encoder(str(tiny_encoder_dir), batch_size=64, cache_dir=False, progress=False)
    np.testing.assert_allclose(a.encode_queries(TEXTS), b.encode_queries(TEXTS), atol=1e-5)


def test_custom_pooling_callable_is_used(tiny_encoder_dir):
    def first_token_times_two(hidden, mask):
        return hidden[:, 0] * 2

    enc = Encoder(
        str(tiny_encoder_dir), preset="dpr", pooling=first_token_times_two, cache_dir=False, progress=False
    )
    plain = Encoder(str(tiny_encoder_dir), preset="dpr", cache_dir=False, progress=False)
    np.testing.assert_allclose(enc.encode_queries(TEXTS), 2 * plain.encode_queries(TEXTS), atol=1e-5)
    assert enc.settings("query")["pooling"].endswith("first_token_times_two")


def test_unknown_preset_and_pooling_name_the_valid_values():
    with pytest.raises(ValueError, match="valid presets: dpr, e5"):
        Encoder("x", preset="colbert")
    with pytest.raises(ValueError, match="'cls', 'mean'"):
        Encoder("x", pooling="avg")


def test_fp16_on_cpu_is_refused(tiny_encoder_dir):
    enc = Encoder(str(tiny_encoder_dir), device="cpu", fp16=True, cache_dir=False, progress=False)
    with pytest.raises(ValueError, match="fp16=True needs a CUDA device"):
        enc.encode_queries(["x"])


def test_cache_key_changes_with_role_prefix_and_weights(tiny_encoder_dir):
    enc = Encoder(str(tiny_encoder_dir), cache_dir=False)
    q, p = enc.settings("query"), enc.settings("passage")
    assert q["model"] == p["model"] and q["model"].startswith("sha256:")
    assert (q["role"], q["prefix"]) == ("query", "query: ")
    assert (p["role"], p["prefix"]) == ("passage", "passage: ")


def test_second_encode_reads_the_cache_without_running_the_model(tiny_encoder_dir, tmp_path):
    enc = Encoder(str(tiny_encoder_dir), cache_dir=tmp_path, progress=False)
    first = enc.encode_queries(TEXTS)
    again = Encoder(str(tiny_encoder_dir), cache_dir=tmp_path, progress=False)
    again._encode_uncached = lambda *a, **k: pytest.fail("re-encoded a cached text")
    np.testing.assert_array_equal(again.encode_queries(TEXTS[::-1]), first[::-1])


def test_cache_encodes_only_new_and_distinct_texts(tmp_path):
    calls = []

    def fake_encode(texts):
        calls.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = EmbeddingCache(tmp_path, chunk_size=2)
    cache.encode({"m": 1}, ["a", "bb", "a"], fake_encode)
    out = cache.encode({"m": 1}, ["ccc", "a", "bb", "ccc"], fake_encode)
    assert calls == [["a", "bb"], ["ccc"]]
    np.testing.assert_array_equal(out[:, 0], [3, 1, 2, 3])


def test_corrupted_cache_chunk_is_detected_and_rebuilt(tmp_path):
    def fake_encode(texts):
        return np.ones((len(texts), 2), dtype=np.float32)

    cache = EmbeddingCache(tmp_path)
    cache.encode({"m": 1}, ["a", "b"], fake_encode)
    (vectors,) = tmp_path.glob("*/*.vectors.npy")
    vectors.write_bytes(vectors.read_bytes()[:-4])  # truncated write
    with pytest.warns(UserWarning, match="truncated or corrupted"):
        out = cache.encode({"m": 1}, ["a", "b"], fake_encode)
    np.testing.assert_array_equal(out, np.ones((2, 2)))


def test_load_model_skips_the_pooler_only_when_the_checkpoint_has_none(tiny_bert_dir, tmp_path):
    from transformers import BertModel

    from xqg_lab.encode.model import load_model

    assert load_model(str(tiny_bert_dir)).pooler is not None  # saved with a pooler: kept
    without = tmp_path / "no-pooler"
    BertModel.from_pretrained(tiny_bert_dir, add_pooling_layer=False).save_pretrained(without)
    model = load_model(str(without))
    assert model.pooler is None  # no randomly initialised layer
    reference = BertModel.from_pretrained(tiny_bert_dir)
    assert torch.equal(model.embeddings.word_embeddings.weight, reference.embeddings.word_embeddings.weight)
