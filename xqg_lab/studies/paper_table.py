"""The xQG paper's XOR-Retrieve table, recomputed and set beside the published numbers.

Zhuang, Shou & Zuccon (SIGIR 2023, arXiv 2305.03950) augment every passage vector of
XOR-TyDi's English Wikipedia corpus with the sum of its generated-query vectors,
``p' = (1 - α)·p + α·Σ_j q_j`` (5 queries × 7 languages per passage, α = 0.01), and report
XOR-Retrieve R@2kt / R@5kt on the dev questions for several retrievers. This module runs
that pipeline on the toolkit's pieces, resumably:

1. generated queries: the released ones (``ielab/xor-tydi-xqg-augmented``, JSON lines
   ``{"docid", "title", "text", "generated_queries": {lang: [5 queries]}}``, files
   ``data/shard_0.jsonl`` ... ``shard_18.jsonl``; they carry the passages too) are converted
   once into a :class:`xqg_lab.scale.shards.ShardStore` (``corpus.tsv`` + per-shard Parquet);
   or queries made by the toolkit (a query store of ``xqg-lab shards generate``, or of
   :func:`xqg_lab.generate.generate_store` over the corpus in file order with the same shard
   size; or ``doc_id, lang, text`` Parquet: a file or a folder, e.g. any query store);
2. per retriever: passage shards (:func:`xqg_lab.scale.shards.encode_passage_shards`) and
   per-passage query sums ``S`` (:func:`xqg_lab.scale.shards.encode_query_sum_shards`), both
   skipped when already done and run on the backend of ``scale`` (local or Ray); every
   passage must have exactly ``n_per_lang`` queries per language (the sum rule assumes it;
   so no passage lacks queries, and the default ``p' = p`` for such passages
   (:class:`xqg_lab.augment.NoQuery`) and the literal formula give the same table);
3. exact search of α = 0 (the baseline) and α = ``alpha`` from the same two score terms
   (:func:`xqg_lab.scale.search.search_alpha_grid_sharded`);
4. official-format predictions (``predictions-<condition>.json``: ``id, lang, ctxs`` with
   passage texts), scored from the search arrays by :func:`xqg_lab.metrics.xor_recall_per_query_grid`
   (the official R@kt rules of :mod:`xqg_lab.metrics.xor_retrieve`).

:func:`published_table` holds the published numbers with their sources;
:func:`compare_with_published` sets ours beside them with deltas.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pydantic

from xqg_lab.core.atomic import write_atomic
from xqg_lab.data.xor_tydi import XOR_LANGS
from xqg_lab.core.errors import DataFormatError
from xqg_lab.core.validation import Choice, ConfigModel, check_positive_int, expected
from xqg_lab.scale import ScaleConfig

if TYPE_CHECKING:
    import pandas as pd

CONDITIONS = ("baseline", "xQG")
"""Row labels of a retriever: plain passages (α = 0) and augmented passages (α = ``alpha``)."""

METRICS = ("R@2kt", "R@5kt")

PAPER = "paper"
REPO = "xQG4xDR README"
PUBLISHED_SOURCES = {
    PAPER: (
        "Zhuang, Shou & Zuccon, 'Augmenting Passage Representations with Query Generation for "
        "Enhanced Cross-Lingual Dense Retrieval', SIGIR 2023 (arXiv 2305.03950), main results: "
        "R@2kt macro averages over the 7 languages as quoted in issue 5 of this project. The "
        "paper's per-language values and R@5kt averages were not available offline and are "
        "left out rather than guessed."
    ),
    REPO: (
        "github.com/ielab/xQG4xDR README at commit cea1e944634ac99eab6dbe41036354ba8d3de321, "
        "'The results reproduced by this repo' (released mBERT checkpoint and generated "
        "queries, alpha = 0.01): per-language R@2kt and R@5kt, mBERT only."
    ),
}
"""Label → full citation of each source in :func:`published_table`."""

_PAPER_AVG_R2KT = {  # retriever: (baseline, xQG)
    "mBERT": (44.1, 46.2),
    "XLM-R": (27.5, 29.8),
    "mBERT (zero-shot)": (33.0, 36.0),
}
_REPO_LANGS = ("ar", "bn", "fi", "ja", "ko", "ru", "te", "avg")
_REPO_MBERT = {  # (metric, condition): values in _REPO_LANGS order
    ("R@2kt", "baseline"): (41.10, 49.01, 52.23, 37.34, 48.07, 33.33, 48.32, 44.20),
    ("R@2kt", "xQG"): (42.39, 54.93, 54.14, 33.61, 52.28, 33.76, 52.52, 46.23),
    ("R@5kt", "baseline"): (49.19, 57.57, 58.60, 42.74, 57.54, 41.35, 55.88, 51.84),
    ("R@5kt", "xQG"): (51.46, 60.53, 58.28, 43.57, 58.60, 40.93, 60.08, 53.35),
}
_PLACEHOLDER = "FILL_IN"


class QueryFormat(Choice, label="query_format"):
    """Where the generated queries come from."""

    RELEASED_JSONL = "released-jsonl"  # ielab/xor-tydi-xqg-augmented data/shard_*.jsonl (passages included)
    STORE = "store"  # a query store cut like the corpus (`xqg-lab shards generate`, or generate_store)
    PARQUET = "parquet"  # doc_id, lang, text Parquet: a file or a folder (e.g. any query store)


class PaperTableConfig(ConfigModel):
    """What to run; every path may be absolute or relative to the working folder.

    Attributes
    ----------
    retrievers : name → model (Hugging Face name or local folder) of each row; names
        ``"mBERT"``, ``"XLM-R"`` and ``"mBERT (zero-shot)"`` are matched with the published
        rows.
    queries : the generated queries, in ``query_format``.
    query_format : see :class:`QueryFormat`.
    corpus : DPR-style passage TSV (``id, text, title``); must be empty for
        ``"released-jsonl"``, whose records carry the passages (so ids always match).
    dev : XOR-Retrieve questions: ``"dev"`` (``xor_dev_retrieve_eng_span_v1_1.jsonl``, fetched
        or mirrored) or the path of a file in that format.
    work_dir : where stores and predictions go (reused by re-runs: finished shards are skipped).
    alpha : α of the augmented condition (the paper: 0.01).
    langs : languages of the generated queries summed into ``S`` (the paper: all 7).
    n_per_lang : generated queries every passage must have per language (the paper: 5).
    k : passages retrieved per question (enough for 5,000 NLTK tokens; the scorer warns
        about shorter retrievals; the reference runs kept 500).
    shard_size : passages per shard (fixed for the life of a store).
    preset : encoder convention of every retriever (``"dpr"``: CLS vector, dot product,
        queries 32 and passages 128 tokens, as Tevatron).
    dtype : stored passage vectors, ``"float32"`` or ``"float16"``.
    batch_size, device, fp16 : encoder settings (``device=None``: CUDA when available).
    scale : where the shards are encoded: a :class:`xqg_lab.scale.ScaleConfig` or its
        mapping ``{backend: local | ray, ray: {address, num_workers, ...}}``.
    """

    model_config = pydantic.ConfigDict(frozen=True, validate_assignment=False)
    where = "paper_table parameters"
    retrievers: dict[str, str]
    queries: str
    query_format: QueryFormat = QueryFormat.RELEASED_JSONL
    corpus: str = ""
    dev: str = "dev"
    work_dir: str = "paper_table"
    alpha: float = 0.01
    langs: tuple[str, ...] = XOR_LANGS
    n_per_lang: int = 5
    k: int = 100
    shard_size: int = 100_000
    preset: str = "dpr"
    dtype: str = "float32"
    batch_size: int = 128
    device: str | None = None
    fp16: bool = False
    scale: ScaleConfig = ScaleConfig()

    @pydantic.field_validator("retrievers", mode="before")
    @classmethod
    def _retrievers(cls, value):
        if not isinstance(value, Mapping) or not value:
            raise ValueError(expected("a mapping of at least one row name to a model name or folder", value,
                                      "fix: e.g. retrievers: {mBERT: <model>}"))
        slugs = [_slug(name) for name in value]
        if len(set(slugs)) != len(slugs) or not all(slugs):
            raise ValueError(expected("retriever names that differ in letters or digits", list(value),
                                      "fix: rename the rows"))
        for name, model in value.items():
            _check_path(f"retrievers[{name!r}]", model)
        return dict(value)

    @pydantic.field_validator("queries", "corpus", "dev", "work_dir", mode="before")
    @classmethod
    def _paths(cls, value, info):
        return _check_path(info.field_name, value)

    @pydantic.field_validator("alpha", mode="before")
    @classmethod
    def _alpha(cls, value):
        from xqg_lab.augment import check_alpha

        if check_alpha(value) == 0:
            raise ValueError(expected("alpha above 0 (α = 0 is the baseline, always run)", value, "fix: e.g. alpha: 0.01"))
        return check_alpha(value)

    @pydantic.field_validator("langs", mode="before")
    @classmethod
    def _langs(cls, value):
        langs = tuple(value) if isinstance(value, (list, tuple)) else value
        if not langs or not isinstance(langs, tuple) or set(langs) - set(XOR_LANGS):
            raise ValueError(expected(f"langs among the XOR-TyDi languages ({', '.join(XOR_LANGS)})", value,
                                      "fix: list some of them"))
        return langs

    @pydantic.field_validator("n_per_lang", "k", "shard_size", "batch_size", mode="before")
    @classmethod
    def _positive(cls, value, info):
        return check_positive_int(value, info.field_name)

    @pydantic.field_validator("preset")
    @classmethod
    def _preset(cls, value):
        from xqg_lab.encode.presets import get_preset

        get_preset(value)
        return value

    @pydantic.field_validator("dtype")
    @classmethod
    def _dtype(cls, value):
        from xqg_lab.scale.shards import StorageDtype

        return StorageDtype.parse(value).value

    @pydantic.field_validator("device", mode="before")
    @classmethod
    def _device(cls, value):
        return None if value == "" else value

    @pydantic.model_validator(mode="after")
    def _queries_and_corpus(self):
        if not self.queries:
            raise ValueError(expected("queries naming the generated queries (file or folder)", self.queries,
                                      "fix: set queries"))
        if self.query_format is QueryFormat.RELEASED_JSONL and self.corpus:
            raise ValueError(expected(
                "an empty corpus with query_format 'released-jsonl' (the released records carry the passages, "
                "and the corpus is written from them so that passage ids match)", self.corpus, "fix: remove corpus"
            ))
        if self.query_format is not QueryFormat.RELEASED_JSONL and not self.corpus:
            raise ValueError(expected(f"a corpus (a DPR-style TSV) with query_format {self.query_format.value!r}",
                                      self.corpus, "fix: set corpus"))
        return self

    def encoder(self, model_name_or_path: str) -> dict[str, Any]:
        """Keyword arguments of :class:`xqg_lab.encode.model.Encoder` for one retriever."""
        return {
            "model_name_or_path": model_name_or_path,
            "preset": self.preset,
            "batch_size": self.batch_size,
            "device": self.device,
            "fp16": self.fp16,
        }


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")


def _check_path(key: str, value: Any) -> str:
    """``value`` if it is a string other than the config files' ``FILL_IN`` placeholder."""
    if not isinstance(value, str):
        raise ValueError(expected(f"{key} as a string", value, "fix: write a path or model name"))
    if value.startswith(_PLACEHOLDER):
        raise ValueError(expected(f"{key} pointing at a real file or model", value, "fix: replace the placeholder"))
    return value


