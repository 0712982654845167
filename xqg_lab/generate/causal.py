"""Hugging Face causal language models as query generators, prompted with a few examples.

The prompt shows the model a short instruction and two example passages, each followed by
a question in the target language, then the passage to write a question for:

- a model whose tokenizer has a chat template (instruction-tuned models) gets the examples as
  alternating user / assistant turns, rendered with ``apply_chat_template``;
- a base model (no chat template, e.g. Gemma 3 270M) gets a plain completion prompt ending in
  ``Question in {language}:``; generation stops at the end of the line.

The answer is post-processed into one question: the prompt is stripped (only the new tokens
are decoded), then the first non-empty line is kept, a leading label ("Question:"),
numbering ("1.", "-") and surrounding quotes are removed, and the text is cut after its
first question mark.

GGUF files load through ``transformers`` (``gguf_file=``; needs the ``gguf`` and
``accelerate`` packages): the weights are dequantised to ``dtype``; reading the file's
metadata is slow for large vocabularies (about 25 s for Gemma's 262k tokens), so a
``tokenizer_name_or_path`` / ``config_name_or_path`` saved from an earlier load can be
passed to skip it.

Engines: a GGUF file can also be decoded by llama.cpp (``engine="llama.cpp"``, PyPI wheel
``xllamacpp``; see :mod:`xqg_lab.generate.llamacpp`), on the 4-bit weights as they are and
with each few-shot prefix computed once per run of one language; ``engine="auto"`` takes it when it is
installed and falls back to transformers otherwise. The two engines see the same prompts
(the same token ids) and sample from the same distribution, with different random streams,
so their texts differ; ``params()`` records the engine, so a store never mixes them. With
llama.cpp a query's text can also depend on the prompts sent before it (reused prefix, float
noise; see :mod:`xqg_lab.generate.llamacpp`).

Sampled queries are reproducible per (seed, passage, language, sample) and do not depend
on batching (see :mod:`xqg_lab.generate._hf`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xqg_lab.core.checksums import file_sha256
from xqg_lab.core.validation import check_choice, check_langs, check_positive_int
from xqg_lab.generate._hf import HFGenerator, model_identity, torch_dtype
from xqg_lab.generate.base import LANGUAGES, check_passages, row_seed

if TYPE_CHECKING:
    import pandas as pd
    import torch


class Engine(str, Enum):
    """What decodes a causal LM: transformers, llama.cpp (GGUF files only), or the best available."""

    AUTO = "auto"
    TRANSFORMERS = "transformers"
    LLAMA_CPP = "llama.cpp"


@dataclass(frozen=True)
class FewShotExample:
    """An example passage and one question about it per language (ISO 639-1 -> question)."""

    title: str
    passage: str
    questions: Mapping[str, str]


# Questions written for this toolkit (not taken from any evaluation set), so that no
# evaluation query leaks into the prompts.
DEFAULT_EXAMPLES: tuple[FewShotExample, ...] = (
    FewShotExample(
        title="Great Wall of China",
        passage=(
            "The Great Wall of China is a series of fortifications built across the historical "
            "northern borders of ancient Chinese states. Its best-known sections were built by "
            "the Ming dynasty between the 14th and 17th centuries."
        ),
        questions={
            "ar": "أي سلالة بنت أشهر أجزاء سور الصين العظيم؟",
            "bn": "চীনের মহাপ্রাচীরের সবচেয়ে পরিচিত অংশগুলো কোন রাজবংশ নির্মাণ করেছিল?",
            "de": "Welche Dynastie baute die bekanntesten Abschnitte der Chinesischen Mauer?",
            "el": "Ποια δυναστεία έχτισε τα πιο γνωστά τμήματα του Σινικού Τείχους;",
            "en": "Which dynasty built the best-known sections of the Great Wall of China?",
            "es": "¿Qué dinastía construyó los tramos más conocidos de la Gran Muralla China?",
            "fi": "Mikä dynastia rakensi Kiinan muurin tunnetuimmat osat?",
            "fr": (
                "Quelle dynastie a construit les sections les plus connues de la Grande Muraille de Chine ?"
            ),
            "hi": "चीन की महान दीवार के सबसे प्रसिद्ध हिस्से किस राजवंश ने बनवाए थे?",
            "it": "Quale dinastia costruì i tratti più noti della Grande Muraglia cinese?",
            "ja": "万里の長城で最もよく知られた区間を建設したのはどの王朝ですか？",
            "ko": "만리장성에서 가장 잘 알려진 구간을 건설한 왕조는 어디입니까?",
            "pt": "Qual dinastia construiu os trechos mais conhecidos da Grande Muralha da China?",
            "ro": "Ce dinastie a construit cele mai cunoscute porțiuni ale Marelui Zid Chinezesc?",
            "ru": "Какая династия построила самые известные участки Великой Китайской стены?",
            "te": "చైనా మహా కుడ్యంలోని అత్యంత ప్రసిద్ధ భాగాలను ఏ రాజవంశం నిర్మించింది?",
            "th": "ราชวงศ์ใดเป็นผู้สร้างส่วนที่มีชื่อเสียงที่สุดของกำแพงเมืองจีน",
            "tr": "Çin Seddi'nin en bilinen bölümlerini hangi hanedan inşa etti?",
            "vi": "Triều đại nào đã xây dựng những đoạn nổi tiếng nhất của Vạn Lý Trường Thành?",
            "zh": "长城最著名的部分是由哪个朝代修建的？",
        },
    ),
    FewShotExample(
        title="Penicillin",
        passage=(
            "Penicillin was discovered in 1928 by the Scottish scientist Alexander Fleming, who "
            "noticed that a mould had killed the bacteria growing in one of his culture plates."
        ),
        questions={
            "ar": "من اكتشف البنسلين؟",
            "bn": "পেনিসিলিন কে আবিষ্কার করেছিলেন?",
            "de": "Wer hat das Penicillin entdeckt?",
            "el": "Ποιος ανακάλυψε την πενικιλίνη;",
            "en": "Who discovered penicillin?",
            "es": "¿Quién descubrió la penicilina?",
            "fi": "Kuka löysi penisilliinin?",
            "fr": "Qui a découvert la pénicilline ?",
            "hi": "पेनिसिलिन की खोज किसने की थी?",
            "it": "Chi ha scoperto la penicillina?",
            "ja": "ペニシリンを発見したのは誰ですか？",
            "ko": "페니실린을 발견한 사람은 누구입니까?",
            "pt": "Quem descobriu a penicilina?",
            "ro": "Cine a descoperit penicilina?",
            "ru": "Кто открыл пенициллин?",
            "te": "పెన్సిలిన్‌ను ఎవరు కనుగొన్నారు?",
            "th": "ใครเป็นผู้ค้นพบเพนิซิลลิน",
            "tr": "Penisilini kim keşfetti?",
            "vi": "Ai đã phát hiện ra penicillin?",
            "zh": "谁发现了青霉素？",
        },
    ),
)
"""Two example passages with a question in each of 20 languages (the XQuAD 12, XOR-TyDi 7,
fr, it, pt). The translations were written for this toolkit, not checked by native speakers."""


@dataclass(frozen=True)
class FewShotPrompt:
    """How a causal LM is asked for a question.

    instruction : first line (completion) or start of each user turn (chat); ``{language}``.
    question_label : the line the answer follows in completion mode; ``{language}``.
    examples : the example passages (each needs a question in every target language).
    """

    instruction: str = "Write one question in {language} that the passage answers."
    question_label: str = "Question in {language}:"
    examples: tuple[FewShotExample, ...] = field(default=DEFAULT_EXAMPLES)

    def check(self, langs: Iterable[str]) -> None:
        for lang in langs:
            missing = [i for i, ex in enumerate(self.examples) if lang not in ex.questions]
            if missing:
                raise ValueError(
                    f"expected a few-shot question in {lang!r} for every example; examples {missing} "
                    f"have none. Pass FewShotPrompt(examples=...) with questions in {lang!r}"
                )

    def params(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction,
            "question_label": self.question_label,
            "examples": [
                {"title": ex.title, "passage": ex.passage, "questions": dict(sorted(ex.questions.items()))}
                for ex in self.examples
            ],
        }


def _passage_block(title: str, passage: str) -> str:
    return (f"Title: {title}\n" if title else "") + f"Passage: {passage}"


def completion_prompt(prompt: FewShotPrompt, *, lang: str, title: str, passage: str) -> str:
    """The plain-text few-shot prompt (for models without a chat template)."""
    language = LANGUAGES[lang].name
    label = prompt.question_label.format(language=language)
    parts = [prompt.instruction.format(language=language)]
    for ex in prompt.examples:
        parts.append(f"{_passage_block(ex.title, ex.passage)}\n{label} {ex.questions[lang]}")
    parts.append(f"{_passage_block(title, passage)}\n{label}")
    return "\n\n".join(parts)


def chat_messages(prompt: FewShotPrompt, *, lang: str, title: str, passage: str) -> list[dict[str, str]]:
    """The few-shot prompt as chat turns (user: instruction + passage; assistant: question)."""
    instruction = prompt.instruction.format(language=LANGUAGES[lang].name) + " Reply with the question only."
    messages = []
    for ex in prompt.examples:
        messages.append(
            {"role": "user", "content": f"{instruction}\n\n{_passage_block(ex.title, ex.passage)}"}
        )
        messages.append({"role": "assistant", "content": ex.questions[lang]})
    messages.append({"role": "user", "content": f"{instruction}\n\n{_passage_block(title, passage)}"})
    return messages


_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:[\w ()]{0,40}question[\w ()]{0,20}|q)\s*[:：]\s*(?:\*\*)?\s*", re.IGNORECASE
)
_NUMBERING = re.compile(r"^\s*(?:\d{1,2}\s*[.)、:]|[-*•]|\(\d{1,2}\))\s+")
_QUOTES = "\"'“”„‟‘’‚«»「」『』《》`"
_QUESTION_MARKS = "?\uff1f\u061f\u037e"  # ASCII, full-width, Arabic, Greek (U+037E)


def clean_question(text: str, *, lang: str | None = None) -> str:
    """One question out of a model's continuation.

    First non-empty line; a leading label ("Question in German:", "Q:"), numbering and
    enclosing quotes removed; cut after the first question mark (``?``, ``？``, ``؟``, and
    ``;`` for Greek); inner whitespace collapsed.
    """
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line, count=1)
    line = _NUMBERING.sub("", line, count=1)
    marks = _QUESTION_MARKS + (";" if lang == "el" else "")  # Greek writes '?' as ';'
    cut = min((i for i, ch in enumerate(line) if ch in marks), default=None)
    if cut is not None:
        line = line[: cut + 1]
    line = line.strip().strip(_QUOTES).strip()
    return " ".join(line.split())


class CausalLMGenerator(HFGenerator):
    """Queries from a decoder-only LM with a few-shot prompt per target language.

    Parameters
    ----------
    model_name_or_path : str
        Hub id or local folder (``AutoModelForCausalLM``); with ``gguf_file``, the folder
        or hub repo holding that file.
    gguf_file : str, optional
        Name of a GGUF file in ``model_name_or_path``; dequantised to ``dtype`` on load.
    tokenizer_name_or_path, config_name_or_path : str, optional
        Load the tokenizer / config from here instead (e.g. saved from an earlier GGUF
        load, which spares re-reading the GGUF metadata).
    prompt : FewShotPrompt
        Instruction, answer label and examples.
    use_chat_template : bool or None
        None: use the tokenizer's chat template when it has one.
    reject_example_copies : bool
        A query that repeats one of the prompt's example questions verbatim (small models
        do this often) becomes the empty string, which fails the language check, so that
        an off-topic copy does not feed augmentation.
    do_sample, top_k, top_p, temperature, num_beams : decoding, as for
        :class:`~xqg_lab.generate.seq2seq.Seq2SeqGenerator`.
    max_new_tokens : int
        Generated tokens at most (generation also stops at a line break in completion mode).
    max_passage_tokens : int
        The passage is cut to this many tokens before it goes into the prompt (so that the
        instruction and label at the end are never truncated).
    batch_size, device, dtype : as for the seq2seq backend; batches are left-padded. llama.cpp
        ignores them: it decodes one query at a time on the CPU from the GGUF's own 4-bit
        weights (see :mod:`xqg_lab.generate.llamacpp` for why one at a time).
    engine : ``"auto"``, ``"transformers"`` or ``"llama.cpp"``
        ``"llama.cpp"`` needs ``gguf_file``, the ``xllamacpp`` package and ``num_beams=1``;
        ``"auto"`` uses it when all three hold and transformers otherwise.
    n_threads : int
        CPU threads of the llama.cpp engine (transformers uses torch's setting). 1 is the
        default because a second thread made llama.cpp about 3 times *slower* on this
        project's 2-core machine shared with other jobs (its threads busy-wait for each other);
        on an idle machine, use the core count.
    n_ctx : int
        Context of the llama.cpp engine (prompt + new tokens); a longer prompt is refused.
    """

    name = "causal"
    backend = "causal"

    def __init__(
        self,
        model_name_or_path: str,
        *,
        gguf_file: str | None = None,
        revision: str | None = None,
        tokenizer_name_or_path: str | None = None,
        config_name_or_path: str | None = None,
        prompt: FewShotPrompt | None = None,
        use_chat_template: bool | None = None,
        reject_example_copies: bool = True,
        max_new_tokens: int = 64,
        max_passage_tokens: int = 384,
        batch_size: int = 8,
        engine: str = "transformers",
        n_threads: int = 1,
        n_ctx: int = 2048,
        **decoding: Any,
    ):
        super().__init__(model_name_or_path, revision=revision, batch_size=batch_size, **decoding)
        self.gguf_file = gguf_file
        self.tokenizer_name_or_path = None if tokenizer_name_or_path is None else str(tokenizer_name_or_path)
        self.config_name_or_path = None if config_name_or_path is None else str(config_name_or_path)
        self.prompt = prompt if prompt is not None else FewShotPrompt()
        if not isinstance(self.prompt, FewShotPrompt):
            raise TypeError(f"expected prompt as a FewShotPrompt, found {type(self.prompt).__name__}")
        if use_chat_template not in (None, True, False):
            raise ValueError(
                f"expected use_chat_template to be True, False or None, found {use_chat_template!r}"
            )
        self.use_chat_template = use_chat_template
        self.reject_example_copies = bool(reject_example_copies)
        self.max_new_tokens = check_positive_int(max_new_tokens, "max_new_tokens")
        self.max_passage_tokens = check_positive_int(max_passage_tokens, "max_passage_tokens")
        self.engine = check_choice(engine, Engine, what="engine").value
        if self.engine == Engine.LLAMA_CPP.value:
            if gguf_file is None:
                raise ValueError("expected a gguf_file for engine='llama.cpp', found none; use engine='transformers'")
            if self.num_beams > 1:
                raise ValueError(
                    f"expected num_beams=1 for engine='llama.cpp' (it has no beam search), found {self.num_beams}; "
                    "use engine='transformers'"
                )
        self.n_threads = check_positive_int(n_threads, "n_threads")
        self.n_ctx = check_positive_int(n_ctx, "n_ctx")
        self.engine_ = None

    def resolved_engine(self) -> str:
        """The engine :meth:`generate` uses: ``"llama.cpp"`` or ``"transformers"``."""
        if self.engine != Engine.AUTO.value:
            return self.engine
        from xqg_lab.generate.llamacpp import llamacpp_available

        usable = self.gguf_file is not None and self.num_beams == 1 and llamacpp_available()
        return Engine.LLAMA_CPP.value if usable else Engine.TRANSFORMERS.value

    # -- identity --------------------------------------------------------------------------------

    def _weights_identity(self) -> dict[str, Any]:
        if self.gguf_file is not None:
            folder = Path(self.model_name_or_path)
            if folder.is_dir():
                return {
                    "path": str((folder / self.gguf_file).resolve()),
                    "sha256": file_sha256(folder / self.gguf_file),
                }
            return {
                **model_identity(self.model_name_or_path, revision=self.revision),
                "gguf_file": self.gguf_file,
            }
        return model_identity(self.model_name_or_path, revision=self.revision)

    def _identity_params(self) -> dict[str, Any]:
        """``model`` and ``tokenizer`` entries of :meth:`params`."""
        return {
            "model": self._weights_identity(),
            "tokenizer": (
                None if self.tokenizer_name_or_path is None else model_identity(self.tokenizer_name_or_path)
            ),
        }

    def params(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            **self._identity_params(),
            "prompt_format": self._prompt_format(),
            "prompt": self.prompt.params(),
            "language_names": {code: lang.name for code, lang in LANGUAGES.items()},
            "decoding": {
                **self.decoding_params(),
                "max_new_tokens": self.max_new_tokens,
                "stop": "end of line" if self._prompt_format() == "completion" else "end of turn",
            },
            "max_passage_tokens": self.max_passage_tokens,
            "postprocess": "clean_question (xqg_lab.generate.causal)",
            "reject_example_copies": self.reject_example_copies,
            **self._engine_params(),
        }

    def _engine_params(self) -> dict[str, Any]:
        # transformers records no "engine" key, so stores written before engines existed still resume
        if self.resolved_engine() == Engine.TRANSFORMERS.value:
            return {"dtype": self.dtype}
        from xqg_lab.generate.llamacpp import XLLAMACPP_PACKAGE, llamacpp_version

        return {"engine": "llama.cpp", "engine_package": {"name": XLLAMACPP_PACKAGE, "version": llamacpp_version()}}

    def decoding_params(self) -> dict[str, Any]:
        params = super().decoding_params()
        if self.do_sample and self.resolved_engine() == Engine.LLAMA_CPP.value:
            params["sampler"] = (
                "llama.cpp chain top_k -> top_p -> temperature -> draw, seeded per query with the low "
                "32 bits of row_seed (xqg_lab.generate.llamacpp)"
            )
        return params

    def _prompt_format(self) -> str:
        """``"chat"`` or ``"completion"`` (loads the tokenizer when that depends on it)."""
        if self.use_chat_template is not None:
            return "chat" if self.use_chat_template else "completion"
        return "chat" if getattr(self._tokenizer(), "chat_template", None) else "completion"

    # -- loading ---------------------------------------------------------------------------------

    def _tokenizer(self):
        if self.tokenizer_ is None:
            from transformers import AutoTokenizer

            if self.tokenizer_name_or_path is not None:
                tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_name_or_path)
            else:
                kwargs = {"gguf_file": self.gguf_file} if self.gguf_file else {}
                tokenizer = AutoTokenizer.from_pretrained(
                    self.model_name_or_path, revision=self.revision, **kwargs
                )
            tokenizer.padding_side = "left"
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self.tokenizer_ = tokenizer
        return self.tokenizer_

    def load(self) -> CausalLMGenerator:
        """Load the model now (``generate`` does it on first use); with llama.cpp, start its server."""
        if self.resolved_engine() == Engine.TRANSFORMERS.value:
            super().load()
            return self
        self._tokenizer()
        if self.engine_ is None:
            from xqg_lab.generate.llamacpp import LlamaCppEngine

            self.engine_ = LlamaCppEngine(
                Path(self.model_name_or_path) / self.gguf_file, n_ctx=self.n_ctx, n_threads=self.n_threads
            )
        self.engine_.start()
        return self

    def close(self) -> None:
        """Stop the llama.cpp server (if any) and drop the loaded model; a later call reloads."""
        if self.engine_ is not None:
            self.engine_.close()
            self.engine_ = None
        self.model_ = None

    def _load_model(self) -> None:
        from transformers import AutoConfig, AutoModelForCausalLM

        self._tokenizer()
        kwargs: dict[str, Any] = {"dtype": torch_dtype(self.dtype), "revision": self.revision}
        if self.gguf_file is not None:
            kwargs["gguf_file"] = self.gguf_file
        if self.config_name_or_path is not None:
            kwargs["config"] = AutoConfig.from_pretrained(self.config_name_or_path)
        model = AutoModelForCausalLM.from_pretrained(self.model_name_or_path, **kwargs)
        self.model_ = model.to(self.device)

    # -- prompts ---------------------------------------------------------------------------------

    def _truncate_passage(self, text: str) -> str:
        tokenizer = self._tokenizer()
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.max_passage_tokens:
            return text
        return tokenizer.decode(ids[: self.max_passage_tokens], skip_special_tokens=True)

    def build_prompts(self, passages: pd.DataFrame, *, langs: Iterable[str] | str) -> pd.DataFrame:
        """The prompt text of every (passage, language): ``doc_id``, ``lang``, ``prompt``.

        For chat models this is the rendered chat template (what the tokenizer gets).
        """
        import pandas as pd

        passages = check_passages(passages)
        langs = check_langs(langs, sorted(LANGUAGES), what="target language", refuse_duplicates=True)
        self.prompt.check(langs)
        chat = self._prompt_format() == "chat"
        tokenizer = self._tokenizer()
        rows = []
        for doc_id, title, text in passages[["doc_id", "title", "text"]].itertuples(index=False):
            passage = self._truncate_passage(text)
            for lang in langs:
                if chat:
                    messages = chat_messages(self.prompt, lang=lang, title=title, passage=passage)
                    prompt = tokenizer.apply_chat_template(
                        messages, tokenize=False, add_generation_prompt=True
                    )
                else:
                    prompt = completion_prompt(self.prompt, lang=lang, title=title, passage=passage)
                rows.append({"doc_id": doc_id, "lang": lang, "prompt": prompt})
        return pd.DataFrame(rows, columns=["doc_id", "lang", "prompt"])

    def _encode(self, prompts: list[str]) -> list[list[int]]:
        # a rendered chat template already holds the BOS token
        add_special = self._prompt_format() == "completion"
        return self.tokenizer_(prompts, add_special_tokens=add_special)["input_ids"]

    def _generation_config(self, n: int):
        config = super()._generation_config(n)
        config.max_new_tokens = self.max_new_tokens
        if self._prompt_format() == "completion":
            config.stop_strings = ["\n"]
        return config

    def _generation_kwargs(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer_} if self._prompt_format() == "completion" else {}

    def _decode_batch(self, output_ids: torch.Tensor, input_width: int) -> list[str]:
        return self.tokenizer_.batch_decode(output_ids[:, input_width:], skip_special_tokens=True)

    # -- the llama.cpp engine ----------------------------------------------------------------------

    def _decode_prompts(self, encoded: list[list[int]], keys: list[tuple[str, str]], *, n: int, seed: int,
                        langs: tuple[str, ...], progress: bool) -> list[list[str]]:
        if self.resolved_engine() == Engine.TRANSFORMERS.value:
            return super()._decode_prompts(encoded, keys, n=n, seed=seed, langs=langs, progress=progress)
        from tqdm.auto import tqdm

        # language first: consecutive prompts share the few-shot prefix, which llama.cpp keeps
        jobs = sorted(
            ((i, j) for i in range(len(keys)) for j in range(n)), key=lambda job: (langs.index(keys[job[0]][1]), job)
        )
        with tqdm(total=len(jobs), desc=f"generating ({self.name}, llama.cpp)", unit="query",
                  disable=not progress, leave=False) as bar:
            texts = self.engine_.complete_many(
                [encoded[i] for i, _ in jobs],
                [row_seed(seed, *keys[i], j) for i, j in jobs],
                sampling=self._llamacpp_sampling(),
                on_done=bar.update,
            )
        by_job = dict(zip(jobs, texts))
        return [[by_job[i, j] for j in range(n)] for i in range(len(keys))]

    def _llamacpp_sampling(self) -> dict[str, Any]:
        """Request fields of llama.cpp's completion API for this generator's decoding settings."""
        sampling: dict[str, Any] = {"max_tokens": self.max_new_tokens, "min_p": 0.0, "n_probs": 0}
        if self._prompt_format() == "completion":
            sampling["stop"] = ["\n"]
        if not self.do_sample:
            return {**sampling, "temperature": 0.0, "top_k": 1, "samplers": ["top_k"]}
        return {
            **sampling,
            "temperature": self.temperature,
            "top_k": self.top_k or 0,  # 0: no top-k cut in llama.cpp
            "top_p": self.top_p if self.top_p is not None else 1.0,
            "samplers": ["top_k", "top_p", "temperature"],
        }

    def _postprocess(self, text: str, lang: str) -> str:
        question = clean_question(text, lang=lang)
        if self.reject_example_copies and _normalised(question) in {
            _normalised(ex.questions[lang]) for ex in self.prompt.examples
        }:
            return ""
        return question


def _normalised(text: str) -> str:
    return " ".join(text.casefold().strip(_QUOTES).split())
