"""Passage embeddings per shard: the worker that encodes one shard and the driver that
runs the pending shards of a corpus on a backend."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import expected
from xqg_lab.scale.shards._common import _Factory, _corpus_shards_to_do, _settings_of, _summary, build_encoder, run_corpus_task
from xqg_lab.scale.shards.corpus import ShardRange, _check_shard_size, corpus_file
from xqg_lab.scale.shards.store import ShardStore, StorageDtype

if TYPE_CHECKING:
    import pandas as pd


def _check_ids(doc_ids: Sequence[str], where: str) -> None:
    bad = [d for d in doc_ids if "\n" in d or "\r" in d]
    if bad:
        raise DataFormatError(where, None, expected("passage ids on one line", bad[0], "remove the line breaks from the id"))


class PassageShardWorker:
    """Encodes passage shards of ``corpus`` into ``store`` with one encoder (model loaded
    once per worker, e.g. once per Ray actor).

    Call it with a task mapping (a :class:`ShardRange` as dict); returns a summary dict
    ``shard, n, status, seconds``. The shard is encoded under :meth:`ShardStore.lock`, so
    processes sharing the store encode each shard once.
    """

    def __init__(self, root, corpus, encoder, *, dtype: str = "float32", verify: bool = True):
        self.store = ShardStore(root)
        self.corpus = str(corpus)
        self.encoder = build_encoder(encoder)
        self.dtype = StorageDtype.parse(dtype)
        self.verify = verify

    def __call__(self, task: Mapping[str, Any]) -> dict:
        return run_corpus_task(self.store, "passages", task, corpus=self.corpus, verify=self.verify,
                               work=self.encode_shard)

    def encode_shard(self, shard: ShardRange, passages: pd.DataFrame) -> dict:
        """Encode ``passages`` (the rows of ``shard``) and write them; returns the marker."""
        start = time.perf_counter()
        doc_ids = passages["doc_id"].astype(str).tolist()
        _check_ids(doc_ids, self.corpus)
        vectors = np.asarray(self.encoder.encode_passages(passages), dtype=np.float32)
        stored = vectors.astype(self.dtype.value)
        if not np.isfinite(stored).all():
            raise ValueError(
                f"shard {shard.index}: passage vectors overflow {self.dtype.value}; store them as float32"
            )
        return self.store.write_outputs(
            "passages",
            shard.index,
            {"passages.npy": stored, "ids.txt": "".join(d + "\n" for d in doc_ids)},
            {
                "n": int(len(doc_ids)),
                "dim": int(vectors.shape[1]),
                "dtype": self.dtype.value,
                "encoder": self.encoder.settings("passage"),
                "offset": shard.offset,
                "line": shard.line,
                "content_sha256": shard.content_sha256,
                "seconds": round(time.perf_counter() - start, 3),
            },
        )


def encode_passage_shards(
    corpus: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    encoder,
    shard_size: int,
    shard_index: int = 0,
    num_shards: int = 1,
    dtype: str | StorageDtype = StorageDtype.FLOAT32,
    backend: str = "local",
    ray_options=None,
    verify: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Encode ``corpus`` into shard files under ``out_dir``, skipping finished shards.

    Parameters
    ----------
    corpus : DPR-style TSV or BEIR corpus (see :func:`corpus_file`).
    out_dir : the store folder (see :class:`ShardStore`).
    encoder : mapping of :class:`~xqg_lab.encode.model.Encoder` keyword arguments (each
        worker builds its own model; required by the Ray backend), a zero-argument factory,
        or an encoder instance (local backend).
    shard_size : passages per shard; fixed for the life of the store.
    shard_index, num_shards : process only the shards ``i % num_shards == shard_index``.
    dtype : ``"float32"`` or ``"float16"`` for the stored vectors (float16 halves disk and
        memory; scores then differ from float32 by about 1e-3 relative).
    backend : ``"local"`` or ``"ray"`` (:mod:`xqg_lab.scale`); ``ray_options`` is a
        :class:`xqg_lab.scale.RayOptions` or a mapping of its fields.
    verify : check finished shards' SHA-256 before skipping them (else sizes only).

    Returns
    -------
    DataFrame ``shard, n, status ("done" / "skipped"), seconds`` for the selected shards.
    """
    from xqg_lab.scale import run_shard_tasks

    dtype = StorageDtype.parse(dtype)
    shard_size = _check_shard_size(shard_size)
    corpus_file(corpus)  # a missing corpus is reported before anything else
    store = ShardStore(out_dir)
    store.check_settings(
        "passages",
        {"shard_size": shard_size, "dtype": dtype.value, "encoder": _settings_of(encoder, "passage")},
    )
    selected, pending = _corpus_shards_to_do(
        store, corpus, "passages", shard_size=shard_size, shard_index=shard_index, num_shards=num_shards, verify=verify
    )
    todo = {s.index for s in pending}
    skipped = [s.index for s in selected if s.index not in todo]
    factory = _Factory(PassageShardWorker, (str(store.root), str(corpus), encoder), {"dtype": dtype.value, "verify": verify})
    rows = run_shard_tasks(
        [s.to_dict() for s in pending], factory, backend=backend, ray_options=ray_options,
        progress=progress, description="encoding passage shards",
    )
    return _summary(rows, skipped, {s.index: s.n for s in selected})
