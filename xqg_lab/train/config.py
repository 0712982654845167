"""The hyper-parameters of one training run as a typed config (:class:`TrainingConfig`).

Numbers keep the type they were written with (``weight_decay: 0`` stays the int 0), because the
checkpoint record and the cache key of a fine-tuned checkpoint hold them as written; the
validators below check values instead of letting pydantic coerce them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, ClassVar

import pydantic

from xqg_lab.core.config import ConfigError
from xqg_lab.core.validation import Choice
from xqg_lab.core.validation import ConfigModel, expected
from xqg_lab.encode.presets import PRESETS, EncoderPreset, Pooling, get_preset

E5_TEMPERATURE = 0.01
"""Default temperature for L2-normalised (cosine) presets: e5's contrastive fine-tuning value
(Wang et al., 2022, arXiv 2212.03533). Dot-product presets (DPR/Tevatron) default to 1.0."""


class Precision(Choice, label="precision"):
    """Arithmetic of the forward/backward pass (weights and optimizer stay float32)."""

    FP32 = "fp32"
    FP16 = "fp16"
    """``torch.autocast`` float16 with a gradient scaler; CUDA only."""
    BF16 = "bf16"
    """``torch.autocast`` bfloat16; CUDA or CPU."""


# -- field validators (pydantic "before" validators; the ValueError text is the "expected" part)


def integer(minimum: int, *, optional: bool = False) -> pydantic.BeforeValidator:
    """An int (not a bool) ``>= minimum``; None too when ``optional``."""
    what = ("a positive integer" if minimum == 1 else f"an integer >= {minimum}") + (" or null" if optional else "")

    def check(value):
        if value is None and optional:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(what)
        return value

    return pydantic.BeforeValidator(check)


def number(*, positive: bool, below_one: bool = False, optional: bool = False,
           from_string: bool = True) -> pydantic.BeforeValidator:
    """A finite int or float (kept as written), ``> 0`` when ``positive`` else ``>= 0``, ``< 1``
    when ``below_one``; a string such as ``"2e-5"`` (YAML 1.1 reads it so) becomes a float."""
    what = ("a positive number" if positive else "a number >= 0") + (" below 1" if below_one else "")
    what += " or null" if optional else ""

    def check(value):
        if value is None and optional:
            return value
        if from_string and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError(what) from None
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if not ok or (value <= 0 if positive else value < 0) or (below_one and value >= 1):
            raise ValueError(what)
        return value

    return pydantic.BeforeValidator(check)


def flag(*, optional: bool = False) -> pydantic.BeforeValidator:
    """``true`` or ``false`` (not ``1``, not ``"yes"``); None too when ``optional``."""

    def check(value):
        if not (isinstance(value, bool) or (value is None and optional)):
            raise ValueError("true or false" + (" or null" if optional else ""))
        return value

    return pydantic.BeforeValidator(check)


def text(what: str, *, optional: bool = False) -> pydantic.BeforeValidator:
    """A non-empty string; None too when ``optional``."""

    def check(value):
        if not ((isinstance(value, str) and value.strip()) or (value is None and optional)):
            raise ValueError(what + (" or null" if optional else ""))
        return value

    return pydantic.BeforeValidator(check)


def choice(kind: type[Choice], *, optional: bool = False) -> pydantic.BeforeValidator:
    """One of ``kind``'s values, stored as the plain string."""

    def check(value):
        if value is None and optional:
            return value
        try:
            return kind(value).value
        except (ValueError, TypeError):
            raise ValueError(f"one of {kind.valid()}" + (" or null" if optional else "")) from None

    return pydantic.BeforeValidator(check)


def _preset(value):
    try:
        get_preset(value)
    except (ValueError, TypeError):
        raise ValueError(f"an encoder preset ({', '.join(sorted(PRESETS))})") from None
    return value


# -- the config ---------------------------------------------------------------------------------


