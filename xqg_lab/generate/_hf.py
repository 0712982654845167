"""Shared machinery of the Hugging Face backends: loading, length-sorted batches, seeded sampling.

Sampling that does not depend on batching
-----------------------------------------
``transformers`` samples the next token of every row of a batch with one
``torch.multinomial`` call on the global generator, so a query's text depends on which
other prompts share its batch. Here each generated query (passage, language, sample) owns a
``torch.Generator`` seeded by :func:`~xqg_lab.generate.base.row_seed`, and sampling uses the
Gumbel-max trick: the next token is ``argmax_i (logits_i / T + G_i)`` over the top-k (and
top-p) candidates, with ``G_i`` standard Gumbel noise drawn from the row's own generator
(candidates in ascending token-id order). That is an exact draw from the same distribution
as ``generate(do_sample=True, top_k=k, top_p=p, temperature=T)``; the processor returns a
one-hot score so that greedy decoding picks the drawn token. The text of a query then
depends only on its seed and its prompt -- not on the batch size, the order of the
passages or the other languages generated alongside -- up to floating-point differences
that padding can cause in the model's logits (a near-tie flipped by ~1e-6), which is rare
and does not occur when batches hold prompts of one length.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xqg_lab.core.checksums import file_sha256
from xqg_lab.core.validation import check_choice, check_langs, check_positive_int
from xqg_lab.generate.base import (
    LANGUAGES,
    Dtype,
    Generator,
    check_n,
    check_passages,
    check_seed,
    records_frame,
    row_seed,
)

if TYPE_CHECKING:
    import pandas as pd
    import torch

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".model", ".json", ".txt")


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of ``batch_size``, longest first, ties by index.

    Sorting by length keeps padding (wasted compute) small; longest first makes an
    out-of-memory error show up in the first batch.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def torch_dtype(dtype: str) -> torch.dtype:
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]


# -- model identity ---------------------------------------------------------------------------


def model_identity(
    model_name_or_path: str, *, revision: str | None = None, files: Iterable[str] | None = None
) -> dict[str, Any]:
    """What identifies a model's weights: file hashes for a local folder, the commit for a hub id.

    For a local folder, the SHA-256 of every model, tokenizer and config file (or of
    ``files`` only, relative names); for a hub id, the commit its ``config.json`` resolves to
    (one small download, or the local hub cache).
    """
    path = Path(model_name_or_path)
    if path.is_dir():
        names = (
            sorted(files)
            if files is not None
            else sorted(p.name for p in path.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))
        )
        return {
            "path": str(path.resolve()),
            "sha256": {name: file_sha256(path / name) for name in names},
        }
    identity: dict[str, Any] = {"hub_id": model_name_or_path, "revision": revision or "main"}
    try:
        from transformers.utils import cached_file

        resolved = cached_file(model_name_or_path, "config.json", revision=revision)
        parts = Path(resolved).parts
        if "snapshots" in parts:
            identity["commit"] = parts[parts.index("snapshots") + 1]
    except Exception as exc:  # noqa: BLE001 -- identity is best effort; loading reports the real error
        identity["commit"] = None
        identity["resolve_error"] = f"{type(exc).__name__}: {exc}"[:200]
    return identity


# -- seeded sampling ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _sampler_class() -> type:
    import torch
    from transformers import LogitsProcessor

    class RowSeededSampler(LogitsProcessor):
        """Draws each row's next token from its own ``torch.Generator`` (Gumbel-max).

        Returns scores that are 0 for the drawn token and -inf elsewhere, for greedy search.
        """

        def __init__(
            self, seeds: Sequence[int], *, top_k: int | None, top_p: float | None, temperature: float
        ):
            self.generators = []
            for s in seeds:
                g = torch.Generator(device="cpu")
                g.manual_seed(int(s))
                self.generators.append(g)
            self.top_k = top_k
            self.top_p = top_p
            self.temperature = temperature

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            rows, vocab = scores.shape
            if rows != len(self.generators):
                raise RuntimeError(f"sampler built for {len(self.generators)} rows, got scores for {rows}")
            logits = scores.float() / self.temperature
            if self.top_k is not None and self.top_k < vocab:
                values, index = logits.topk(self.top_k, dim=-1)
                index, perm = index.sort(dim=-1)  # canonical order: ascending token id
                values = values.gather(-1, perm)
            else:
                index = torch.arange(vocab, device=logits.device).expand(rows, vocab)
                values = logits
            if self.top_p is not None and self.top_p < 1.0:
                sorted_values, order = values.sort(dim=-1, descending=True)
                probs = sorted_values.softmax(dim=-1)
                before = probs.cumsum(dim=-1) - probs  # mass of the better candidates
                drop_sorted = before > self.top_p
                drop_sorted[..., 0] = False
                drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
                values = values.masked_fill(drop, float("-inf"))
            k = values.shape[-1]
            uniform = torch.stack([torch.rand(k, generator=g) for g in self.generators]).to(values.device)
            tiny = torch.finfo(uniform.dtype).tiny
            gumbel = -torch.log(-torch.log(uniform.clamp_min(tiny)))
            choice = index.gather(-1, (values + gumbel).argmax(dim=-1, keepdim=True))
            out = torch.full_like(scores, float("-inf"))
            return out.scatter(-1, choice, 0.0)

    return RowSeededSampler


def row_seeded_sampler(seeds: Sequence[int], *, top_k: int | None, top_p: float | None, temperature: float):
    """A ``LogitsProcessor`` drawing row ``i``'s tokens from a generator seeded ``seeds[i]``."""
    return _sampler_class()(seeds, top_k=top_k, top_p=top_p, temperature=temperature)


