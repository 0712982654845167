"""Generated queries per shard: the worker that runs one generator over one shard and
the driver."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from xqg_lab.core.validation import check_frame
from xqg_lab.generate import RECORD_COLUMNS
from xqg_lab.scale.shards._common import _Factory, _corpus_shards_to_do, _summary, run_corpus_task
from xqg_lab.scale.shards.corpus import ShardRange, _check_shard_size, corpus_file
from xqg_lab.scale.shards.store import ShardStore

if TYPE_CHECKING:
    import pandas as pd


def _build_generator(spec):
    if hasattr(spec, "generate"):
        return spec
    if callable(spec):
        return spec()
    raise TypeError(f"expected a generator (with a generate() method) or a zero-argument factory, found {type(spec).__name__}; fix: pass a Generator")


class GenerationShardWorker:
    """Generates queries for passage shards with one generator (loaded once per worker).

    ``generator.generate(passages, *, langs, n_per_lang, seed)`` must return a frame with
    ``doc_id, lang, sample, text`` (the interface of :mod:`xqg_lab.generate`); the same
    ``seed`` is passed for every shard, so a shard's queries do not depend on which worker
    made them. Each shard is generated under :meth:`ShardStore.lock`.
    """

    def __init__(self, root, corpus, generator, *, langs: Sequence[str], n_per_lang: int, seed: int,
                 verify: bool = True):
        self.store = ShardStore(root)
        self.corpus = str(corpus)
        self.generator = _build_generator(generator)
        self.langs = list(langs)
        self.n_per_lang = int(n_per_lang)
        self.seed = int(seed)
        self.verify = verify

    def __call__(self, task: Mapping[str, Any]) -> dict:
        return run_corpus_task(self.store, "queries", task, corpus=self.corpus, verify=self.verify,
                               work=self.generate_shard)

    def generate_shard(self, shard: ShardRange, passages: pd.DataFrame) -> dict:
        import pyarrow as pa

        start = time.perf_counter()
        generated = self.generator.generate(passages, langs=self.langs, n_per_lang=self.n_per_lang, seed=self.seed)
        check_frame(generated, RECORD_COLUMNS, what="the generator's output",
                    fix="return the columns of generate.RECORD_COLUMNS")
        generated = generated.reset_index(drop=True)
        if "in_target_language" not in generated.columns:
            from xqg_lab.generate.langcheck import check_languages

            generated["in_target_language"] = check_languages(
                generated["text"].astype(str).tolist(), generated["lang"].astype(str).tolist()
            )
        table = pa.Table.from_pandas(generated, preserve_index=False)
        return self.store.write_outputs(
            "queries",
            shard.index,
            {"queries.parquet": table},
            {
                "n": int(shard.n),
                "n_queries": int(len(generated)),
                "langs": self.langs,
                "n_per_lang": self.n_per_lang,
                "seed": self.seed,
                "generator": _describe(self.generator),
                "content_sha256": shard.content_sha256,
                "seconds": round(time.perf_counter() - start, 3),
            },
        )


def _describe(obj) -> dict:
    """A JSON-able description of a generator: its ``params()`` (the interface of
    :class:`xqg_lab.generate.base.Generator`) when it has them, else its class."""
    params = getattr(obj, "params", None)
    if callable(params):
        return json.loads(json.dumps(params(), default=str))
    return {"class": f"{type(obj).__module__}.{type(obj).__qualname__}"}


def generate_query_shards(
    corpus: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    generator,
    langs: Sequence[str],
    n_per_lang: int,
    seed: int = 0,
    shard_size: int,
    shard_index: int = 0,
    num_shards: int = 1,
    backend: str = "local",
    ray_options=None,
    verify: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Generate ``n_per_lang`` queries per language for every passage, shard by shard,
    into ``shard-<i>.queries.parquet`` (same shards as the passage embeddings).

    ``generator``: an object with ``generate(passages, *, langs, n_per_lang, seed)``
    (local backend) or a zero-argument factory of one (any backend; each Ray actor builds
    its own). Returns ``shard, n, status, seconds``.
    """
    from xqg_lab.scale import run_shard_tasks

    shard_size = _check_shard_size(shard_size)
    corpus_file(corpus)
    store = ShardStore(out_dir)
    store.check_settings(
        "queries",
        {"shard_size": shard_size, "langs": list(langs), "n_per_lang": int(n_per_lang), "seed": int(seed)},
    )
    selected, pending = _corpus_shards_to_do(
        store, corpus, "queries", shard_size=shard_size, shard_index=shard_index, num_shards=num_shards, verify=verify
    )
    todo = {s.index for s in pending}
    factory = _Factory(
        GenerationShardWorker,
        (str(store.root), str(corpus), generator),
        {"langs": list(langs), "n_per_lang": n_per_lang, "seed": seed, "verify": verify},
    )
    rows = run_shard_tasks(
        [s.to_dict() for s in pending], factory, backend=backend, ray_options=ray_options,
        progress=progress, description="generating queries",
    )
    return _summary(rows, [s.index for s in selected if s.index not in todo], {s.index: s.n for s in selected})
