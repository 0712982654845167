"""Shared fixtures: the data mirror, an isolated cache, a table-driven fake encoder, tiny random models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("XQG_LAB_MIRROR", str(REPO.parent / "shared" / "data"))


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """An empty cache folder for the toolkit."""
    monkeypatch.setenv("XQG_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class TableEncoder:
    """A deterministic encoder: each text maps to a fixed vector, so search and fusion
    results can be derived by hand."""

    def __init__(self, table):
        self.table = table

    def encode_queries(self, texts):
        return np.array([self.table[t] for t in texts], dtype=np.float32)

    def encode_passages(self, passages):
        return np.array([self.table[t] for t in passages["text"]], dtype=np.float32)


@pytest.fixture
def table_encoder():
    """The :class:`TableEncoder` class: ``table_encoder({"text": [1.0, 0.0], ...})``."""
    return TableEncoder


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of tiny-model tests (faster, above all on a busy
    machine: no OpenMP wake-ups); use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tokenizer_dir(tmp_path_factory, kind: str) -> Path:
    """A tiny real tokenizer (WordPiece for BERT, Unigram for XLM-R) built offline.

    The vocabulary is written out, not trained: the ``tokenizers`` trainers give a different
    vocabulary (and different ids) in each process, which made a seeded training test flaky.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = "the quick brown fox jumps over lazy dog wer ist der präsident von frankreich passage query title text"
    chars = sorted(set(words.replace(" ", "") + "東京は日本の首都ですما هي عاصمة مصر:".replace(" ", "")))
    folder = tmp_path_factory.mktemp(f"tok-{kind}")
    if kind == "bert":
        from transformers import BertTokenizerFast

        special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        plain = sorted({w.replace("ä", "a") for w in words.split()})  # BertNormalizer strips accents
        vocab = special + plain + [c for c in chars if c != "ä"] + ["##" + c for c in chars if c != "ä"]
        tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
        )
        BertTokenizerFast(tokenizer_object=tok).save_pretrained(folder)
    else:
        from transformers import XLMRobertaTokenizerFast

        special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        pieces = [(t, 0.0) for t in special]
        pieces += [("\u2581" + w, -2.0) for w in sorted(set(words.split()))]
        pieces += [("\u2581", -4.0)] + [(c, -6.0) for c in chars]
        tok = Tokenizer(models.Unigram(pieces, unk_id=3))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
        )
        XLMRobertaTokenizerFast(tokenizer_object=tok).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", params=["bert", "xlm-roberta"])
