"""A content-keyed embedding cache, safe to interrupt.

Vectors are keyed by the encoder settings (model identity, role, pooling, max length,
prefix, normalisation) and by the SHA-256 of each text, so any notebook that encodes a
text already seen with the same settings reads it back instead of re-encoding. New
vectors are written in chunks; each chunk is two ``.npy`` files plus a ``.json`` marker
holding their checksums, all written atomically, so a killed run loses at most the
chunk in flight and a truncated or corrupted chunk is detected and recomputed (its
bytes are checked before they are parsed, never after). Writers of one settings folder
take turns through a file lock (``.lock``), so processes sharing a cache never leave a
marker beside another writer's arrays.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from xqg_lab.core.atomic import TMP_MARK, save_npy_atomic, write_text_atomic
from xqg_lab.core.checksums import file_sha256

KEY_BYTES = 16
LOCK_FILE = ".lock"


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """SHA-256 prefixes of ``texts``: bytes array ``(n,)`` of dtype ``S16``."""
    return np.array(
        [hashlib.sha256(t.encode("utf-8")).digest()[:KEY_BYTES] for t in texts],
        dtype=f"S{KEY_BYTES}",
    )


def settings_key(settings: dict) -> str:
    """A stable 20-hex-digit name for a settings dict (JSON-serialisable)."""
    blob = json.dumps(settings, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:20]


def _lock(folder: Path):
    from filelock import FileLock

    return FileLock(str(folder / LOCK_FILE))


def _check_vectors(vectors: np.ndarray, texts: list[str], dim: int | str) -> None:
    """ValueError unless ``vectors`` is finite and ``(len(texts), dim)``; nothing bad is cached."""
    if vectors.shape != (len(texts), dim):
        raise ValueError(
            f"encode_fn returned shape {vectors.shape} for {len(texts)} texts; expected "
            f"({len(texts)}, {dim}): one vector per text, the dimension of the vectors already cached"
        )
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        raise ValueError(
            f"encode_fn returned NaN or inf for {bad.size} of {len(texts)} texts, e.g. "
            f"{texts[bad[0]]!r:.80}; expected finite vectors (check the model and the inputs); "
            "nothing of this chunk was cached"
        )


def _not_writable(folder: Path, n_missing: int, exc: OSError) -> PermissionError:
    """The error for a cache folder that cannot take the vectors of texts not cached yet."""
    return PermissionError(
        f"expected a writable embedding cache, found {folder} not writable ({exc.strerror or exc}) while "
        f"{n_missing} text(s) are not cached yet; fix: set XQG_LAB_CACHE to a writable folder, pass "
        "cache_dir=<writable folder> to the Encoder, or cache_dir=False to encode without caching",
    )


class EmbeddingCache:
    """Embeddings on disk under ``root/<settings key>/``.

    Parameters
    ----------
    root : folder of the cache; created on first write.
    chunk_size : number of new texts encoded and written together.
    """

    def __init__(self, root: str | os.PathLike, *, chunk_size: int = 2048):
        self.root = Path(root)
        self.chunk_size = chunk_size

    def encode(
        self,
        settings: dict,
        texts: Sequence[str],
        encode_fn: Callable[[list[str]], np.ndarray],
        *,
        on_missing: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts`` (float32 ``(n, dim)``), calling ``encode_fn`` only on
        texts not yet cached under ``settings``; ``on_missing(n)`` is told first how many
        distinct texts that is (e.g. to size a progress bar)."""
        folder = self.root / settings_key(settings)
        keys = text_keys(texts)
        found = self._load(folder, keys)
        missing = [i for i in range(len(texts)) if i not in found]
        if missing:
            settings_file = folder / "settings.json"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with _lock(folder):  # no writer is mid-chunk: temporary files are from killed runs
                    for stale in folder.glob(f"*{TMP_MARK}*"):
                        stale.unlink(missing_ok=True)
                    if not settings_file.exists():
                        write_text_atomic(settings_file, json.dumps(settings, indent=1, sort_keys=True))
            except OSError as exc:
                raise _not_writable(folder, len(missing), exc) from exc
            # Each distinct missing text is encoded once, in chunks written as they finish.
            text_of = {bytes(keys[i]): texts[i] for i in missing}
            unique = list(text_of)
            if on_missing is not None:
                on_missing(len(unique))
            new_vectors: dict[bytes, np.ndarray] = {}
            dim = len(next(iter(found.values()))) if found else None
            for start in range(0, len(unique), self.chunk_size):
                chunk_keys = unique[start : start + self.chunk_size]
                chunk_texts = [text_of[k] for k in chunk_keys]
                vectors = np.asarray(encode_fn(chunk_texts), dtype=np.float32)
                dim = dim or (vectors.shape[-1] if vectors.ndim == 2 else "dim")
                _check_vectors(vectors, chunk_texts, dim)
                self._write_chunk(folder, np.array(chunk_keys, dtype=keys.dtype), vectors)
                new_vectors.update(zip(chunk_keys, vectors))
            for i in missing:
                found[i] = new_vectors[bytes(keys[i])]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[i] for i in range(len(texts))]).astype(np.float32, copy=False)

    def _write_chunk(self, folder: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
        name = hashlib.sha256(keys.tobytes()).hexdigest()[:20]
        keys_path, vec_path = folder / f"{name}.keys.npy", folder / f"{name}.vectors.npy"
        with _lock(folder):
            save_npy_atomic(keys_path, keys)
            save_npy_atomic(vec_path, vectors)
            marker = {
                "n": int(len(keys)),
                "dim": int(vectors.shape[1]),
                "keys_sha256": file_sha256(keys_path, cached=False),
                "vectors_sha256": file_sha256(vec_path, cached=False),
            }
            write_text_atomic(folder / f"{name}.json", json.dumps(marker))

    def _load(self, folder: Path, keys: np.ndarray) -> dict[int, np.ndarray]:
        """Rows of ``keys`` already cached in ``folder``: ``{position: vector}``."""
        if not folder.is_dir():
            return {}
        wanted: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            wanted.setdefault(bytes(k), []).append(i)
        found: dict[int, np.ndarray] = {}
        for marker_path in sorted(folder.glob("*.json")):
            if marker_path.name == "settings.json":
                continue
            chunk = self._read_chunk(marker_path)
            if chunk is None:
                continue
            chunk_keys, vectors = chunk
            for j, k in enumerate(chunk_keys):
                for i in wanted.get(bytes(k), ()):
                    found[i] = vectors[j]
        return found

    def _read_chunk(self, marker_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        """A verified chunk, or ``None`` (after removing it) when it is damaged."""
        chunk = _verified_chunk(marker_path)
        if chunk is not None:
            return chunk
        with _lock(marker_path.parent):  # a writer may have been replacing it: look again
            if not marker_path.exists():
                return None
            chunk = _verified_chunk(marker_path)
            if chunk is not None:
                return chunk
            warnings.warn(
                f"embedding cache chunk {marker_path} is truncated or corrupted (or holds NaN/inf); "
                "it is removed and its texts are encoded again",
                stacklevel=3,
            )
            stem = marker_path.name[: -len(".json")]
            for suffix in (".json", ".keys.npy", ".vectors.npy"):
                marker_path.with_name(stem + suffix).unlink(missing_ok=True)
        return None


def _verified_chunk(marker_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """``(keys, vectors)`` of a chunk whose files match its marker's checksums, else ``None``.
    Each file is read once and parsed from the bytes that were checked."""
    stem = marker_path.name[: -len(".json")]
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
        raw_keys = marker_path.with_name(f"{stem}.keys.npy").read_bytes()
        raw_vectors = marker_path.with_name(f"{stem}.vectors.npy").read_bytes()
        if (
            hashlib.sha256(raw_keys).hexdigest() != marker["keys_sha256"]
            or hashlib.sha256(raw_vectors).hexdigest() != marker["vectors_sha256"]
        ):
            return None
        chunk_keys = np.load(io.BytesIO(raw_keys), allow_pickle=False)
        vectors = np.load(io.BytesIO(raw_vectors), allow_pickle=False)
        if (
            vectors.shape != (marker["n"], marker["dim"])
            or len(chunk_keys) != marker["n"]
            or not np.isfinite(vectors).all()
        ):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return chunk_keys, vectors