# -- the shared backend -----------------------------------------------------------------------


class HFGenerator(Generator):
    """Common part of the seq2seq and causal-LM backends (not registered itself).

    Subclasses implement ``_load_model``, ``build_prompts``, ``_encode`` and
    ``_decode_batch``, and extend ``params``. The decoding options (``do_sample``, ``top_k``,
    ``top_p``, ``temperature``, ``num_beams``, ``device``, ``dtype``) and their defaults are
    declared here only; the backends pass them through as ``**decoding``.
    """

    backend = ""

    def __init__(
        self,
        model_name_or_path: str,
        *,
        revision: str | None = None,
        batch_size: int,
        do_sample: bool = True,
        top_k: int | None = 10,
        top_p: float | None = None,
        temperature: float = 1.0,
        num_beams: int = 1,
        device: str = "cpu",
        dtype: str = "float32",
    ):
        if not isinstance(model_name_or_path, str | os.PathLike) or not str(model_name_or_path):
            raise ValueError(f"expected model_name_or_path as a non-empty str, found {model_name_or_path!r}")
        self.model_name_or_path = str(model_name_or_path)
        self.revision = revision
        self.do_sample = bool(do_sample)
        self.top_k = check_positive_int(top_k, "top_k", allow_none=True)
        if top_p is not None and not (0.0 < float(top_p) <= 1.0):
            raise ValueError(f"expected top_p in (0, 1] or None, found {top_p!r}")
        self.top_p = None if top_p is None else float(top_p)
        if not float(temperature) > 0.0:
            raise ValueError(f"expected temperature > 0, found {temperature!r}")
        self.temperature = float(temperature)
        self.num_beams = check_positive_int(num_beams, "num_beams")
        if self.do_sample and self.num_beams > 1:
            raise ValueError(
                f"expected either sampling (do_sample=True, num_beams=1) or beam search "
                f"(do_sample=False, num_beams > 1), found do_sample=True and num_beams={num_beams}"
            )
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.device = str(device)
        self.dtype = check_choice(dtype, Dtype, what="dtype").value
        self.model_ = None
        self.tokenizer_ = None

    # -- hooks ---------------------------------------------------------------------------------

    def _load_model(self) -> None:  # sets model_ and tokenizer_
        raise NotImplementedError

    def build_prompts(self, passages: pd.DataFrame, *, langs: Iterable[str] | str) -> pd.DataFrame:
        raise NotImplementedError

    def _encode(self, prompts: list[str]) -> list[list[int]]:
        raise NotImplementedError

    def _decode_batch(self, output_ids: torch.Tensor, input_width: int) -> list[str]:
        raise NotImplementedError

    def _postprocess(self, text: str, lang: str) -> str:
        return text.strip()

    def _generation_kwargs(self) -> dict[str, Any]:
        return {}

    # -- shared --------------------------------------------------------------------------------

    def load(self) -> HFGenerator:
        """Load the model and tokenizer now (``generate`` does it on first use); returns self."""
        if self.model_ is None:
            self._load_model()
            self.model_.eval()
        return self

    def decoding_params(self) -> dict[str, Any]:
        """The decoding settings, as recorded in :meth:`params`."""
        if self.do_sample:
            return {
                "strategy": "sample",
                "top_k": self.top_k,
                "top_p": self.top_p,
                "temperature": self.temperature,
                "sampler": "per-query seeded Gumbel-max (xqg_lab.generate._hf)",
            }
        if self.num_beams > 1:
            return {
                "strategy": "beam",
                "num_beams": self.num_beams,
                "length_penalty": 1.0,
                "early_stopping": False,
            }
        return {"strategy": "greedy"}

    def _check_n_for_decoding(self, n: int) -> None:
        if not self.do_sample and self.num_beams == 1 and n > 1:
            raise ValueError(
                f"greedy decoding gives one query per prompt; found n_per_lang={n}. Use sampling "
                "(do_sample=True) or beam search (num_beams >= n_per_lang)"
            )
        if not self.do_sample and self.num_beams > 1 and n > self.num_beams:
            raise ValueError(
                f"expected n_per_lang <= num_beams for beam search, found {n} > {self.num_beams}"
            )

    def _sample_batch(
        self, inputs: dict[str, torch.Tensor], n: int, config, kwargs: dict[str, Any]
    ) -> torch.Tensor:
        """Generate with every prompt repeated ``n`` times (row ``i * n + j``: prompt i, sample j)."""
        expanded = {k: v.repeat_interleave(n, dim=0) for k, v in inputs.items()}
        return self.model_.generate(**expanded, generation_config=config, **kwargs)

    def _generation_config(self, n: int):
        from transformers import GenerationConfig

        source = self.model_.generation_config
        config = GenerationConfig(
            bos_token_id=source.bos_token_id,
            eos_token_id=source.eos_token_id,
            pad_token_id=source.pad_token_id
            if source.pad_token_id is not None
            else self.tokenizer_.pad_token_id,
            decoder_start_token_id=getattr(source, "decoder_start_token_id", None),
            do_sample=False,
            num_beams=self.num_beams if not self.do_sample else 1,
            # sampling expands the inputs itself (one row per query), see _sample_batch
            num_return_sequences=1 if self.do_sample else n,
        )
        if config.pad_token_id is None:
            config.pad_token_id = self.tokenizer_.eos_token_id
        return config

    def generate(self, passages: pd.DataFrame, *, langs: Iterable[str] | str, n_per_lang: int, seed: int = 0,
                 progress: bool = False) -> pd.DataFrame:
        """See :meth:`Generator.generate`."""
        passages = check_passages(passages)
        langs = check_langs(langs, sorted(LANGUAGES), what="target language", refuse_duplicates=True)
        n = check_n(n_per_lang)
        seed = check_seed(seed)
        self._check_n_for_decoding(n)
        prompts = self.build_prompts(passages, langs=langs)
        if prompts.empty:
            return records_frame([])
        self.load()
        encoded = self._encode(prompts["prompt"].tolist())
        keys = list(zip(prompts["doc_id"], prompts["lang"]))
        texts = self._decode_prompts(encoded, keys, n=n, seed=seed, langs=langs, progress=progress)
        rows = [
            {"doc_id": doc_id, "lang": lang, "sample": sample, "text": self._postprocess(text, lang)}
            for (doc_id, lang), samples in zip(keys, texts)
            for sample, text in enumerate(samples)
        ]
        return records_frame(rows)

    def _decode_prompts(self, encoded: list[list[int]], keys: list[tuple[str, str]], *, n: int, seed: int,
                        langs: tuple[str, ...], progress: bool) -> list[list[str]]:
        """The ``n`` raw texts of every encoded prompt (``keys[i]`` = its ``(doc_id, lang)``)."""
        import torch
        from xqg_lab.core.progress import tqdm

        batches = length_sorted_batches([len(ids) for ids in encoded], self.batch_size)
        config = self._generation_config(n)
        texts: list[list[str]] = [[] for _ in encoded]
        bar = tqdm(
            total=len(encoded),
            desc=f"generating ({self.name})",
            unit="prompt",
            disable=not progress,
            leave=False,
        )
        with torch.inference_mode():
            for batch in batches:
                padded = self.tokenizer_.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
                inputs = {k: v.to(self.model_.device) for k, v in padded.items()}
                kwargs: dict[str, Any] = dict(self._generation_kwargs())
                if self.do_sample:
                    seeds = [row_seed(seed, *keys[i], j) for i in batch for j in range(n)]
                    kwargs["logits_processor"] = [
                        row_seeded_sampler(
                            seeds, top_k=self.top_k, top_p=self.top_p, temperature=self.temperature
                        )
                    ]
                    output = self._sample_batch(inputs, n, config, kwargs)
                else:
                    output = self.model_.generate(**inputs, generation_config=config, **kwargs)
                decoded = self._decode_batch(output, inputs["input_ids"].shape[1])
                for row, i in enumerate(batch):
                    texts[i] = decoded[row * n : (row + 1) * n]
                bar.update(len(batch))
        bar.close()
        return texts
