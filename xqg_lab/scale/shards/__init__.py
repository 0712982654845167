"""Sharded, resumable corpus processing: passage embeddings, generated queries and query sums.

The paper's corpus (XOR-TyDi's ``enwiki_20190201_w100.tsv``) has about 18M passages and,
at 5 queries × 7 languages, 630M generated queries. This package cuts such a corpus into
deterministic shards and processes them one at a time, so that

- shard ``i`` holds the passages ``[i·shard_size, (i+1)·shard_size)`` in file order,
  whatever machine, process or backend computes it;
- every shard's outputs are written atomically and sealed by a completion marker
  (JSON with the SHA-256 of each file, ``n``, ``dim``, ``dtype`` and the encoder
  settings), so a killed run loses at most the shards in flight and a re-run skips
  finished shards and redoes the rest, ending with the same bytes as an uninterrupted
  run;
- a shard is computed and written under a per-shard file lock
  (``shard-00000.<kind>.lock``), so two processes working on one store never both do a
  shard: the second waits, then finds the completion marker and skips it;
- ``shard_index`` / ``num_shards`` select the shards ``i`` with ``i % num_shards ==
  shard_index``, to spread a corpus over GPUs or hosts by hand (all writing into the
  same folder on a shared file system);
- generated queries are never held as vectors: per shard, each passage's query vectors
  are summed (``S = Σ_j q_j``, float64 accumulation stored as float32) and counted per
  language while they are encoded (about 55 GB for 18M × 768-d passages instead of about
  1.9 TB for all 630M query vectors).

Layout of a store folder ``OUT/``::

    store.json                         settings of each kind of output (checked on re-runs)
    corpus-index.json                  byte offset, first line, size and content hash of
                                       every shard (one streaming pass over the corpus)
    shard-00000.passages.npy           float16/float32 (n, dim), memory-mappable
    shard-00000.ids.txt                the n passage ids, one per line, in corpus order
    shard-00000.passages.json          completion marker
    shard-00000.queries.parquet        generated queries ``doc_id, lang, sample, text, ...``
    shard-00000.queries.json
    shard-00000.qsum-<name>.npy        float32 (n, dim): Σ of the query vectors per passage
    shard-00000.qcount-<name>.npy      int32 (n_langs, n): number of queries per language
    shard-00000.qsum-<name>.json
    shard-00000.<kind>.lock            empty lock file of each kind of output (see above)

The work itself runs on a backend (:mod:`xqg_lab.scale`): ``"local"`` (this process) or
``"ray"`` (Ray Data actors; see :mod:`xqg_lab.scale.ray_backend`, which also says how to
point it at a real cluster). Both call the same per-shard workers, so their outputs are
identical. On the command line, pick it with the flags below or with ``--config
FILE.yaml`` holding a ``scale`` section (:class:`xqg_lab.scale.ScaleConfig`; unknown keys
are refused with the closest valid one)::

    scale:
      backend: ray                   # or local (the default)
      ray: {address: auto, num_workers: 8, num_gpus_per_worker: 1}

Flags given on the command line (``--backend``, ``--ray-address``, ``--num-workers``,
``--cpus-per-worker``, ``--gpus-per-worker``) override the file.

Modules: :mod:`.corpus` (deterministic shards of a corpus file), :mod:`.store` (the store
folder's corpus index and readers; markers and settings are the toolkit's one store format,
:mod:`xqg_lab.core.shard_folder`), :mod:`.passages` (passage embeddings),
:mod:`.generation` (generated queries), :mod:`.query_sums` (per-passage sums of
generated-query vectors, and where the queries come from), :mod:`.cli` (the command line).

Command line (``xqg-lab shards ...``)::

    xqg-lab shards encode --corpus psgs.tsv --encoder embedded:multilingual-e5-small \\
        --out OUT --shard-size 100000 [--shard-index 0 --num-shards 4] [--fp16] \\
        [--backend ray --ray-address auto --num-workers 8 --gpus-per-worker 1]
    xqg-lab shards generate --corpus psgs.tsv --out OUT --shard-size 100000 \\
        --generator seq2seq --model ielabgroup/xor-tydi-docTquery-mt5-base \\
        --langs ar,bn,fi,ja,ko,ru,te --n-per-lang 5 [--backend ray ... | --config scale.yaml]
    xqg-lab shards encode-queries --out OUT --queries store --encoder ... \\
        --langs ar,bn,fi,ja,ko,ru,te [--name all]   # or --queries generated.parquet
    xqg-lab shards status --out OUT
"""

from __future__ import annotations

from xqg_lab.scale.shards._common import build_encoder
from xqg_lab.scale.shards.cli import main
from xqg_lab.core.shard_folder import STORE_FORMAT
from xqg_lab.scale.shards.corpus import (
    CorpusFormat,
    CorpusIndex,
    CorpusShard,
    ShardRange,
    corpus_file,
    index_corpus,
    iter_corpus_shards,
    read_corpus_shard,
    select_shards,
)
from xqg_lab.scale.shards.generation import GenerationShardWorker, generate_query_shards
from xqg_lab.scale.shards.passages import PassageShardWorker, encode_passage_shards
from xqg_lab.scale.shards.query_sums import (
    FrameQueries,
    ParquetQueries,
    QuerySource,
    QuerySumShardWorker,
    StoreQueries,
    encode_query_sum_shards,
)
from xqg_lab.scale.shards.store import ShardStore, StorageDtype

__all__ = [
    "STORE_FORMAT",
    "CorpusFormat",
    "CorpusIndex",
    "CorpusShard",
    "FrameQueries",
    "GenerationShardWorker",
    "ParquetQueries",
    "PassageShardWorker",
    "QuerySource",
    "QuerySumShardWorker",
    "ShardRange",
    "ShardStore",
    "StorageDtype",
    "StoreQueries",
    "build_encoder",
    "corpus_file",
    "encode_passage_shards",
    "encode_query_sum_shards",
    "generate_query_shards",
    "index_corpus",
    "iter_corpus_shards",
    "main",
    "read_corpus_shard",
    "select_shards",
]
