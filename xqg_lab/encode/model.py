"""Any Hugging Face encoder with a retriever convention (see :mod:`.presets`)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from xqg_lab.data.common import PassageFields, passage_text
from xqg_lab.encode.presets import EncoderPreset, Pooling, Role, get_preset

PoolingFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]  # noqa: F821

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".txt")


def pool(hidden, attention_mask, pooling: Pooling):
    """Text vectors ``(batch, dim)`` from token vectors ``(batch, seq, dim)``.

    ``attention_mask`` is ``(batch, seq)`` with 1 for real tokens; padding is on the right.
    """
    if pooling is Pooling.CLS:
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if pooling is Pooling.MEAN:
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    if pooling is Pooling.MAX:
        return hidden.masked_fill(mask == 0, float("-inf")).max(1).values
    import torch

    last = (attention_mask.sum(1).long() - 1).clamp(min=0)
    return hidden[torch.arange(len(hidden), device=hidden.device), last]


_POOLER_MODEL_TYPES = ("bert", "roberta", "xlm-roberta")
"""Architectures whose ``transformers`` class builds a pooler (``add_pooling_layer``)."""


def load_model(path: str, **kwargs):
    """``AutoModel.from_pretrained(path, **kwargs)``, without the pooler layer when a local
    checkpoint of a BERT-family model holds no pooler weights (the embedded e5 and checkpoints
    fine-tuned from it): every preset pools hidden states, so a randomly initialised pooler
    would only cost memory and a warning."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(path, **kwargs)
    names = _local_weight_names(path) if config.model_type in _POOLER_MODEL_TYPES else None
    if names is not None and not any(".pooler." in f".{n}" for n in names):
        kwargs["add_pooling_layer"] = False
    return AutoModel.from_pretrained(path, config=config, **kwargs)


def _local_weight_names(path: str) -> list[str] | None:
    """Tensor names of a local safetensors checkpoint (single file or sharded), else None."""
    folder = Path(path)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return list(json.loads(index.read_text(encoding="utf-8"))["weight_map"])
    single = folder / "model.safetensors"
    if single.is_file():
        from safetensors import safe_open

        with safe_open(str(single), framework="pt") as f:
            return list(f.keys())
    return None


def model_identity(model_name_or_path: str, *, revision: str | None = None) -> str:
    """A string that changes whenever the model weights change.

    Local folders are identified by the SHA-256 of their weight, config and tokenizer
    files; hub names by ``name@revision``, the revision being the resolved commit of the
    locally cached snapshot when none is given.
    """
    path = Path(model_name_or_path).expanduser()
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES):
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
        return f"sha256:{h.hexdigest()}"
    if revision is None:
        from transformers.utils import cached_file

        config = cached_file(model_name_or_path, "config.json")
        revision = Path(config).parent.name  # .../snapshots/<commit>/config.json
    return f"{model_name_or_path}@{revision}"


def check_texts(texts) -> list[str]:
    """``texts`` as a list of str: a bare str (``encode_queries("hello world")`` would encode
    each character), an empty list or a non-str item is refused."""
    if isinstance(texts, str):
        raise TypeError(
            f"expected a list of texts, found a single str {texts!r:.60}; fix: wrap it in a list, "
            f"e.g. encode_queries([{texts[:30]!r}])"
        )
    texts = list(texts)
    if not texts:
        raise ValueError(
            "expected at least one text to encode, found an empty list; fix: skip the call when there is "
            "nothing to encode (an empty corpus or query set is usually a filter that removed everything)"
        )
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(
            f"expected texts as strings, found {type(texts[bad[0]]).__name__} at item {bad[0]}; convert the texts to str"
        )
    return texts


def check_device(device: str | None) -> str | None:
    """``device`` unchanged, or a ``ValueError`` when it names an accelerator this machine
    lacks (``device="cuda"`` on a CPU-only machine) instead of torch's bare assertion."""
    if device is None:
        return None
    import torch

    kind = str(device).split(":")[0]
    available = {
        "cuda": torch.cuda.is_available,
        "mps": lambda: getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if kind in available and not available[kind]():
        raise ValueError(
            f"expected a device this machine has, found device={device!r} but {kind.upper()} is not available "
            f"(torch {torch.__version__}); fix: pass device='cpu', or leave device unset to use CUDA when present"
        )
    if kind == "cuda" and ":" in str(device):
        index = str(device).split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"expected a CUDA device index below {torch.cuda.device_count()}, found device={device!r}; "
                "fix: pass device='cuda:0' (or check CUDA_VISIBLE_DEVICES)"
            )
    return device


