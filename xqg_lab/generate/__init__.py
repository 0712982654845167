"""Query generation for xQG: backends behind one interface, a resumable store, a language check.

Backends (registry names of :data:`GENERATORS`):

- ``"seq2seq"`` -- :class:`~xqg_lab.generate.seq2seq.Seq2SeqGenerator`, Hugging Face
  seq2seq models with the released xQG prompt (default model
  ``ielabgroup/xor-tydi-docTquery-mt5-base``);
- ``"causal"`` -- :class:`~xqg_lab.generate.causal.CausalLMGenerator`, causal LMs with a
  few-shot prompt (chat template when there is one), GGUF files included;
- ``"embedded:gemma-3-270m"`` -- :class:`~xqg_lab.generate.embedded.EmbeddedGemmaGenerator`,
  the offline stand-in (Gemma 3 270M GGUF from PyPI);
- ``"heldout"`` -- :class:`~xqg_lab.generate.heldout.HeldOutQueries`, held-out human
  questions of a parallel collection (an upper bound).

Each has ``generate(passages, *, langs, n_per_lang, seed=0, progress=False)`` returning
``doc_id, lang, sample, text`` records and ``params()``; :func:`generate_store` writes them
to a resumable Parquet store, :func:`read_store` reads it back. Importing this package does
not import torch or transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xqg_lab.generate.base import LANGUAGES, RECORD_COLUMNS, Generator, Language, language_name
from xqg_lab.generate.causal import CausalLMGenerator, FewShotExample, FewShotPrompt
from xqg_lab.generate.embedded import EMBEDDED_GENERATOR_LABEL, EmbeddedGemmaGenerator
from xqg_lab.generate.finetune import finetune_seq2seq, training_triples
from xqg_lab.generate.heldout import HeldOutQueries, evaluation_queries, samples_per_passage, split_questions
from xqg_lab.generate.langcheck import check_languages, in_target_language, pass_rate_by_language
from xqg_lab.generate.seq2seq import XQG_MODEL, XQG_PROMPT, Seq2SeqGenerator
from xqg_lab.generate.store import STORE_COLUMNS, generate_store, read_store, read_store_params

__all__ = [
    "EMBEDDED_GENERATOR_LABEL",
    "GENERATORS",
    "LANGUAGES",
    "RECORD_COLUMNS",
    "STORE_COLUMNS",
    "XQG_MODEL",
    "XQG_PROMPT",
    "CausalLMGenerator",
    "EmbeddedGemmaGenerator",
    "FewShotExample",
    "FewShotPrompt",
    "Generator",
    "HeldOutQueries",
    "Language",
    "Seq2SeqGenerator",
    "check_languages",
    "evaluation_queries",
    "finetune_seq2seq",
    "generate_store",
    "generator_from_settings",
    "in_target_language",
    "language_name",
    "make_generator",
    "pass_rate_by_language",
    "read_store",
    "read_store_params",
    "samples_per_passage",
    "split_questions",
    "training_triples",
]

GENERATORS: Mapping[str, type[Generator]] = {
    cls.name: cls for cls in (Seq2SeqGenerator, CausalLMGenerator, EmbeddedGemmaGenerator, HeldOutQueries)
}
"""Registry name -> generator class."""


def make_generator(name: str, /, *args: Any, **kwargs: Any) -> Generator:
    """``GENERATORS[name](*args, **kwargs)``; ``ValueError`` listing the names if unknown."""
    if name not in GENERATORS:
        valid = ", ".join(repr(n) for n in GENERATORS)
        raise ValueError(f"unknown generator {name!r}; expected one of: {valid}")
    return GENERATORS[name](*args, **kwargs)


def generator_from_settings(name: str, *, model_name_or_path: str = "", **settings: Any) -> Generator:
    """A generator from flat settings, as notebooks and config files hold them.

    ``name`` is a registry name; ``model_name_or_path`` is required for ``"causal"``, optional
    for ``"seq2seq"`` (default: the paper's generator, :data:`XQG_MODEL`) and must be empty
    for the embedded generator; other ``settings`` (``batch_size``, ``device``, decoding...)
    go to the constructor. ``"heldout"`` needs data, not settings: build
    :class:`HeldOutQueries` directly.
    """
    if name not in GENERATORS:
        valid = ", ".join(repr(n) for n in GENERATORS)
        raise ValueError(f"unknown generator {name!r}; expected one of: {valid}")
    if name == HeldOutQueries.name:
        raise ValueError(
            "the 'heldout' generator is built from queries and a split: "
            "HeldOutQueries(queries, split_questions(queries, qrels))"
        )
    if name == EmbeddedGemmaGenerator.name:
        if model_name_or_path:
            raise ValueError(
                f"the embedded generator has its own model; expected an empty model_name_or_path, "
                f"found {model_name_or_path!r} (use 'causal' for another causal LM)"
            )
        return EmbeddedGemmaGenerator(**settings)
    if name == CausalLMGenerator.name and not model_name_or_path:
        raise ValueError("expected model_name_or_path for the 'causal' generator, found none")
    return GENERATORS[name](model_name_or_path or XQG_MODEL, **settings)
