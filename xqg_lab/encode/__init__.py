"""Dense encoders: texts to vectors, by a preset's convention, with an on-disk embedding cache.

- :mod:`~xqg_lab.encode.model`: :class:`Encoder` (a bi-encoder over ``transformers`` towers),
  :func:`pool`, :func:`load_model`, :func:`model_identity`;
- :mod:`~xqg_lab.encode.presets`: :data:`PRESETS` (``dpr``, ``e5``), :class:`EncoderPreset`,
  :class:`Pooling`, :class:`Role`, :func:`get_preset`;
- :mod:`~xqg_lab.encode.embedded`: the bundled multilingual-e5-small (``embedded:`` names,
  :func:`resolve_embedded`);
- :mod:`~xqg_lab.encode.cache`: :class:`EmbeddingCache`, vectors keyed by text and settings.

The text a passage is encoded as (:func:`passage_text`, :class:`PassageFields`) is defined in
:mod:`xqg_lab.data.common` and re-exported here. Importing this package loads no model.
"""

from xqg_lab.data.common import PassageFields, passage_text
from xqg_lab.encode.cache import EmbeddingCache
from xqg_lab.encode.embedded import EMBEDDED_MODELS, embedded_model_path, resolve_embedded
from xqg_lab.encode.model import Encoder, load_model, model_identity, pool
from xqg_lab.encode.presets import PRESETS, EncoderPreset, Pooling, Role, get_preset

__all__ = [
    "EMBEDDED_MODELS",
    "PRESETS",
    "EmbeddingCache",
    "Encoder",
    "EncoderPreset",
    "PassageFields",
    "Pooling",
    "Role",
    "embedded_model_path",
    "get_preset",
    "load_model",
    "model_identity",
    "passage_text",
    "pool",
    "resolve_embedded",
]
