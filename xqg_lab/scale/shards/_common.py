"""What the stages share: encoders built inside workers, the shards still to do, the
summary frame of a run, and picklable worker factories for :mod:`xqg_lab.scale`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from xqg_lab.scale.shards.corpus import ShardRange, read_corpus_shard, select_shards
from xqg_lab.scale.shards.store import ShardStore

if TYPE_CHECKING:
    import pandas as pd


def build_encoder(spec):
    """An encoder from ``spec``: an object with ``encode_passages`` (returned as is), a
    zero-argument factory, or a mapping of :class:`xqg_lab.encode.model.Encoder` keyword
    arguments (``cache_dir`` defaults to ``False`` and ``progress`` to ``False``: the
    store is the cache)."""
    if hasattr(spec, "encode_passages") or hasattr(spec, "encode_queries"):
        return spec
    if isinstance(spec, Mapping):
        from xqg_lab.encode.model import Encoder

        kwargs = {"cache_dir": False, "progress": False, **spec}
        return Encoder(**kwargs)
    if callable(spec):
        return spec()
    raise TypeError(
        f"expected encoder as an Encoder, a mapping of Encoder keyword arguments or a factory, found "
        f"{type(spec).__name__}; fix: pass e.g. {{'model_name_or_path': ...}}"
    )


def _settings_of(encoder_spec, role: str) -> dict:
    encoder = build_encoder(encoder_spec)
    return encoder.settings(role)


def _is_current(store: ShardStore, kind: str, index: int, *, key: str, expected: str, verify: bool) -> bool:
    """Whether shard ``index`` of ``kind`` is complete and was made from the same input
    (its marker's ``key`` equals ``expected``)."""
    marker = store.marker(kind, index)
    return marker is not None and marker.get(key) == expected and store.is_done(kind, index, verify=verify)


def _pending(store: ShardStore, kind: str, shards: Sequence[ShardRange], *, verify: bool, key: str,
             expected: Callable[[ShardRange], str]) -> list[ShardRange]:
    return [s for s in shards if not _is_current(store, kind, s.index, key=key, expected=expected(s), verify=verify)]


def _corpus_shards_to_do(store: ShardStore, corpus, kind: str, *, shard_size: int, shard_index: int,
                         num_shards: int, verify: bool) -> tuple[list[ShardRange], list[ShardRange]]:
    """``(selected, pending)``: the shards of ``corpus`` that worker ``shard_index`` of
    ``num_shards`` processes (:func:`select_shards`), and those of them whose ``kind`` output is
    not current for the passages they hold now (:func:`_pending` on ``content_sha256``)."""
    index = store.load_or_index(corpus, shard_size=shard_size)
    mine = set(select_shards([s.index for s in index.shards], shard_index=shard_index, num_shards=num_shards))
    selected = [s for s in index.shards if s.index in mine]
    pending = _pending(store, kind, selected, verify=verify, key="content_sha256", expected=lambda s: s.content_sha256)
    return selected, pending


def run_once(store: ShardStore, kind: str, index: int, *, n: int, key: str, expected: str, verify: bool,
             work: Callable[[], object]) -> dict:
    """Run ``work()`` for shard ``index`` under its lock (:meth:`ShardStore.lock`) unless it is
    already current (:func:`_is_current`: a second worker waits, then skips); returns the
    summary row ``shard, n, status, seconds``."""
    start = time.perf_counter()
    with store.lock(kind, index):
        if _is_current(store, kind, index, key=key, expected=expected, verify=verify):
            return {"shard": index, "n": n, "status": "skipped", "seconds": 0.0}
        work()
    return {"shard": index, "n": n, "status": "done", "seconds": time.perf_counter() - start}


def run_corpus_task(store: ShardStore, kind: str, task: Mapping, *, corpus: str, verify: bool,
                    work: Callable[[ShardRange, pd.DataFrame], object]) -> dict:
    """:func:`run_once` for the corpus shard of ``task`` (a :class:`ShardRange` as a mapping):
    ``work(shard, passages)`` runs, on the shard's passages, only when the shard is not current."""
    shard = ShardRange(**{f.name: task[f.name] for f in dataclasses.fields(ShardRange)})
    return run_once(store, kind, shard.index, n=shard.n, key="content_sha256", expected=shard.content_sha256,
                    verify=verify, work=lambda: work(shard, read_corpus_shard(corpus, shard)))


def _summary(rows: list[dict], skipped: Sequence[int], sizes: Mapping[int, int]) -> pd.DataFrame:
    import pandas as pd

    rows = rows + [{"shard": i, "n": sizes[i], "status": "skipped", "seconds": 0.0} for i in skipped]
    frame = pd.DataFrame(rows, columns=["shard", "n", "status", "seconds"])
    return frame.sort_values("shard", ignore_index=True)


@dataclasses.dataclass(frozen=True)
class _Factory:
    """A picklable zero-argument factory: ``cls(*args, **kwargs)``."""

    cls: type
    args: tuple
    kwargs: dict

    def __call__(self):
        return self.cls(*self.args, **self.kwargs)