def check_model_available(name: str, *, revision: str | None = None) -> None:
    """Refuse a model that is neither a local folder nor in the Hugging Face cache while the
    hub cannot be reached (``HF_HUB_OFFLINE=1``), naming the model and the fix, instead of
    ``transformers``' generic connection error. Online, an uncached hub name passes (it is
    downloaded on first use)."""
    from xqg_lab.core.errors import ModelNotFoundError

    if Path(name).expanduser().is_dir():
        return
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelNotFoundError(
            f"expected a model folder, found no folder at {name!r}; fix: check the path, or pass a Hugging Face "
            "model name (org/name) or an embedded model (embedded:multilingual-e5-small)"
        )
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name, "config.json", revision=revision)
    except ValueError as exc:  # not a valid hub id either (huggingface_hub's HFValidationError)
        raise ModelNotFoundError(
            f"expected a local model folder or a Hugging Face model name (org/name), found {name!r} ({exc}); "
            "fix: check the name or path, or use an embedded model (embedded:multilingual-e5-small)"
        ) from None
    if isinstance(cached, str):
        return
    if constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        raise ModelNotFoundError(
            f"expected a local folder or a model in the Hugging Face cache, found {name!r} in neither, and the "
            "hub is switched off on this machine (HF_HUB_OFFLINE=1); fix: download it on a connected machine (it "
            "then lands in the cache, see HF_HOME), pass the path of a local copy, or use an embedded model "
            "(embedded:multilingual-e5-small)"
        )


def _offline_hint(name: str, exc: OSError) -> OSError:
    """A :class:`ModelNotFoundError` for a hub model that could not be fetched (no connection)."""
    from xqg_lab.core.errors import ModelNotFoundError

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelNotFoundError(
        f"expected model {name!r} to be a local folder, in the Hugging Face cache or downloadable, found none of "
        f"these ({first}); fix: on an offline machine download it elsewhere first, pass the path of a local copy, "
        "or use an embedded model (embedded:multilingual-e5-small)"
    )