class TrainingConfig(ConfigModel):
    """Every hyper-parameter of one training run; validated on construction
    (:meth:`~xqg_lab.core.validation.ConfigModel.parse` from a mapping).

    Encoder convention (see :mod:`xqg_lab.encode.presets`)
        preset : ``"e5"`` or ``"dpr"``; pooling, normalisation and prefixes come from it.
        pooling, normalize : overrides of the preset (None: the preset's); recorded in the
            checkpoint so that :func:`~xqg_lab.train.encoder_from_checkpoint` applies them again.
        query_max_length, passage_max_length : truncation **during training** in tokens
            (None: the preset's, e.g. 32/128 for ``dpr``). Inference lengths stay the preset's.
        separate_towers : train a query and a passage encoder (both start from the same
            weights); default one shared tower (Tevatron's default, DPR uses two).
    Loss
        temperature : scores are divided by it (None: 1.0 for dot-product presets as in
            DPR/Tevatron, :data:`E5_TEMPERATURE` for normalised ones).
        n_negatives : hard negatives per query and micro-batch, drawn without replacement from
            the triple's ``negatives`` (fewer when it has fewer); Tevatron's
            ``train_n_passages - 1``. 0: in-batch negatives only.
    Optimisation
        learning_rate : peak AdamW learning rate. weight_decay : AdamW decay (not applied to
            biases and LayerNorm weights). warmup_ratio : fraction of optimizer steps of linear
            warm-up, then linear decay to 0.
        batch_size : queries per micro-batch = the in-batch negative pool.
        gradient_accumulation_steps : micro-batches per optimizer step.
        epochs : passes over the triples; max_steps : optional cap on optimizer steps (the
            schedule is laid out over the capped number).
        max_grad_norm : clip the global gradient norm (None: no clipping).
        precision : ``"fp32"``, ``"fp16"`` (CUDA only) or ``"bf16"``.
        freeze_embeddings : keep the input embeddings fixed (cuts optimizer memory and time for
            large multilingual vocabularies; e5-small: 96M of 118M parameters).
    Run
        seed : seeds weights that start random, dropout, shuffling and negative sampling.
        device : ``"cpu"``, ``"cuda"``, ... (None: CUDA when available).
        save_steps : also save ``checkpoint-<step>/`` every this many optimizer steps.
    """

    model_config = pydantic.ConfigDict(frozen=True)
    where: ClassVar[str] = "training config"

    preset: Annotated[str, pydantic.BeforeValidator(_preset)] = "e5"
    pooling: Annotated[str | None, choice(Pooling, optional=True)] = None
    normalize: Annotated[bool | None, flag(optional=True)] = None
    query_max_length: Annotated[int | None, integer(1, optional=True)] = None
    passage_max_length: Annotated[int | None, integer(1, optional=True)] = None
    separate_towers: Annotated[bool, flag()] = False
    temperature: Annotated[int | float | None, number(positive=True, optional=True)] = None
    n_negatives: Annotated[int, integer(0)] = 0
    learning_rate: Annotated[int | float, number(positive=True)] = 2e-5
    weight_decay: Annotated[int | float, number(positive=False)] = 0.0
    warmup_ratio: Annotated[int | float, number(positive=False, below_one=True)] = 0.1
    batch_size: Annotated[int, integer(1)] = 32
    gradient_accumulation_steps: Annotated[int, integer(1)] = 1
    epochs: Annotated[int, integer(1)] = 1
    max_steps: Annotated[int | None, integer(1, optional=True)] = None
    max_grad_norm: Annotated[int | float | None, number(positive=True, optional=True)] = 1.0
    precision: Annotated[str, choice(Precision)] = "fp32"
    freeze_embeddings: Annotated[bool, flag()] = False
    seed: Annotated[int, integer(0)] = 42
    device: Annotated[str | None, text("a device name such as 'cpu' or 'cuda'", optional=True)] = None
    save_steps: Annotated[int | None, integer(1, optional=True)] = None

    @pydantic.field_validator("device")
    @classmethod
    def _fp16_needs_cuda(cls, device, info):
        if device is not None and info.data.get("precision") == Precision.FP16.value and not device.startswith("cuda"):
            raise ValueError("precision 'fp16' on a CUDA device (use precision 'bf16', whose autocast works "
                             "on CPU, or 'fp32')")
        return device

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values of every field, in declaration order."""
        return self.model_dump()

    def encoder_preset(self) -> EncoderPreset:
        """The preset with this config's pooling, normalisation and training lengths."""
        base = get_preset(self.preset)
        overrides = {
            "pooling": Pooling(self.pooling) if self.pooling else None,
            "normalize": self.normalize,
            "query_max_length": self.query_max_length,
            "passage_max_length": self.passage_max_length,
        }
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def resolved_temperature(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return E5_TEMPERATURE if self.encoder_preset().normalize else 1.0


def check_precision_device(precision: Precision, device: str) -> None:
    """fp16 autocast needs CUDA; a :class:`ConfigError` says what to use instead."""
    if precision is Precision.FP16 and not str(device).startswith("cuda"):
        raise ConfigError("precision 'fp16': " + expected(
            "a CUDA device", device, "use precision 'bf16' (autocast works on CPU) or 'fp32'"))
