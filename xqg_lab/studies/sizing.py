"""How much disk, memory and GPU time a paper-scale xQG run needs, from measured throughputs.

The paper's XOR-TyDi run: about 18M English passages, 5 generated queries in each of 7
languages per passage (630M queries), 768-d mBERT/XLM-R vectors. Kept per passage: its
vector and ``S = Σ_j q_j`` (DESIGN.md), never the 630M query vectors::

    passage vectors     18M × 768 × 4 B ≈ 55 GB  (float32; 28 GB in float16)
    query sums S        18M × 768 × 4 B ≈ 55 GB  (float32, accumulated per shard)
    all query vectors   630M × 768 × 4 B ≈ 1.9 TB (what is *not* stored)

:func:`estimate` turns a :class:`SizingParams` (sizes and throughputs measured on your
hardware, e.g. with ``bench/run_all.py``; :func:`throughputs_from_bench` reads them) into
one row per stage. Sizes are decimal (1 GB = 10⁹ bytes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from xqg_lab.core.validation import ConfigModel, expected

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

GB = 1e9

ESTIMATE_COLUMNS = ["stage", "disk_gb", "memory_gb", "gpu_hours", "wall_hours", "note"]


class SizingParams(ConfigModel):
    """Sizes of the run and throughputs of the hardware.

    Attributes
    ----------
    n_passages : passages in the corpus (XOR-TyDi: about 18M).
    n_langs, n_per_lang : target languages and generated queries per passage and language.
    dim : embedding dimension (mBERT / XLM-R base 768; e5-small 384).
    embedding_bytes : bytes per stored passage-vector value (4 float32, 2 float16).
    sum_bytes : bytes per stored query-sum value (4: float32, as :mod:`xqg_lab.scale.shards` stores).
    query_text_bytes : stored bytes per generated query (Parquet, compressed; ids included).
    passages_per_s, queries_per_s : encoding throughput of one GPU (texts/s).
    generated_queries_per_s : generation throughput of one GPU (queries/s).
    search_qps_per_million : exact (flat) search throughput, queries/s over 1M passages of
        ``dim`` dimensions on the search machine (cost grows linearly with the corpus).
    n_eval_queries : evaluation queries searched (XOR-Retrieve dev: 2,110).
    n_alphas : α values searched (the α grid costs about 2 searches whatever this is).
    n_gpus : GPUs working in parallel (wall time = GPU-hours / n_gpus).
    shard_size : passages per shard (bounds the memory of a worker).
    """

    model_config = pydantic.ConfigDict(frozen=True, validate_assignment=False)
    where = "sizing parameters"
    n_passages: int = 18_000_000
    n_langs: int = 7
    n_per_lang: int = 5
    dim: int = 768
    embedding_bytes: int = 4
    sum_bytes: int = 4
    query_text_bytes: int = 60
    passages_per_s: float = 1000.0
    queries_per_s: float = 4000.0
    generated_queries_per_s: float = 200.0
    search_qps_per_million: float = 50.0
    n_eval_queries: int = 2110
    n_alphas: int = 11
    n_gpus: int = 1
    shard_size: int = 100_000

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _positive(cls, value):
        return _check_number(value, minimum_exclusive=True)

    @pydantic.field_validator("embedding_bytes")
    @classmethod
    def _bytes(cls, value):
        if value not in (2, 4):
            raise ValueError(expected("embedding_bytes 2 (float16) or 4 (float32)", value, "fix: write 2 or 4"))
        return value

    def replace(self, **changes: Any) -> SizingParams:
        """A copy with ``changes`` (validated again)."""
        return self.parse({**self.model_dump(), **changes})

    @property
    def n_queries(self) -> int:
        """Generated queries in all: passages × languages × queries per language."""
        return self.n_passages * self.n_langs * self.n_per_lang


def _check_number(value: Any, *, minimum_exclusive: bool) -> int | float:
    """``value`` if it is a number (not a bool) above 0 (``minimum_exclusive``) or at least 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (minimum_exclusive and value == 0):
        raise ValueError(expected(f"a {'positive' if minimum_exclusive else 'non-negative'} number", value,
                                  "fix: write a number such as 4"))
    return value


