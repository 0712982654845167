"""Hugging Face sequence-to-sequence query generators (the mT5 family of xQG).

The released xQG generator, ``ielabgroup/xor-tydi-docTquery-mt5-base`` (mT5-base fine-tuned
on XOR-TyDi passage -> question pairs; Zhuang, Shou and Zuccon, SIGIR 2023,
arXiv 2305.03950; code ``ielab/xQG4xDR``), reads the prompt
``Generate a {language} question for this passage: {title} {passage}`` with the language
names of :data:`~xqg_lab.generate.base.LANGUAGES` ("Arabic", "Bengali", "Finnish",
"Japanese", "Korean", "Russian", "Telugu") and was run with sampling, top-k 10 and
``max_length=64``: those are the defaults here. Its tokenizer is a SentencePiece
``spiece.model`` (``T5Tokenizer``; converting it needs the ``protobuf`` package) with no
length limit of its own, so inputs are cut at ``max_input_length`` tokens (512 by default;
the authors' DSI-QG pipeline used 256 for generation and 128 for training).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from xqg_lab.core.validation import check_langs, check_positive_int
from xqg_lab.generate._hf import HFGenerator, model_identity, torch_dtype
from xqg_lab.generate.base import LANGUAGES, check_passages, check_template

if TYPE_CHECKING:
    import pandas as pd
    import torch

XQG_PROMPT = "Generate a {language} question for this passage: {title} {passage}"
"""The released xQG generator's prompt (``ielab/xQG4xDR`` README)."""

DSI_QG_PROMPT = "Generate {language} question: {title}</s>{passage}"
"""The prompt of the authors' earlier DSI-QG mT5 query generator (``ArvinZhuang/DSI-QG``)."""

XQG_MODEL = "ielabgroup/xor-tydi-docTquery-mt5-base"
"""The paper's released generator on the Hugging Face hub."""


def format_prompt(template: str, *, lang: str, title: str, passage: str) -> str:
    """``template`` with ``{language}`` (English name of ``lang``), ``{title}``, ``{passage}``."""
    return template.format(language=LANGUAGES[lang].name, title=title, passage=passage)


class Seq2SeqGenerator(HFGenerator):
    """Queries from a seq2seq model (mT5/T5/BART) prompted per target language.

    Parameters
    ----------
    model_name_or_path : str
        Hub id or local folder loadable with ``AutoModelForSeq2SeqLM`` and ``AutoTokenizer``.
    revision : str, optional
        Hub revision (branch, tag or commit).
    prompt_template : str
        With ``{language}`` (English name), ``{title}`` and ``{passage}`` fields.
    do_sample, top_k, top_p, temperature : sampling settings (the paper: sampling, top-k 10).
    num_beams : int
        Beam search when > 1 (with ``do_sample=False``); ``n_per_lang`` <= ``num_beams``
        best beams are returned. ``do_sample=False, num_beams=1`` is greedy (n = 1).
    max_length : int
        Maximum decoder length in tokens, counting the decoder start token (as
        ``generate(max_length=64)`` in the paper's code).
    max_input_length : int
        Prompts are truncated to this many tokens (from the end of the passage).
    batch_size : int
        Prompts per ``generate`` call (each yields ``n_per_lang`` rows); prompts are sorted
        by length so that batches hold prompts of similar length.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    dtype : {"float32", "bfloat16", "float16"}
        Weights' type; mT5 overflows in float16 -- use bfloat16 on GPUs.

    Sampled queries are reproducible per (seed, passage, language, sample): see
    :mod:`xqg_lab.generate._hf`.
    """

    name = "seq2seq"
    backend = "seq2seq"

    def __init__(
        self,
        model_name_or_path: str = XQG_MODEL,
        *,
        revision: str | None = None,
        prompt_template: str = XQG_PROMPT,
        max_length: int = 64,
        max_input_length: int = 512,
        batch_size: int = 16,
        **decoding: Any,
    ):
        super().__init__(model_name_or_path, revision=revision, batch_size=batch_size, **decoding)
        self.prompt_template = check_template(prompt_template)
        self.max_length = check_positive_int(max_length, "max_length")
        self.max_input_length = check_positive_int(max_input_length, "max_input_length")

    def params(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": model_identity(self.model_name_or_path, revision=self.revision),
            "prompt_template": self.prompt_template,
            "language_names": {code: lang.name for code, lang in LANGUAGES.items()},
            "decoding": {**self.decoding_params(), "max_length": self.max_length},
            "max_input_length": self.max_input_length,
            "dtype": self.dtype,
        }

    def build_prompts(self, passages: pd.DataFrame, *, langs: Iterable[str] | str) -> pd.DataFrame:
        """The prompt of every (passage, language): ``doc_id``, ``lang``, ``prompt`` (str).

        Rows in passage order, then ``langs`` order; the text is what the tokenizer gets
        (before truncation to ``max_input_length`` tokens).
        """
        import pandas as pd

        passages = check_passages(passages)
        langs = check_langs(langs, sorted(LANGUAGES), what="target language", refuse_duplicates=True)
        rows = [
            {
                "doc_id": doc_id,
                "lang": lang,
                "prompt": format_prompt(self.prompt_template, lang=lang, title=title, passage=text),
            }
            for doc_id, title, text in passages[["doc_id", "title", "text"]].itertuples(index=False)
            for lang in langs
        ]
        return pd.DataFrame(rows, columns=["doc_id", "lang", "prompt"])

    def _load_model(self) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.tokenizer_ = AutoTokenizer.from_pretrained(self.model_name_or_path, revision=self.revision)
        self.tokenizer_.padding_side = "right"
        model = AutoModelForSeq2SeqLM.from_pretrained(
            self.model_name_or_path, revision=self.revision, dtype=torch_dtype(self.dtype)
        )
        self.model_ = model.to(self.device)

    def _encode(self, prompts: list[str]) -> list[list[int]]:
        return self.tokenizer_(prompts, truncation=True, max_length=self.max_input_length)["input_ids"]

    def _generation_config(self, n: int):
        config = super()._generation_config(n)
        config.max_length = self.max_length
        return config

    def _sample_batch(
        self, inputs: dict[str, torch.Tensor], n: int, config, kwargs: dict[str, Any]
    ) -> torch.Tensor:
        """Encode each prompt once, then decode ``n`` rows from copies of its encoder states."""
        from transformers.modeling_outputs import BaseModelOutput

        encoder = self.model_.get_encoder()
        hidden = encoder(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
        ).last_hidden_state
        return self.model_.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=hidden.repeat_interleave(n, dim=0)),
            attention_mask=inputs["attention_mask"].repeat_interleave(n, dim=0),
            generation_config=config,
            **kwargs,
        )

    def _decode_batch(self, output_ids: torch.Tensor, input_width: int) -> list[str]:
        return self.tokenizer_.batch_decode(output_ids, skip_special_tokens=True)

    def _postprocess(self, text: str, lang: str) -> str:
        return " ".join(text.split())
