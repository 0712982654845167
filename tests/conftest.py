"""Shared fixtures: the data mirror, an isolated cache, tiny random models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("XQG_LAB_MIRROR", str(REPO.parent / "shared" / "data"))


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """An empty cache folder for the toolkit."""
    monkeypatch.setenv("XQG_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _tokenizer_dir(tmp_path_factory, kind: str) -> Path:
    """A tiny real tokenizer (WordPiece for BERT, Unigram for XLM-R) built offline."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    corpus = [
        "the quick brown fox jumps over the lazy dog",
        "wer ist der präsident von frankreich",
        "東京は日本の首都です",
        "ما هي عاصمة مصر",
        "passage: query: title text",
    ] * 20
    folder = tmp_path_factory.mktemp(f"tok-{kind}")
    if kind == "bert":
        from transformers import BertTokenizerFast

        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=special))
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
        )
        BertTokenizerFast(tokenizer_object=tok).save_pretrained(folder)
    else:
        from transformers import XLMRobertaTokenizerFast

        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok.train_from_iterator(
            corpus, trainers.UnigramTrainer(vocab_size=150, special_tokens=special, unk_token="<unk>")
        )
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