# -- published numbers ------------------------------------------------------------------------


def published_table() -> pd.DataFrame:
    """The published XOR-Retrieve dev numbers (percent), tidy.

    Returns
    -------
    DataFrame ``source`` (a key of :data:`PUBLISHED_SOURCES`, which cites it), ``retriever``,
    ``condition`` (``"baseline"`` / ``"xQG"``), ``metric`` (``"R@2kt"`` / ``"R@5kt"``),
    ``lang`` (ISO 639-1 or ``"avg"``), ``value``. Only numbers found in a stored source are
    listed: the paper's R@2kt averages and the reference repository's per-language mBERT rows.
    """
    import pandas as pd

    rows = [
        (PAPER, retriever, condition, "R@2kt", "avg", value)
        for retriever, values in _PAPER_AVG_R2KT.items()
        for condition, value in zip(CONDITIONS, values)
    ]
    rows += [
        (REPO, "mBERT", condition, metric, lang, value)
        for (metric, condition), values in _REPO_MBERT.items()
        for lang, value in zip(_REPO_LANGS, values)
    ]
    return pd.DataFrame(rows, columns=["source", "retriever", "condition", "metric", "lang", "value"])


def compare_with_published(ours: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our numbers beside the published ones, with the xQG − baseline deltas.

    Parameters
    ----------
    ours : the frame of :func:`run_paper_table` (``retriever, condition, metric, lang, value``).
    published : :func:`published_table` (default) or a frame with the same columns.

    Returns
    -------
    DataFrame indexed by ``retriever, metric, lang`` (our rows, in their order), columns
    ``ours baseline``, ``ours xQG``, ``ours Δ`` and, per published source ``s``,
    ``s baseline``, ``s xQG``, ``s Δ`` (NaN where the source has no number), all in percent.
    """
    published = published_table() if published is None else published
    key = ["retriever", "metric", "lang"]
    table = _wide(ours, key, "ours")
    for source, group in published.groupby("source", sort=False):
        table = table.join(_wide(group, key, str(source)), how="left")
    return table


def _wide(frame: pd.DataFrame, key: list[str], label: str) -> pd.DataFrame:
    wide = frame.pivot_table(index=key, columns="condition", values="value", sort=False)
    wide = wide.reindex(columns=list(CONDITIONS))
    wide["delta"] = wide["xQG"] - wide["baseline"]
    wide.columns = [f"{label} {c}" if c != "delta" else f"{label} Δ" for c in wide.columns]
    return wide


# -- released generated queries ----------------------------------------------------------------


def released_files(source: str | os.PathLike) -> list[Path]:
    """The JSONL files of the released queries: ``source`` itself, or the ``*.jsonl`` /
    ``*.jsonl.gz`` files of a folder in numeric order (``shard_0``, ``shard_1``, ...,
    ``shard_18``)."""
    path = Path(source)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(
            f"no such file or folder: {path}; expected the released xQG queries "
            "(ielab/xor-tydi-xqg-augmented, its data/shard_*.jsonl files)"
        )
    files = [p for p in path.iterdir() if p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz"))]
    if not files:
        raise FileNotFoundError(f"{path}: no .jsonl files; expected the released data/shard_*.jsonl files")
    return sorted(files, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])


def _released_lines(files: Sequence[Path]) -> Iterator[tuple[Path, int, str]]:
    from xqg_lab.data.common import iter_lines

    for path in files:
        for line, text in iter_lines(path):
            if text.strip():
                yield path, line, text


def _parse_released(path: Path, line: int, text: str, langs: Sequence[str], n_per_lang: int):
    """``(doc_id, title, text, [(lang, sample, query), ...])`` of one released record."""
    from xqg_lab.data.common import require, require_id, require_text

    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, line, f"malformed JSON at column {exc.colno}: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise DataFormatError(path, line, f"expected a JSON object per line, found {type(obj).__name__}")
    doc_id = require_id(obj, "docid", path=path, line=line)
    title = require(obj, "title", str, path=path, line=line) if "title" in obj else ""
    body = require_text(obj, "text", path=path, line=line)
    generated = require(obj, "generated_queries", dict, path=path, line=line)
    queries = []
    for lang in langs:
        samples = generated.get(lang)
        if not isinstance(samples, list) or len(samples) != n_per_lang or not all(
            isinstance(q, str) for q in samples
        ):
            raise DataFormatError(
                path, line,
                f"passage {doc_id!r}: field 'generated_queries.{lang}': expected a list of {n_per_lang} strings, "
                f"found {samples!r:.160}; set n_per_lang to the queries generated per language",
            )
        queries.extend((lang, sample, query) for sample, query in enumerate(samples))
    return doc_id, title, body, queries


def convert_released_queries(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    shard_size: int,
    langs: Sequence[str] = XOR_LANGS,
    n_per_lang: int = 5,
) -> Path:
    """Convert the released xQG queries into a shard store; returns its ``corpus.tsv``.

    ``source`` is one file or the folder of ``ielab/xor-tydi-xqg-augmented``'s
    ``data/shard_*.jsonl`` (records ``{"docid", "title", "text", "generated_queries": {lang:
    [queries]}}``; ``title`` may be absent). Writes ``out_dir/corpus.tsv`` (DPR-style ``id, text, title``, in record
    order; written once, atomically) and, per shard of ``shard_size`` passages, the queries of
    ``langs`` as ``shard-<i>.queries.parquet`` (``doc_id, lang, sample, text``) with a
    completion marker, so :class:`xqg_lab.scale.shards.StoreQueries` reads them for a store of the
    same corpus and shard size. A re-run skips the finished parts.

    Raises :class:`DataFormatError` (file and line) for a malformed record, e.g. a passage
    without exactly ``n_per_lang`` queries in one of ``langs``.
    """
    import pyarrow as pa

    from xqg_lab.scale.shards import ShardStore

    files = released_files(source)
    store = ShardStore(out_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    corpus = store.root / "corpus.tsv"
    stamp = [{"file": str(p.resolve()), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in files]
    marker = store.root / "corpus.json"
    if not corpus.is_file() or not marker.is_file() or json.loads(marker.read_text())["source"] != stamp:
        _write_corpus(files, corpus, langs=langs, n_per_lang=n_per_lang)
        write_atomic(marker, json.dumps({"source": stamp}, indent=1).encode("utf-8"))
    store.check_settings(
        "queries",
        {"source": "released-jsonl", "shard_size": shard_size, "langs": list(langs), "n_per_lang": n_per_lang},
    )
    index = store.load_or_index(corpus, shard_size=shard_size)
    pending = {
        s.index for s in index.shards
        if not (
            (store.marker("queries", s.index) or {}).get("content_sha256") == s.content_sha256
            and store.is_done("queries", s.index, verify=False)
        )
    }
    schema = pa.schema([("doc_id", pa.string()), ("lang", pa.string()), ("sample", pa.int64()), ("text", pa.string())])
    columns: dict[str, list] = {name: [] for name in schema.names}
    for position, (path, line, text) in enumerate(_released_lines(files)):
        shard = position // shard_size
        if shard in pending:
            doc_id, _, _, queries = _parse_released(path, line, text, langs, n_per_lang)
            for lang, sample, query in queries:
                for name, value in zip(schema.names, (doc_id, lang, sample, query)):
                    columns[name].append(value)
        if shard in pending and ((position + 1) % shard_size == 0 or position + 1 == index.n_passages):
            store.write_outputs(
                "queries", shard, {"queries.parquet": pa.table(columns, schema=schema)},
                {"n": index.shards[shard].n, "n_queries": len(columns["text"]), "langs": list(langs),
                 "n_per_lang": n_per_lang, "content_sha256": index.shards[shard].content_sha256},
            )
            columns = {name: [] for name in schema.names}
    return corpus


def _write_corpus(files: Sequence[Path], corpus: Path, *, langs: Sequence[str], n_per_lang: int) -> None:
    import csv

    from xqg_lab.core.atomic import open_atomic

    with open_atomic(corpus, newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "text", "title"])
        for path, line, text in _released_lines(files):
            doc_id, title, body, _ = _parse_released(path, line, text, langs, n_per_lang)
            writer.writerow([doc_id, body, title])


# -- the run ------------------------------------------------------------------------------------


def run_paper_table(config: PaperTableConfig, *, progress: bool = True) -> pd.DataFrame:
    """Every retriever of ``config`` with plain (α = 0) and augmented (α = ``config.alpha``)
    passages, scored on XOR-Retrieve dev; resumes from what ``config.work_dir`` holds.

    Per retriever, ``work_dir/<name>/`` holds its shard store and the official-format
    predictions ``predictions-baseline.json`` / ``predictions-xQG.json``
    (``[{"id", "lang", "ctxs": [passage text, ...]}]``, what ``xqg-lab score-xor`` reads).

    Returns
    -------
    DataFrame ``retriever, condition ("baseline" / "xQG"), alpha, metric ("R@2kt" / "R@5kt"),
    lang`` (each language, then ``"avg"``: unweighted mean over languages) ``, value``
    (percent) ``, n_scored``, in run order.
    """
    import pandas as pd

    from xqg_lab.data.xor_tydi import load_xor_questions
    from xqg_lab.encode.model import Encoder
    from xqg_lab.metrics import xor_recall, xor_recall_per_query_grid
    from xqg_lab.scale.search import search_alpha_grid_sharded
    from xqg_lab.scale.shards import ParquetQueries, ShardStore, StoreQueries, encode_passage_shards, encode_query_sum_shards

    work = Path(config.work_dir)
    _claim_work_dir(work, config)
    if config.query_format is QueryFormat.RELEASED_JSONL:
        released = work / "released"
        corpus = convert_released_queries(
            config.queries, released, shard_size=config.shard_size, langs=config.langs, n_per_lang=config.n_per_lang
        )
        queries = StoreQueries(str(released))
    elif config.query_format is QueryFormat.STORE:
        corpus = Path(config.corpus)
        recorded = ShardStore(config.queries).settings().get("queries", {}).get("shard_size")
        if recorded != config.shard_size:
            raise ValueError(
                f"{config.queries}: expected a shard store with generated queries cut into shards of "
                f"{config.shard_size} passages (shard_size); found {recorded!r} in its store.json"
            )
        queries = StoreQueries(config.queries)
    else:
        corpus = Path(config.corpus)
        queries = ParquetQueries(config.queries)

    questions = load_xor_questions(config.dev)
    alphas = {"baseline": 0.0, "xQG": config.alpha}
    frames = []
    for name, model in config.retrievers.items():
        folder = work / _slug(name)
        spec = config.encoder(model)
        scale = {"backend": config.scale.backend, "ray_options": config.scale.ray}
        encode_passage_shards(corpus, folder, encoder=spec, shard_size=config.shard_size, dtype=config.dtype,
                              progress=progress, **scale)
        encode_query_sum_shards(folder, queries, encoder=spec, langs=config.langs, progress=progress,
                                **scale)
        store = ShardStore(folder)
        _check_counts(store, config, queries=config.queries)
        q = Encoder(**spec, progress=progress).encode_queries(questions["text"].tolist())
        results = search_alpha_grid_sharded(
            q, store.iter_passage_embeddings(), store.iter_fusion_targets(), list(alphas.values()), k=config.k
        )
        texts = _passage_texts(store, corpus, np.concatenate([results[a][1] for a in alphas.values()]))
        read = np.array(sorted(texts), dtype=np.int64)  # global rows of the passages read, as table rows
        grid = {c: np.where(results[a][1] >= 0, np.searchsorted(read, results[a][1]), -1) for c, a in alphas.items()}
        per_query = xor_recall_per_query_grid(grid, questions["query_id"], [texts[r] for r in read.tolist()], questions,
                                              ks=(2, 5), progress=progress)  # fmt: skip
        for condition, alpha in alphas.items():
            predictions = pd.DataFrame({
                "query_id": questions["query_id"],
                "lang": questions["lang"],
                "ctxs": [[texts[int(r)] for r in row if r >= 0] for row in results[alpha][1]],
            })
            _write_predictions(predictions, folder / f"predictions-{condition}.json")
            table = xor_recall(per_query[condition])
            for metric in METRICS:
                frames.append(pd.DataFrame({
                    "retriever": name, "condition": condition, "alpha": alpha, "metric": metric,
                    "lang": table.index, "value": table[metric].to_numpy(), "n_scored": table["n_scored"].to_numpy(),
                }))
    return pd.concat(frames, ignore_index=True)


def _claim_work_dir(work: Path, config: PaperTableConfig) -> None:
    """Record the queries and corpus a work folder is for; refuse others (its query sums
    would otherwise be reused for different queries)."""
    inputs = {
        "queries": str(Path(config.queries).resolve()),
        "query_format": config.query_format.value,
        "corpus": str(Path(config.corpus).resolve()) if config.corpus else "",
        "langs": list(config.langs),
        "n_per_lang": config.n_per_lang,
    }
    path = work / "inputs.json"
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(key for key in inputs if recorded.get(key) != inputs[key])
        if changed:
            raise ValueError(
                f"{work}: this work_dir holds results for other inputs (differing: {', '.join(changed)}; see "
                f"{path}); use another work_dir, or delete this one to start over"
            )
        return
    work.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(inputs, indent=1).encode("utf-8"))


def _check_counts(store, config: PaperTableConfig, *, queries: str) -> None:
    """Every passage must have ``n_per_lang`` queries in each language: ``S`` is a sum."""
    for i in range(store.n_shards()):
        counts = np.asarray(store.query_counts(i))
        bad = np.flatnonzero((counts != config.n_per_lang).any(axis=0))
        if len(bad):
            doc_id = store.doc_ids(i)[bad[0]]
            found = dict(zip(config.langs, counts[:, bad[0]].tolist()))
            raise ValueError(
                f"{queries}: {len(bad)} passages of shard {i} lack the expected generated queries, e.g. passage "
                f"{doc_id!r} has {found}; expected {config.n_per_lang} per language in {list(config.langs)} (the "
                "sum rule needs equal counts; are the corpus and the queries from the same release?)"
            )


def _passage_texts(store, corpus: Path, rows: np.ndarray) -> dict[int, str]:
    """Global row → passage text (no title, as the official scorer reads) for ``rows``."""
    from xqg_lab.scale.shards import read_corpus_shard

    shards = store.corpus_index().shards
    starts = np.cumsum([0] + [s.n for s in shards])
    needed = np.unique(rows[rows >= 0])
    shard_of = np.searchsorted(starts, needed, side="right") - 1
    texts: dict[int, str] = {}
    for i in np.unique(shard_of):
        frame = read_corpus_shard(corpus, shards[i])
        for row in needed[shard_of == i]:
            texts[int(row)] = frame["text"].iat[int(row - starts[i])]
    return texts


def _write_predictions(predictions: pd.DataFrame, path: Path) -> None:
    items = [{"id": q, "lang": lang, "ctxs": ctxs} for q, lang, ctxs in predictions.itertuples(index=False)]
    write_atomic(path, json.dumps(items, ensure_ascii=False).encode("utf-8"))