def estimate(params: SizingParams) -> pd.DataFrame:
    """Disk, memory and GPU time per stage of the run.

    Returns a frame with :data:`ESTIMATE_COLUMNS`: ``stage`` (str), ``disk_gb`` (written
    by the stage, GB), ``memory_gb`` (working memory of one worker or of the search
    machine, GB), ``gpu_hours`` (summed over GPUs; search runs on CPU and counts 0),
    ``wall_hours`` (with ``n_gpus`` in parallel; search: one machine), ``note``. The last
    row, "all query vectors (not stored)", shows what the per-passage sums avoid.
    """
    import pandas as pd

    p = params
    n, d = p.n_passages, p.dim
    shard_vec = p.shard_size * d
    search_hours = p.n_eval_queries / p.search_qps_per_million * (n / 1e6) / 3600
    rows = [
        (
            "generate queries",
            p.n_queries * p.query_text_bytes / GB,
            p.shard_size * 700 / GB,  # one shard's passage text (about 700 B per passage)
            p.n_queries / p.generated_queries_per_s / 3600,
            f"{p.n_queries:,} queries ({p.n_langs} languages × {p.n_per_lang})",
        ),
        (
            "encode passages",
            n * d * p.embedding_bytes / GB + n * 12 / GB,  # vectors + ids
            shard_vec * 4 / GB,
            n / p.passages_per_s / 3600,
            f"{n:,} × {d} × {p.embedding_bytes} B per shard file (.npy) + ids",
        ),
        (
            "encode queries into per-passage sums",
            n * d * p.sum_bytes / GB + n * p.n_langs * 4 / GB,  # S + int32 counts
            shard_vec * 8 / GB,  # float64 accumulation of one shard
            p.n_queries / p.queries_per_s / 3600,
            f"S: {n:,} × {d} × {p.sum_bytes} B, counts int32 per language",
        ),
        (
            "exact search, in memory (IndexFlatIP)",
            0.0,
            n * d * 4 / GB,
            0.0,
            f"{p.n_eval_queries:,} queries; float32 index of all passages",
        ),
        (
            f"α grid ({p.n_alphas} values), in memory",
            0.0,
            2 * n * d * 4 / GB,
            0.0,
            "two float32 indexes (p and S); about 2 searches whatever the number of α",
        ),
        (
            "exact search or α grid, sharded (streaming merge)",
            0.0,
            2 * shard_vec * 4 / GB,
            0.0,
            f"one shard of p and S in float32 at a time ({p.shard_size:,} passages)",
        ),
        (
            "all query vectors (not stored)",
            p.n_queries * d * 4 / GB,
            0.0,
            0.0,
            "what keeping every generated-query vector would take (float32)",
        ),
    ]
    frame = pd.DataFrame(rows, columns=["stage", "disk_gb", "memory_gb", "gpu_hours", "note"])
    frame["wall_hours"] = frame["gpu_hours"] / p.n_gpus
    cpu_search = frame["stage"].str.startswith(("exact search", "α grid"))
    frame.loc[cpu_search, "wall_hours"] = search_hours * 2  # α grid ≈ 2 searches; 1 search for plain
    frame.loc[frame["stage"] == "exact search, in memory (IndexFlatIP)", "wall_hours"] = search_hours
    return frame[ESTIMATE_COLUMNS]