def tiny_encoder_dir(request, tmp_path_factory) -> Path:
    """A tiny random BERT or XLM-R encoder with its tokenizer, saved with save_pretrained."""
    import torch
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

    kind = "bert" if request.param == "bert" else "xlmr"
    folder = _tokenizer_dir(tmp_path_factory, kind)
    torch.manual_seed(0)
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    if kind == "bert":
        model = BertModel(BertConfig(vocab_size=256, max_position_embeddings=128, **common))
    else:
        model = XLMRobertaModel(
            XLMRobertaConfig(vocab_size=256, max_position_embeddings=130, pad_token_id=1, **common)
        )
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A tiny random BERT encoder with its WordPiece tokenizer (one kind only, for tests that
    train and need no parametrisation over tokenizer kinds)."""
    import torch
    from transformers import BertConfig, BertModel

    folder = _tokenizer_dir(tmp_path_factory, "bert")
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=256,
            max_position_embeddings=128,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        )
    ).save_pretrained(folder)
    return folder


# -- tiny generators (xqg_lab.generate) ---------------------------------------------------------

_GENERATOR_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "wer ist der präsident von frankreich",
    "東京は日本の首都です",
    "ما هي عاصمة مصر",
    "Generate a Japanese question for this passage: Title text",
    "Write one question in German that the passage answers.\nTitle: Passage: Question in German:",
] * 20


@pytest.fixture(scope="session")
def tiny_mt5_dir(tmp_path_factory) -> Path:
    """A tiny random MT5ForConditionalGeneration with a SentencePiece ``spiece.model``.

    Laid out like ``ielabgroup/xor-tydi-docTquery-mt5-base`` (``spiece.model``,
    ``tokenizer_config.json`` naming ``T5Tokenizer``, no ``tokenizer.json``), so that
    ``AutoTokenizer`` takes the same conversion path as for the real model.
    """
    import json

    import sentencepiece as spm
    import torch
    from transformers import AutoTokenizer, MT5Config, MT5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny-mt5")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_GENERATOR_CORPUS),
        model_prefix=str(folder / "spiece"),
        vocab_size=120,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    (folder / "spiece.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "extra_ids": 0,
                    "tokenizer_class": "T5Tokenizer"})
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"})
    )
    vocab_size = len(AutoTokenizer.from_pretrained(folder))
    torch.manual_seed(0)
    config = MT5Config(
        vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
        num_heads=2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )
    MT5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def _bpe_tokens(special: list[str]) -> list[str]:
    """Pieces of a tiny byte-less BPE vocabulary with Metaspace, in id order, plus a newline."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never")
    tok.train_from_iterator(
        _GENERATOR_CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=special, progress=False)
    )
    tokens = [t for t, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
    return tokens + (["\n"] if "\n" not in tokens else [])


@pytest.fixture(scope="session")
def tiny_causal_dirs(tmp_path_factory) -> dict[str, Path]:
    """A tiny random LlamaForCausalLM and two tokenizer folders for it.

    ``{"model": folder with model and a plain tokenizer (no chat template),
    "chat_tokenizer": the same tokenizer with a chat template}``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<pad>", "</s>", "<s>", "<unk>", "<|user|>", "<|assistant|>"]
    tokens = _bpe_tokens(special)
    vocab = {t: i for i, t in enumerate(tokens)}
    from transformers.tokenization_utils_base import generate_merges

    tok = Tokenizer(models.BPE(vocab=vocab, merges=generate_merges(vocab), unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=["<|user|>", "<|assistant|>"],
    )
    model_dir = tmp_path_factory.mktemp("tiny-llama")
    fast.save_pretrained(model_dir)
    chat_dir = tmp_path_factory.mktemp("tiny-llama-chat-tokenizer")
    fast.chat_template = (
        "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    fast.save_pretrained(chat_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
        bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"], pad_token_id=vocab["<pad>"],
    )
    LlamaForCausalLM(config).save_pretrained(model_dir)
    return {"model": model_dir, "chat_tokenizer": chat_dir}


@pytest.fixture(scope="session")
def tiny_gemma3_gguf(tmp_path_factory) -> tuple[Path, str, Path]:
    """A tiny random Gemma 3 written as a GGUF file (float32 tensors, llama.cpp names).

    Returns ``(folder, file name, reference folder)``: the reference folder holds the same
    weights saved with ``save_pretrained``, to check that loading the GGUF recovers them.
    Mirrors the embedded Gemma 3 270M file: architecture ``gemma3``, a ``llama`` (SentencePiece
    style) vocabulary, norms stored as ``1 + w`` as llama.cpp writes them.
    """
    import gguf
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    special = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tokens = _bpe_tokens(special)
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=256,
        sliding_window=512, max_position_embeddings=2048, rope_theta=1e6,
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )
    model = Gemma3ForCausalLM(config).eval()
    folder = tmp_path_factory.mktemp("tiny-gemma3-gguf")
    reference = tmp_path_factory.mktemp("tiny-gemma3-reference")
    model.save_pretrained(reference)
    writer = gguf.GGUFWriter(str(folder / "tiny-gemma3.gguf"), "gemma3")
    writer.add_context_length(2048)
    writer.add_embedding_length(32)
    writer.add_block_count(2)
    writer.add_feed_forward_length(64)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_key_length(16)
    writer.add_value_length(16)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(1e6)
    writer.add_sliding_window(512)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types([2 if t == "<unk>" else 3 if t in special else 1 for t in tokens])
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, config.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":  # tied to the embeddings
            continue
        array = tensor.float().numpy().copy()
        if name.endswith("norm.weight"):
            array = array + 1.0
        writer.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return folder, "tiny-gemma3.gguf", reference