class Encoder:
    """A bi-encoder turning queries and passages into vectors.

    Parameters
    ----------
    model_name_or_path : a Hugging Face model name, a local folder, or an embedded
        name such as ``"embedded:multilingual-e5-small"`` (see :mod:`.embedded`).
    preset : ``"e5"`` or ``"dpr"`` (see :data:`.presets.PRESETS`); the keyword
        arguments below override its fields.
    pooling : a :class:`Pooling` value or a callable
        ``(last_hidden_state (b, s, d), attention_mask (b, s)) -> (b, d)``.
    passage_fields : ``"title_text"`` (``title + " " + text``, the presets' default) or
        ``"text"``: what :meth:`encode_passages` encodes of a passages frame.
    passage_model_name_or_path : a separate passage tower (untied DPR); by default the
        query tower encodes passages too.
    batch_size : texts per forward pass; batches hold texts of similar length.
    device : ``"cpu"``, ``"cuda"``, ...; default CUDA when available.
    fp16 : run the model in half precision (CUDA only); vectors are returned as float32.
    cache_dir : folder of the embedding cache, ``None`` for the default under
        :func:`xqg_lab.core.paths.cache_dir`, ``False`` for no cache.
    trust_remote_code : passed to ``transformers``; off unless you set it.
    """

    def __init__(
        self,
        model_name_or_path: str,
        *,
        preset: str = "e5",
        pooling: str | Pooling | PoolingFn | None = None,
        normalize: bool | None = None,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        query_max_length: int | None = None,
        passage_max_length: int | None = None,
        passage_fields: str | PassageFields | None = None,
        passage_model_name_or_path: str | None = None,
        revision: str | None = None,
        batch_size: int = 64,
        device: str | None = None,
        fp16: bool = False,
        cache_dir: str | os.PathLike | None | bool = None,
        progress: bool = True,
        trust_remote_code: bool = False,
    ):
        base = get_preset(preset)
        overrides = {
            "normalize": normalize,
            "query_prefix": query_prefix,
            "passage_prefix": passage_prefix,
            "query_max_length": query_max_length,
            "passage_max_length": passage_max_length,
        }
        if pooling is not None and not callable(pooling):
            overrides["pooling"] = Pooling.parse(pooling)
        if passage_fields is not None:
            overrides["passage_fields"] = PassageFields.parse(passage_fields)
        self.preset: EncoderPreset = EncoderPreset(
            **{**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}}
        )
        self.pooling_fn: PoolingFn | None = pooling if callable(pooling) else None
        self.model_name_or_path = model_name_or_path
        self.passage_model_name_or_path = passage_model_name_or_path
        self.revision = revision
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"expected batch_size to be a positive int, found {batch_size!r}; fix: e.g. batch_size=64")
        self.batch_size = batch_size
        self.device = device
        self.fp16 = fp16
        self.cache_dir = cache_dir
        self.progress = progress
        self.trust_remote_code = trust_remote_code
        self._towers: dict[str, tuple] = {}
        self._identity: dict[Role, str] = {}

    # -- public API ---------------------------------------------------------------------

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, float32 ``(len(texts), dim)``."""
        return self.encode(texts, role=Role.QUERY)

    def encode_passages(self, passages) -> np.ndarray:
        """Passage vectors, float32 ``(n, dim)``, for a frame with ``title`` and ``text``
        columns (encoded as ``title + " " + text``, or ``text`` alone with
        ``passage_fields="text"``) or a sequence of strings (encoded as given)."""
        if hasattr(passages, "columns"):
            missing = {"text"} - set(passages.columns)
            if missing:
                raise ValueError("passages frame needs a 'text' column (and optionally 'title')")
            titles = passages["title"] if "title" in passages.columns else [""] * len(passages)
            fields = self.preset.passage_fields
            texts = [passage_text(t, x, fields) for t, x in zip(titles, passages["text"])]
        else:
            texts = list(passages)
        return self.encode(texts, role=Role.PASSAGE)

    def with_passage_fields(self, passage_fields: str | PassageFields) -> Encoder:
        """This encoder with another ``passage_fields`` (sharing the loaded model)."""
        other = copy.copy(self)
        other.preset = dataclasses.replace(self.preset, passage_fields=PassageFields.parse(passage_fields))
        return other

    def encode(self, texts: Sequence[str], *, role: Role | str) -> np.ndarray:
        """Vectors of ``texts`` (float32 ``(n, dim)``) for ``role`` ("query"/"passage").

        ``texts`` is a non-empty sequence of str; a single str is refused (``list("ab")``
        would encode each character)."""
        role = Role(role)
        texts = check_texts(texts)
        if self.cache_dir is False:
            return self._encode_uncached(texts, role)
        from xqg_lab.encode.cache import EmbeddingCache

        root = self.cache_dir
        if root is None:
            from xqg_lab.core.paths import cache_dir

            root = cache_dir() / "embeddings"
        progress = None

        def start_progress(n_missing: int) -> None:
            nonlocal progress
            progress = self._progress(total=n_missing, role=role)

        def encode_chunk(chunk: list[str]) -> np.ndarray:
            return self._encode_uncached(chunk, role, progress=progress)

        try:
            return EmbeddingCache(root).encode(
                self.settings(role), texts, encode_chunk, on_missing=start_progress
            )
        finally:
            if progress is not None:
                progress.close()

    def settings(self, role: Role | str) -> dict:
        """Everything that determines a vector besides its text (the cache key); for passages,
        ``passage_fields`` when it is not the default ``"title_text"``."""
        role = Role(role)
        pooling = (
            f"{self.pooling_fn.__module__}.{self.pooling_fn.__qualname__}"
            if self.pooling_fn
            else self.preset.pooling.value
        )
        settings = {
            "model": self._model_identity(role),
            "role": role.value,
            "pooling": pooling,
            "normalize": self.preset.normalize,
            "prefix": self.preset.prefix(role),
            "max_length": self.preset.max_length(role),
            "fp16": self.fp16,
        }
        if role is Role.PASSAGE and self.preset.passage_fields is not PassageFields.TITLE_TEXT:
            # only when not the default, so that keys of existing caches and stores stay valid
            settings["passage_fields"] = self.preset.passage_fields.value
        return settings

    # -- internals ----------------------------------------------------------------------

    def _name(self, role: Role) -> str:
        if role is Role.PASSAGE and self.passage_model_name_or_path:
            return self.passage_model_name_or_path
        return self.model_name_or_path

    def _resolved_path(self, role: Role) -> str:
        name = self._name(role)
        if name.startswith("embedded:"):
            from xqg_lab.encode.embedded import resolve_embedded

            return str(resolve_embedded(name))
        check_model_available(name, revision=self.revision)
        return name

    def _model_identity(self, role: Role) -> str:
        if role not in self._identity:
            name = self._name(role)
            if name.startswith("embedded:"):
                conversion = Path(self._resolved_path(role)) / "conversion.json"
                digest = json.loads(conversion.read_text(encoding="utf-8"))["source_sha256"]
                self._identity[role] = f"{name}@sha256:{digest}"
            else:
                check_model_available(name, revision=self.revision)
                try:
                    self._identity[role] = model_identity(name, revision=self.revision)
                except OSError as exc:
                    raise _offline_hint(name, exc) from exc
        return self._identity[role]

    def _tower(self, role: Role):
        """``(tokenizer, model, device)`` for ``role``, loaded on first use."""
        name = self._name(role)
        if name not in self._towers:
            import torch
            from transformers import AutoTokenizer

            path = self._resolved_path(role)
            device = check_device(self.device) or ("cuda" if torch.cuda.is_available() else "cpu")
            if self.fp16 and not str(device).startswith("cuda"):
                raise ValueError("fp16=True needs a CUDA device; set device='cuda' or fp16=False")
            kwargs = {"revision": self.revision, "trust_remote_code": self.trust_remote_code}
            try:
                tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
                model = load_model(path, **kwargs)
            except OSError as exc:
                raise _offline_hint(name, exc) from exc
            model = model.to(device).eval()
            if self.fp16:
                model = model.half()
            self._towers[name] = (tokenizer, model, device)
        return self._towers[name]

    def _progress(self, *, total, role: Role):
        from xqg_lab.core.progress import tqdm

        return tqdm(
            total=total,
            desc=f"encoding {role.value} texts",
            unit="text",
            disable=not self.progress,
        )

    def _encode_uncached(self, texts: list[str], role: Role, *, progress=None) -> np.ndarray:
        import torch

        tokenizer, model, device = self._tower(role)
        prefix = self.preset.prefix(role)
        features = tokenizer(
            [prefix + t for t in texts],
            truncation=True,
            max_length=self.preset.max_length(role),
            padding=False,
        )
        lengths = np.array([len(ids) for ids in features["input_ids"]])
        order = np.argsort(-lengths, kind="stable")  # longest first: memory peaks early
        # Batches of similar lengths: at most batch_size texts, and a batch stops growing
        # once its padding would exceed 10% of its real tokens (unless it is still under
        # 1024 padded tokens), so mixed-length inputs (short questions and 512-token
        # passages) do not pay for padding: 1.5-2x fewer tokens computed on XQuAD.
        sorted_lengths = lengths[order].tolist()
        bounds = []
        start = 0
        while start < len(order):
            stop, total, longest = start + 1, sorted_lengths[start], sorted_lengths[start]
            while stop < len(order) and stop - start < self.batch_size:
                grown = total + sorted_lengths[stop]
                if (stop - start + 1) * longest > max(1.1 * grown, 1024):
                    break
                total, stop = grown, stop + 1
            bounds.append((start, stop))
            start = stop
        out = None
        own_progress = progress is None
        if own_progress:
            progress = self._progress(total=len(texts), role=role)
        with torch.inference_mode():
            for start, stop in bounds:
                idx = order[start:stop]
                batch = tokenizer.pad(
                    {k: [features[k][i] for i in idx] for k in features.keys()},
                    return_tensors="pt",
                )
                batch = {k: v.to(device) for k, v in batch.items()}
                hidden = model(**batch).last_hidden_state
                if self.pooling_fn is not None:
                    vectors = self.pooling_fn(hidden, batch["attention_mask"])
                else:
                    vectors = pool(hidden, batch["attention_mask"], self.preset.pooling)
                vectors = vectors.float()
                if self.preset.normalize:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                vectors = vectors.cpu().numpy()
                if out is None:
                    out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
                out[idx] = vectors
                progress.update(len(idx))
        if own_progress:
            progress.close()
        if out is None:
            return np.zeros((0, model.config.hidden_size), dtype=np.float32)
        return out