def throughputs_from_bench(path: str | os.PathLike, *, dim: int = 768) -> dict[str, float]:
    """Throughputs measured by ``bench/run_all.py`` (its results ``.json``), as
    :class:`SizingParams` fields: ``passages_per_s`` and ``queries_per_s`` (the toolkit's
    Encoder on mixed XQuAD texts), ``generated_queries_per_s`` (batched seq2seq) and
    ``search_qps_per_million`` (in-memory flat search at the largest corpus measured,
    scaled from the benchmark's dimension to ``dim``). Benchmarks missing from the file
    are left out, and ``path=""`` (no results file) gives none. They describe the benchmark's
    model and machine: a GPU run with the paper's mBERT and mT5-base needs its own measurements.
    """
    if not str(path):
        return {}
    results = json.loads(Path(path).read_text(encoding="utf-8"))
    bench = results.get("benchmarks", {})
    out: dict[str, float] = {}
    encode = {r.get("encoder"): r for r in bench.get("encode", {}).get("rows", [])}
    ours = encode.get("xqg_lab Encoder (batch 64, default)")
    if ours:
        out["passages_per_s"] = float(ours["texts_per_s"])
        out["queries_per_s"] = float(ours["texts_per_s"])
    generation = [r for r in bench.get("generation", {}).get("rows", []) if r.get("mode", "").startswith("batched")]
    if generation:
        out["generated_queries_per_s"] = float(generation[0]["queries_per_s"])
    scaling = [r for r in bench.get("scaling", {}).get("rows", []) if r.get("step") == "exact search, in memory"]
    if scaling:
        largest = max(scaling, key=lambda r: r["n_passages"])
        bench_dim = bench["scaling"].get("setup", {}).get("dim", dim)
        n_queries = bench["scaling"].get("setup", {}).get("n_queries", 1)
        qps = n_queries / largest["seconds"]
        out["search_qps_per_million"] = qps * (largest["n_passages"] / 1e6) * (bench_dim / dim)
    return out


def plot_estimate(frame: pd.DataFrame) -> alt.Chart:
    """Bar charts of :func:`estimate`'s disk, memory, GPU-hours and wall-hours per stage
    (one panel each, own scales)."""
    import altair as alt

    long = frame.melt(
        id_vars=["stage"], value_vars=["disk_gb", "memory_gb", "gpu_hours", "wall_hours"], var_name="measure"
    )
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=None),
            y=alt.Y("stage:N", sort=list(frame["stage"]), title=None),
            tooltip=["stage", "measure", alt.Tooltip("value:Q", format=",.1f")],
        )
        .properties(width=220, height=180)
        .facet(facet=alt.Facet("measure:N", sort=["disk_gb", "memory_gb", "gpu_hours", "wall_hours"]), columns=2)
        .resolve_scale(x="independent")
    )


# ----------------------------------------------------------------------------- the MKQA study


class MKQAStudySizing(ConfigModel):
    """Sizes of the MKQA study (``configs/mkqa_study.yaml``); throughputs as in :class:`SizingParams`.

    Attributes
    ----------
    n_passages : passages of psgs_w100 (21,015,300, the ``wiki_dpr`` loader's count).
    passage_bytes : average bytes of one TSV row (id, ~100 words, title); an estimate (about
        620-650 B), so the decompressed corpus size is approximate.
    corpus_gz_bytes : psgs_w100.tsv.gz as pinned in the registry.
    n_questions, n_scored : MKQA questions (10,000) and those scored (6,619 in FlagEmbedding's
        filtering; :func:`xqg_lab.data.mkqa.load_mkqa_qa` counts it for your copy).
    n_langs : query languages (26). n_encoders : zero-shot and fine-tuned (2).
    depth : passages retrieved per query. pool_k : candidates per query and encoder augmented.
    xqg_langs, n_per_lang : generated queries per pool passage (7 × 5 as the paper).
    matches_per_s : passages DPR-``has_answer``-matched per CPU core and second (measured here:
        about 2,700/s for ~100-word passages on one core of the build machine, under load).
    """

    model_config = pydantic.ConfigDict(frozen=True, validate_assignment=False)
    where = "MKQA sizing parameters"
    n_passages: int = 21_015_300
    passage_bytes: int = 640
    corpus_gz_bytes: int = 4_694_541_059
    n_questions: int = 10_000
    n_scored: int = 6_619
    n_langs: int = 26
    n_encoders: int = 2
    dim: int = 768
    embedding_bytes: int = 2
    depth: int = 100
    pool_k: int = 20
    xqg_langs: int = 7
    n_per_lang: int = 5
    passages_per_s: float = 1000.0
    queries_per_s: float = 4000.0
    generated_queries_per_s: float = 200.0
    search_qps_per_million: float = 50.0
    matches_per_s: float = 2700.0
    n_gpus: int = 1
    shard_size: int = 1_000_000

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _non_negative(cls, value):
        return _check_number(value, minimum_exclusive=False)

    @property
    def pool_bounds(self) -> tuple[int, int]:
        """(fewest, most) passages to generate for: the gold passages alone (at most one per
        scored question) and the gold passages plus ``pool_k`` distinct candidates for every
        query of every encoder (languages of a question share many candidates, so the real pool
        is smaller; the study reports it)."""
        most = min(self.n_passages, self.n_scored * (1 + self.n_langs * self.pool_k * self.n_encoders))
        return self.n_scored, most


def estimate_mkqa_study(params: MKQAStudySizing) -> pd.DataFrame:
    """Disk, memory, GPU and CPU time per stage of the MKQA study; columns :data:`ESTIMATE_COLUMNS`.

    ``gpu_hours`` sums over GPUs; ``wall_hours`` divides GPU stages by ``n_gpus``; CPU stages run
    on one machine (FAISS flat search: ``search_qps_per_million`` is that machine's figure; with
    CUDA the study searches on the GPU instead, not estimated here; answer matching runs in one
    process). Generation rows give the pool's lower and upper bound.
    """
    import pandas as pd

    p = params
    n, d = p.n_passages, p.dim
    n_queries = p.n_questions * p.n_langs
    low, high = p.pool_bounds
    per_pool = p.xqg_langs * p.n_per_lang
    search_hours = n_queries * p.n_encoders / p.search_qps_per_million * (n / 1e6) / 3600
    matches = p.n_scored * p.n_langs * p.depth * 2 * p.n_encoders  # plain and + xQG, per encoder
    rows = [
        ("download + decompress psgs_w100", (p.corpus_gz_bytes + n * p.passage_bytes) / GB, 0.0, 0.0, 0.0,
         f"{p.corpus_gz_bytes / GB:.1f} GB gzipped (pinned) + about {n * p.passage_bytes / GB:.0f} GB plain TSV"),
        ("encode passages (both encoders)", p.n_encoders * (n * d * p.embedding_bytes + n * 12) / GB,
         p.shard_size * d * 4 / GB, p.n_encoders * n / p.passages_per_s / 3600, None,
         f"{p.n_encoders} stores of {n:,} × {d} × {p.embedding_bytes} B"),
        ("encode MKQA queries", 0.0, n_queries * d * 4 / GB, p.n_encoders * n_queries / p.queries_per_s / 3600, None,
         f"{n_queries:,} queries ({p.n_langs} languages) per encoder"),
        ("exact search, sharded (CPU)", 0.0, (p.shard_size * d * 4 + n_queries * d * 4) / GB, 0.0, search_hours,
         f"{n_queries:,} queries × {p.n_encoders} encoders, top {p.depth}"),
        ("DPR has_answer matching (CPU, one process)", 0.0, n_queries * p.depth * p.n_encoders * p.passage_bytes / GB,
         0.0, matches / p.matches_per_s / 3600,
         f"at most {matches:,} (question, passage) matches over 4 conditions (fewer: each question's languages share "
         "passages); memory: texts of the retrieved rows if all were distinct (upper bound)"),
        ("generate xQG queries: gold passages only (pool_k = 0)", low * per_pool * 60 / GB, 0.0,
         low * per_pool / p.generated_queries_per_s / 3600, None, f"{low:,} passages × {per_pool} queries"),
        (f"generate xQG queries: gold + top {p.pool_k} candidates (upper bound)", high * per_pool * 60 / GB, 0.0,
         high * per_pool / p.generated_queries_per_s / 3600, None, f"at most {high:,} passages × {per_pool} queries"),
        ("encode generated queries (both encoders, upper bound)", high * d * 4 * p.n_encoders / GB, 0.0,
         p.n_encoders * high * per_pool / p.queries_per_s / 3600, None, "per-passage sums S of the pool"),
    ]
    frame = pd.DataFrame(rows, columns=["stage", "disk_gb", "memory_gb", "gpu_hours", "wall_hours", "note"])
    gpu = frame["wall_hours"].isna()
    frame.loc[gpu, "wall_hours"] = frame.loc[gpu, "gpu_hours"] / max(p.n_gpus, 1)
    frame["wall_hours"] = frame["wall_hours"].astype(float)
    return frame[ESTIMATE_COLUMNS]
