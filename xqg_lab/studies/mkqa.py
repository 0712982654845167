"""The study's question on MKQA: does xQG align English and target-language representations
more than fine-tuning the multilingual encoder does?

The pieces, in the order the notebooks (``mkqa_retrieval``, ``mkqa_study``) call them:

1. **Retrieval as the field evaluates it** (mContriever; BGE-M3 / FlagEmbedding's MKQA
   evaluation): each language's MKQA query searches the English DPR passages
   (``psgs_w100.tsv``), a question is answered at ``k`` when one of the top ``k`` passages
   contains an English answer or alias under DPR's ``has_answer``
   (:mod:`xqg_lab.metrics.has_answer`); questions whose answers are unanswerable, long or
   yes/no are not scored (:data:`xqg_lab.data.mkqa.UNSCORED_ANSWER_TYPES`). Recall@20/100 per
   language. Unlike FlagEmbedding (which searches BEIR's NQ corpus and matches on the
   lower-cased ``title + text``), this follows DPR: psgs_w100, passage text without title.
   The corpus is encoded into resumable shard stores (:mod:`xqg_lab.scale.shards`, local or Ray).
2. **Gold passages** (:func:`gold_passages`): per question, the best-ranked passage of the
   English query (zero-shot encoder) that contains an answer, with its rank, score and how it
   was chosen; questions without one in the top ``depth`` have no gold passage.
3. **xQG** (:func:`generate_equal`): ``n_per_lang`` generated queries per language for every
   gold passage (for the alignment) and every passage of the retrieval pool -- the union of the
   plain top ``pool_k`` of every query (all languages, both encoders); equal counts are enforced
   (the paper's sum assumes them).
4. **Four conditions** (zero-shot / fine-tuned encoder x without / with xQG): retrieval per
   language (:func:`augmented_search`: exact; the pool passages are augmented, every other
   passage keeps ``p' = p``; gold passages are *not* augmented for retrieval unless they are in
   the pool, since choosing them used the answers -- augmenting them would leak the labels) and
   alignment on two pair kinds (:func:`pair_views`): English query <-> target query (what
   fine-tuning can change; xQG leaves every query vector as it is, so its gain there is 0 by
   construction) and English gold passage ``p`` or ``p'`` <-> target query (what xQG changes).
5. **The headline** (:func:`headline_table`): per language, the alignment gain (InfoNCE bound,
   nats) of xQG and of fine-tuning on the same pairs, each with a paired bootstrap interval.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xqg_lab.scale import ScaleConfig

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONDITIONS",
    "PAIR_KINDS",
    "MKQAStudyConfig",
    "prepare_corpus",
    "encode_corpus",
    "search_store",
    "passage_rows",
    "qa_retrieval",
    "recall_table",
    "gold_passages",
    "candidate_pool",
    "generate_equal",
    "generate_pool_shards",
    "pool_query_sums",
    "augmented_search",
    "pair_views",
    "infonce_terms",
    "alignment_table",
    "alpha_curve",
    "headline_table",
    "data_statement",
]

CONDITIONS = ("zero-shot", "zero-shot + xQG", "fine-tuned", "fine-tuned + xQG")
PAIR_KINDS = ("query", "passage")
"""``query``: English query <-> target-language query; ``passage``: English gold passage
(``p``, or ``p'`` under xQG) <-> target-language query about it."""
GOLD_METHOD = (
    "best-ranked passage of the English query's top-{depth} ({encoder}, exact inner-product search over "
    "{corpus}) that contains an English answer or alias under DPR has_answer (passage text, no title)"
)


@dataclasses.dataclass(frozen=True)
class MKQAStudyConfig:
    """The study's settings, validated once (notebook parameters map onto the fields).

    Attributes
    ----------
    mkqa : ``"full"`` (10k questions, fetched and checked), ``"sample"`` or a path.
    corpus : ``"psgs_w100"`` (DPR's 21M passages, fetched and checked, decompressed once into
        ``work_dir``) or the path of a DPR-style TSV (``id, text, title``).
    langs : MKQA query languages (the 26 by default); ``"en"`` is always added (gold passages).
    encoder, fine_tuned : model names or folders of the zero-shot and fine-tuned encoders
        (``fine_tuned`` may be empty when ``training`` is given: the toolkit trains it).
    preset, batch_size, device, fp16 : encoder settings shared by both.
    generator, generator_settings : the xQG generator (registry name of
        :data:`xqg_lab.generate.GENERATORS` and its constructor settings).
    xqg_langs, n_per_lang : languages and queries per language generated for each pool passage.
    alpha, alphas, rule : fusion weight of the "+ xQG" conditions, the α curve, ``"sum"``/``"mean"``.
    ks, depth : recall cut-offs and retrieval depth.
    pool_k : plain top-``pool_k`` of every query and encoder augmented for the '+ xQG' retrieval
        (:func:`run_study` needs at least 1; 0 suits a retrieval-only run).
    shard_size, dtype, scale : corpus shard stores (:mod:`xqg_lab.scale.shards`, local or Ray).
    generation_shard_size : pool passages per generation shard (the unit of resumption).
    work_dir : stores, generated queries and decompressed corpus (reused by re-runs); empty:
        ``<cache>/mkqa-study`` (:func:`xqg_lab.core.paths.cache_dir`), outside the report folder.
    max_questions : keep the first N answerable questions (0: all).
    """

    mkqa: str = "full"
    corpus: str = "psgs_w100"
    langs: tuple[str, ...] = ()
    encoder: str = "intfloat/multilingual-e5-base"
    fine_tuned: str = ""
    preset: str = "e5"
    batch_size: int = 256
    device: str = ""
    fp16: bool = False
    generator: str = "seq2seq"
    generator_settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    xqg_langs: tuple[str, ...] = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
    n_per_lang: int = 5
    alpha: float = 0.01
    alphas: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.3)
    rule: str = "sum"
    ks: tuple[int, ...] = (20, 100)
    depth: int = 100
    pool_k: int = 10
    shard_size: int = 1_000_000
    generation_shard_size: int = 10_000
    dtype: str = "float16"
    scale: ScaleConfig = ScaleConfig()
    work_dir: str = ""
    max_questions: int = 0
    n_bootstrap: int = 1000
    test: str = "t"
    seed: int = 0

    def __post_init__(self):
        from xqg_lab.augment import FusionRule, check_alpha
        from xqg_lab.data.common import check_langs
        from xqg_lab.data.mkqa import MKQA_LANGS

        langs = check_langs(list(self.langs) or None, MKQA_LANGS, what="MKQA language")
        object.__setattr__(self, "langs", tuple(["en"] + [x for x in langs if x != "en"]))
        object.__setattr__(self, "xqg_langs", tuple(self.xqg_langs))
        object.__setattr__(self, "ks", tuple(int(k) for k in self.ks))
        object.__setattr__(self, "alphas", tuple(check_alpha(a) for a in self.alphas))
        check_alpha(self.alpha)
        FusionRule.parse(self.rule)
        if not self.xqg_langs:
            raise ValueError("expected at least one language in xqg_langs, found none")
        for name in ("n_per_lang", "depth", "shard_size", "generation_shard_size", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive integer, found {value!r}")
        if not self.ks or max(self.ks) > self.depth or min(self.ks) < 1:
            raise ValueError(f"expected ks in 1..depth={self.depth}, found {list(self.ks)}")
        if not 0 <= self.pool_k <= self.depth:
            raise ValueError(f"expected pool_k in 0..depth={self.depth}, found {self.pool_k!r}")
        if self.alpha <= 0:
            raise ValueError(f"expected alpha > 0 for the '+ xQG' conditions, found {self.alpha!r}")
        if not self.work_dir:
            from xqg_lab.core.paths import cache_dir

            object.__setattr__(self, "work_dir", str(cache_dir() / "mkqa-study"))
        if not isinstance(self.scale, ScaleConfig):
            object.__setattr__(self, "scale", ScaleConfig.from_dict(self.scale))

    @classmethod
    def from_parameters(cls, **parameters: Any) -> MKQAStudyConfig:
        """Build from notebook parameters; unknown names are refused with the closest valid one."""
        from xqg_lab.core.config import check_keys

        names = [f.name for f in dataclasses.fields(cls)]
        check_keys(parameters, names, where="mkqa_study parameters")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in parameters.items()}
        return cls(**values)

    def encoder_spec(self, model_name_or_path: str) -> dict[str, Any]:
        """:class:`~xqg_lab.encode.model.Encoder` keyword arguments for one of the two encoders."""
        return {"model_name_or_path": model_name_or_path, "preset": self.preset, "batch_size": self.batch_size,
                "device": self.device or None, "fp16": self.fp16}  # fmt: skip


# ----------------------------------------------------------------------------- corpus


def prepare_corpus(corpus: str, work_dir: str | os.PathLike) -> Path:
    """A plain (uncompressed) DPR TSV for ``corpus``: ``"psgs_w100"`` is fetched (pinned URL and
    sha256, or the mirror) and decompressed once into ``work_dir`` (shard reads seek by byte
    offset, which a gzip stream cannot); a path is used as it is when not gzipped."""
    from xqg_lab.data.common import open_binary

    if corpus == "psgs_w100":
        from xqg_lab.data.fetch import fetch

        source = fetch("dpr.psgs_w100")
    else:
        source = Path(corpus)
        if not source.is_file():
            raise FileNotFoundError(f"no such corpus file: {source}; expected 'psgs_w100' or a DPR-style TSV path")
    with open(source, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    if not gzipped:
        return source
    target = Path(work_dir) / (source.name[: -len(".gz")] if source.name.endswith(".gz") else source.name + ".tsv")
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        from xqg_lab.core.atomic import open_atomic

        with open_binary(source) as src, open_atomic(target, binary=True) as dst:
            shutil.copyfileobj(src, dst, length=1 << 24)
    return target


def encode_corpus(config: MKQAStudyConfig, corpus: Path, model_name_or_path: str, name: str, *,
                  show_progress: bool = True):
    """The shard store ``work_dir/<name>`` of ``corpus`` under one encoder (finished shards are
    skipped, so a re-run or the second notebook reuses it)."""
    from xqg_lab.scale.shards import ShardStore, encode_passage_shards

    folder = Path(config.work_dir) / name
    encode_passage_shards(corpus, folder, encoder=config.encoder_spec(model_name_or_path), shard_size=config.shard_size,
                          dtype=config.dtype, backend=config.scale.backend, ray_options=config.scale.ray,
                          show_progress=show_progress)  # fmt: skip
    return ShardStore(folder)


def search_store(store, query_vectors: np.ndarray, *, k: int, device: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` over a shard store: ``(scores, rows)``, each ``(n_queries, k)``; rows global.

    ``device``: ``""`` uses CUDA when torch sees it, else FAISS on the CPU; ``"cpu"`` forces FAISS.
    On CUDA each shard is multiplied in float32 (TF32 off) and merged with the same running
    top-``k`` (:class:`xqg_lab.scale.search.TopK`), so both paths return the same ranking up to
    float32 rounding; at MKQA scale (260k queries x 21M passages) this is minutes on one GPU
    instead of CPU-days.
    """
    from xqg_lab.scale.search import TopK, search_sharded

    device = device or ("cuda" if _cuda_available() else "cpu")
    if device == "cpu":
        return search_sharded(query_vectors, store.iter_passage_embeddings(), k=k)
    import torch

    q = torch.as_tensor(np.asarray(query_vectors, dtype=np.float32), device=device)
    top = TopK(len(q), k=k)
    offset = 0
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for shard in store.iter_passage_embeddings():
            p = torch.as_tensor(np.asarray(shard, dtype=np.float32), device=device)
            if len(p):
                width = min(k, len(p))
                scores = np.empty((len(q), width), dtype=np.float32)
                rows = np.empty((len(q), width), dtype=np.int64)
                for start in range(0, len(q), 4096):
                    s, i = torch.topk(q[start : start + 4096] @ p.T, width, dim=1)
                    scores[start : start + len(s)], rows[start : start + len(s)] = s.cpu().numpy(), i.cpu().numpy()
                top.push(scores, rows + offset)
            offset += len(p)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return top.scores_, top.indices_


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def passage_rows(store, corpus: Path, rows: np.ndarray) -> pd.DataFrame:
    """``row, doc_id, title, text`` of the global ``rows`` of a store (each read once)."""
    import pandas as pd

    from xqg_lab.scale.shards import read_corpus_shard

    shards = store.corpus_index().shards
    starts = np.cumsum([0] + [s.n for s in shards])
    needed = np.unique(np.asarray(rows)[np.asarray(rows) >= 0])
    shard_of = np.searchsorted(starts, needed, side="right") - 1
    frames = []
    for i in np.unique(shard_of):
        frame = read_corpus_shard(corpus, shards[i])
        local = needed[shard_of == i] - starts[i]
        part = frame.iloc[local].reset_index(drop=True)
        frames.append(part.assign(row=needed[shard_of == i]))
    if not frames:
        return pd.DataFrame(columns=["row", "doc_id", "title", "text"])
    return pd.concat(frames, ignore_index=True)[["row", "doc_id", "title", "text"]]


def passage_vectors(store, rows: np.ndarray) -> np.ndarray:
    """float32 ``(len(rows), dim)``: the stored passage vectors of global ``rows``."""
    sizes = store.shard_sizes()
    starts = np.cumsum([0] + list(sizes))
    rows = np.asarray(rows, dtype=np.int64)
    shard_of = np.searchsorted(starts, rows, side="right") - 1
    out = None
    for i in np.unique(shard_of):
        shard = store.passage_embeddings(int(i))
        chosen = np.flatnonzero(shard_of == i)
        block = np.asarray(shard[rows[chosen] - starts[i]], dtype=np.float32)
        if out is None:
            out = np.zeros((len(rows), block.shape[1]), dtype=np.float32)
        out[chosen] = block
    if out is None:
        raise ValueError("expected at least one passage row, found none")
    return out


# ----------------------------------------------------------------------------- retrieval


def hits_matrix(questions: pd.DataFrame, rows: np.ndarray, texts: Mapping[int, str]) -> np.ndarray:
    """bool ``(n_questions, depth)``: DPR ``has_answer`` of each retrieved passage (text only).

    The languages of one MKQA question share its (English) answers, so each distinct passage
    retrieved for a question is matched once, whichever languages retrieved it.
    """
    from xqg_lab.metrics.has_answer import answer_hits

    out = np.zeros(rows.shape, dtype=bool)
    for _, positions in questions.groupby("question_id", sort=False).indices.items():
        answers = questions["answers"].iat[positions[0]]
        if not len(answers):
            continue
        block = rows[positions]
        unique = np.unique(block[block >= 0])
        found = dict(zip(unique.tolist(), answer_hits(answers, [texts[int(r)] for r in unique])))
        out[positions] = np.vectorize(lambda r: found.get(int(r), False), otypes=[bool])(block)
    return out


def qa_retrieval(questions: pd.DataFrame, rows: np.ndarray, texts: Mapping[int, str], *, ks: Sequence[int]):
    """Per-query QA Recall@k of the scored questions: ``(per_query, hits)``.

    ``per_query``: ``query_id, lang`` and ``R@k`` columns (0/1), one row per scored question
    (``questions["scored"]``); ``hits``: the bool matrix of :func:`hits_matrix` for all rows.
    """
    from xqg_lab.metrics.has_answer import qa_recall_per_query

    hits = hits_matrix(questions, rows, texts)
    scored = questions["scored"].to_numpy(dtype=bool)
    recall = qa_recall_per_query(hits[scored], ks=ks)
    frame = questions.loc[scored, ["query_id", "lang"]].reset_index(drop=True)
    for j, k in enumerate(ks):
        frame[f"R@{k}"] = recall[:, j]
    return frame, hits


def recall_table(per_query: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Percent Recall@k per condition and language, plus ``"avg"`` (unweighted mean over languages)
    and ``n_scored``: columns ``condition, lang, n_scored, R@k...``."""
    import pandas as pd

    frames = []
    for condition, frame in per_query.items():
        measures = [c for c in frame.columns if c.startswith("R@")]
        by_lang = frame.groupby("lang", sort=True)[measures].mean() * 100
        by_lang.insert(0, "n_scored", frame.groupby("lang", sort=True).size())
        avg = by_lang[measures].mean().to_frame("avg").T
        avg.insert(0, "n_scored", int(by_lang["n_scored"].sum()))
        table = pd.concat([by_lang, avg]).rename_axis("lang").reset_index()
        frames.append(table.assign(condition=condition))
    out = pd.concat(frames, ignore_index=True)
    return out[["condition", "lang", *[c for c in out.columns if c not in ("condition", "lang")]]]


def gold_passages(questions_en: pd.DataFrame, rows: np.ndarray, scores: np.ndarray, hits: np.ndarray,
                  passages: pd.DataFrame, *, method: str) -> pd.DataFrame:
    """One English gold passage per answerable question: the best-ranked retrieved passage
    that contains an answer.

    Parameters
    ----------
    questions_en : the English rows of :func:`xqg_lab.data.mkqa.load_mkqa_qa` (``question_id``,
        ``scored``), aligned with ``rows``/``scores``/``hits`` (``(n, depth)``).
    passages : ``row, doc_id`` of the retrieved rows (:func:`passage_rows`).
    method : how the ranking was made (stored in the ``method`` column).

    Returns
    -------
    DataFrame ``question_id, row, doc_id, rank (1-based), score, method``; questions with no
    answer-bearing passage in the top ``depth`` are absent.
    """
    import pandas as pd

    doc_of = dict(zip(passages["row"].astype(int), passages["doc_id"]))
    out = []
    for i, (qid, scored) in enumerate(zip(questions_en["question_id"], questions_en["scored"])):
        found = np.flatnonzero(hits[i]) if scored else []
        if len(found):
            r = int(found[0])
            row = int(rows[i, r])
            out.append((qid, row, doc_of[row], r + 1, float(scores[i, r]), method))
    return pd.DataFrame(out, columns=["question_id", "row", "doc_id", "rank", "score", "method"])


def candidate_pool(rows_by_encoder: Mapping[str, np.ndarray], *, pool_k: int) -> np.ndarray:
    """Sorted unique global rows of the retrieval pool: the plain top ``pool_k`` of every query
    under every encoder (``rows_by_encoder``: ``(n_queries, depth)`` arrays; -1 slots dropped).
    Chosen without looking at answers, so augmenting them cannot leak relevance labels."""
    if not rows_by_encoder or not pool_k:
        return np.empty(0, dtype=np.int64)
    pool = np.unique(np.concatenate([np.asarray(r)[:, :pool_k].ravel() for r in rows_by_encoder.values()]))
    return pool[pool >= 0].astype(np.int64)


def generate_equal(generator, passages: pd.DataFrame, *, langs: Sequence[str], n_per_lang: int, seed: int,
                   max_attempts: int = 3, initial: pd.DataFrame | None = None, progress: bool = False) -> pd.DataFrame:
    """``doc_id, lang, sample, text``: exactly ``n_per_lang`` non-empty queries per passage and
    language (the sum rule of the paper assumes equal counts).

    Empty outputs (a sampled generation can be empty) are dropped and the passages and languages
    left short are generated again with seeds ``seed + 1, seed + 2, ...`` (up to ``max_attempts``
    calls in all); the first ``n_per_lang`` non-empty queries are kept and numbered ``sample``
    0..n-1. ``initial``: queries already generated with ``seed`` (e.g. by
    :func:`generate_pool_shards`), standing in for the first call. ``ValueError`` names the pairs
    still short after that.
    """
    import pandas as pd

    frame = passages[["doc_id", "title", "text"]].reset_index(drop=True)
    kept = []
    todo = {lang: frame for lang in langs}
    for attempt in range(max_attempts):
        if attempt == 0 and initial is not None:
            todo = {}
            kept.append(initial[initial["text"].astype(str).str.strip() != ""][["doc_id", "lang", "text"]])
        for lang, subset in todo.items():
            if len(subset):
                out = generator.generate(subset, langs=[lang], n_per_lang=n_per_lang, seed=seed + attempt,
                                         progress=progress)  # fmt: skip
                kept.append(out[out["text"].astype(str).str.strip() != ""][["doc_id", "lang", "text"]])
        queries = pd.concat(kept, ignore_index=True)
        counts = queries.groupby(["doc_id", "lang"]).size()
        todo = {lang: frame[counts.reindex([(d, lang) for d in frame["doc_id"]], fill_value=0).to_numpy() < n_per_lang]
                for lang in langs}  # fmt: skip
        if not any(len(t) for t in todo.values()):
            break
    short = {lang: t["doc_id"].head(3).tolist() for lang, t in todo.items() if len(t)}
    if short:
        raise ValueError(
            f"expected {n_per_lang} non-empty queries per passage and language, found fewer after {max_attempts} "
            f"attempts for {sum(len(t) for t in todo.values())} pairs, e.g. {short}; fix the generator settings"
        )
    queries = queries.groupby(["doc_id", "lang"], sort=False).head(n_per_lang)
    queries = queries.assign(sample=queries.groupby(["doc_id", "lang"]).cumcount())
    return queries[["doc_id", "lang", "sample", "text"]].reset_index(drop=True)


def generate_pool_shards(config: MKQAStudyConfig, passages: pd.DataFrame, generator, *, key: str,
                         show_progress: bool = True) -> pd.DataFrame:
    """Generated queries (``doc_id, lang, sample, text``, ``n_per_lang`` per passage and language)
    for ``passages``, made shard by shard on the backend of ``config.scale`` (local or Ray) into
    ``work_dir/generated/<key>/`` (a re-run or a killed run resumes; finished shards are skipped).

    ``generator`` is a generator object or a zero-argument factory of one (the Ray backend needs
    a factory, e.g. ``functools.partial(generator_from_settings, name, ...)``). Empty outputs are
    topped up locally as in :func:`generate_equal`.
    """
    import pandas as pd

    from xqg_lab.core.atomic import write_atomic
    from xqg_lab.scale.shards import ShardStore, generate_query_shards

    folder = Path(config.work_dir) / "generated" / key
    corpus = folder / "passages.tsv"
    if not corpus.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        rows = ["id\ttext\ttitle"] + [
            "\t".join(_tsv_field(v) for v in (d, t, title))
            for d, t, title in zip(passages["doc_id"], passages["text"], passages["title"])
        ]
        write_atomic(corpus, ("\n".join(rows) + "\n").encode("utf-8"))
    generate_query_shards(corpus, folder / "store", generator=generator, langs=list(config.xqg_langs),
                          n_per_lang=config.n_per_lang, seed=config.seed, shard_size=config.generation_shard_size,
                          backend=config.scale.backend, ray_options=config.scale.ray,
                          show_progress=show_progress)  # fmt: skip
    store = ShardStore(folder / "store")
    initial = pd.concat([store.generated_queries(i) for i in store.require_complete("queries")], ignore_index=True)
    local = generator if hasattr(generator, "generate") else None
    return generate_equal(_Lazy(generator) if local is None else local, passages, langs=config.xqg_langs,
                          n_per_lang=config.n_per_lang, seed=config.seed, initial=initial)  # fmt: skip


def _tsv_field(value: str) -> str:
    """A DPR TSV field as ``csv`` writes it: quoted when it holds a tab, quote or newline."""
    value = str(value)
    if any(c in value for c in '\t"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


class _Lazy:
    """A generator built from its factory on first use (only when empty outputs need a top-up)."""

    def __init__(self, factory):
        self.factory, self.built = factory, None

    def generate(self, *args, **kwargs):
        if self.built is None:
            self.built = self.factory()
        return self.built.generate(*args, **kwargs)


def pool_query_sums(queries: pd.DataFrame, doc_ids: Sequence[str], encoder, *, langs: Sequence[str],
                    rule: str) -> np.ndarray:
    """float32 ``(len(doc_ids), dim)``: the fused query vector ``S`` of every pool passage
    (``rule="sum"``: the paper's sum over all languages and samples; ``"mean"``: their mean)."""
    from xqg_lab.augment import accumulate_query_sums

    sums = accumulate_query_sums(queries, doc_ids, encoder, langs=langs)
    total = sums.sums.sum(axis=0)
    if rule == "mean":
        total = total / np.maximum(sums.counts.sum(axis=0), 1)[:, None]
    return total.astype(np.float32)


def augmented_search(query_vectors: np.ndarray, plain: tuple[np.ndarray, np.ndarray], pool_rows: np.ndarray,
                     pool_p: np.ndarray, pool_s: np.ndarray, *, alpha: float, k: int, n_passages: int,
                     chunk_size: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` with the pool passages augmented, ``p' = (1-α)·p + α·S``, and every other
    passage kept as ``p' = p`` (it received no query).

    ``plain`` is the plain search ``(scores, rows)`` of the same queries, ``depth`` deep. A
    passage outside the pool scores as in ``plain``, so its top-``k`` is exact when ``plain`` holds
    at least ``k`` passages outside the pool; otherwise ``ValueError`` asks for a larger depth.
    Pool scores are computed ``chunk_size`` pool passages at a time and merged into a running
    top-``k`` (memory ``O(n_queries · (k + chunk_size))``). Returns ``(scores, rows)``, each
    ``(n_queries, k)``, rows global (``-1``: empty slot).
    """
    from xqg_lab.augment import check_alpha
    from xqg_lab.scale.search import TopK

    alpha = check_alpha(alpha)
    q = np.asarray(query_vectors, dtype=np.float32)
    pool_rows = np.asarray(pool_rows, dtype=np.int64)
    scores, rows = plain
    outside = ~np.isin(rows, pool_rows) & (rows >= 0)
    short = np.flatnonzero(outside.sum(axis=1) < min(k, n_passages - len(pool_rows)))
    if len(short) and rows.shape[1] < n_passages:
        raise ValueError(
            f"{len(short)} queries have fewer than k={k} passages outside the augmented pool in their plain "
            "top-depth list, so the augmented top-k cannot be proven exact; raise depth"
        )
    top = TopK(len(q), k=k).push(np.where(outside, scores, -np.inf), np.where(outside, rows, -1))
    for start in range(0, len(pool_rows), chunk_size):
        stop = start + chunk_size
        fused = ((1 - alpha) * pool_p[start:stop] + alpha * pool_s[start:stop]).astype(np.float32)
        block = q @ fused.T
        keep = min(k, block.shape[1])
        best = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
        top.push(np.take_along_axis(block, best, 1), pool_rows[start:stop][best])
    return top.scores_, top.indices_


# ----------------------------------------------------------------------------- alignment


def pair_views(questions: pd.DataFrame, gold: pd.DataFrame, *, langs: Sequence[str]) -> pd.DataFrame:
    """The questions the alignment is measured on: one per gold passage (the first question id
    of each, so no passage appears twice), with its English and target-language query.

    Returns ``lang, question_id, doc_id, row, en_text, text`` for every language of ``langs``
    other than English.
    """
    first = gold.sort_values("question_id").drop_duplicates("row")
    en = questions[questions["lang"] == "en"].set_index("question_id")["text"]
    frames = []
    for lang in langs:
        if lang == "en":
            continue
        target = questions[questions["lang"] == lang].set_index("question_id")["text"]
        part = first[first["question_id"].isin(target.index)][["question_id", "doc_id", "row"]].copy()
        part["en_text"] = en.reindex(part["question_id"]).to_numpy()
        part["text"] = target.reindex(part["question_id"]).to_numpy()
        frames.append(part.assign(lang=lang))
    import pandas as pd

    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out[["lang", "question_id", "doc_id", "row", "en_text", "text"]]


def _similarity(X: np.ndarray, Y: np.ndarray, *, similarity: str, temperature: float) -> np.ndarray:
    if similarity == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    return (X.astype(np.float64) @ Y.astype(np.float64).T) / temperature


def infonce_terms(X: np.ndarray, Y: np.ndarray, *, similarity: str = "cosine", temperature: float | None = None):
    """Per-pair InfoNCE terms, float ``(n,)``: ``log N + ½[(s_ii − lse_j s_ij) + (s_ii − lse_j s_ji)]``.

    Their mean is the headline of :func:`xqg_lab.alignment.contrastive.infonce_bound` (both
    directions, the full sample as negatives, ``T`` = 0.01 for cosine and 1 for dot by default);
    a paired difference of two conditions on the same pairs is a mean of per-pair differences.
    """
    from scipy.special import logsumexp

    temperature = temperature if temperature is not None else (0.01 if similarity == "cosine" else 1.0)
    s = _similarity(np.asarray(X), np.asarray(Y), similarity=similarity, temperature=temperature)
    diag = np.diag(s)
    n = len(s)
    return np.log(n) + 0.5 * ((diag - logsumexp(s, axis=1)) + (diag - logsumexp(s, axis=0)))


def alignment_table(embeddings: Mapping[tuple[str, str, float], tuple[np.ndarray, np.ndarray, np.ndarray]],
                    *, measures: Sequence[str], n_bootstrap: int, seed: int,
                    options: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The alignment measures (:func:`xqg_lab.alignment.alignment_report`) of every cell.

    ``embeddings[(pair_kind, condition, alpha)] = (langs, X, Y)``: row i of ``X`` (English side)
    pairs with row i of ``Y`` (target side); ``langs`` (n,) says which language each row is.
    Returns the report rows with ``pair_kind, condition, alpha, lang`` added (``n`` is N).
    """
    import pandas as pd

    from xqg_lab.alignment.registry import alignment_report

    frames = []
    for (kind, condition, alpha), (langs, X, Y) in embeddings.items():
        for lang in sorted(set(langs)):
            mask = np.asarray(langs) == lang
            if mask.sum() < 2:
                continue
            report = alignment_report(X[mask], Y[mask], measures=measures, n_bootstrap=n_bootstrap, seed=seed,
                                      options=options)  # fmt: skip
            frames.append(report.assign(pair_kind=kind, condition=condition, alpha=alpha, lang=lang))
    out = pd.concat(frames, ignore_index=True)
    front = ["pair_kind", "condition", "alpha", "lang"]
    return out[front + [c for c in out.columns if c not in front]]


def alpha_curve(alignment: pd.DataFrame, *, measure: str = "infonce_bound") -> pd.DataFrame:
    """``encoder, condition, alpha, lang, value, ci_low, ci_high, n`` of ``measure`` on passage pairs
    (α = 0 is the plain passage ``p`` of each encoder)."""
    head = alignment[(alignment["pair_kind"] == "passage") & (alignment["name"] == measure)]
    head = head.assign(encoder=head["condition"].str.replace(" + xQG", "", regex=False))
    return head[["encoder", "condition", "alpha", "lang", "value", "ci_low", "ci_high", "n"]].reset_index(drop=True)


def _paired_gain(a: np.ndarray, b: np.ndarray, *, n_bootstrap: int, seed: int, confidence: float = 0.95):
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    if n_bootstrap and len(d) > 1:
        means = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(n_bootstrap)])
        lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    else:
        lo = hi = np.nan
    return float(d.mean()), float(lo), float(hi)


def headline_table(terms: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]], *, n_bootstrap: int,
                   seed: int) -> pd.DataFrame:
    """Per language: the InfoNCE gain (nats) of xQG and of fine-tuning, with paired bootstrap
    intervals over the pairs (95%, percentile).

    ``terms[(pair_kind, condition)] = (langs, per-pair InfoNCE terms)`` from :func:`infonce_terms`,
    rows aligned across conditions. Columns: ``lang, n``, then for each comparison
    ``<name>`` (gain) and ``<name> CI``:

    - ``xQG (passage pairs)``: zero-shot + xQG vs zero-shot, English ``p'`` vs ``p`` <-> target query;
    - ``fine-tuning (passage pairs)``: fine-tuned vs zero-shot on the same pairs;
    - ``xQG on fine-tuned (passage pairs)``: fine-tuned + xQG vs fine-tuned;
    - ``fine-tuning (query pairs)``: English query <-> target query; xQG's gain there is 0 by
      construction (it changes passage vectors only).
    """
    import pandas as pd

    comparisons = {
        "xQG (passage pairs)": (("passage", "zero-shot"), ("passage", "zero-shot + xQG")),
        "fine-tuning (passage pairs)": (("passage", "zero-shot"), ("passage", "fine-tuned")),
        "xQG on fine-tuned (passage pairs)": (("passage", "fine-tuned"), ("passage", "fine-tuned + xQG")),
        "fine-tuning (query pairs)": (("query", "zero-shot"), ("query", "fine-tuned")),
    }
    langs_all = terms[("passage", "zero-shot")][0]
    rows = []
    for lang in sorted(set(langs_all)):
        row: dict[str, Any] = {"lang": lang}
        for name, (base, treat) in comparisons.items():
            if base not in terms or treat not in terms:
                continue
            lb, tb = terms[base]
            lt, tt = terms[treat]
            a, b = tb[np.asarray(lb) == lang], tt[np.asarray(lt) == lang]
            row["n"] = len(a)
            gain, lo, hi = _paired_gain(a, b, n_bootstrap=n_bootstrap, seed=seed)
            row[name] = gain
            row[f"{name} CI"] = f"[{lo:+.3f}, {hi:+.3f}]"
        rows.append(row)
    return pd.DataFrame(rows)


def data_statement(config: MKQAStudyConfig, *, n_questions: int, n_scored: int, n_gold: int, n_pool: int,
                   n_passages: int, generator_label: str, fine_tuned_label: str) -> str:
    """Markdown lines saying which part of the study ran on what data and models."""
    return "\n".join([
        f"- MKQA: `{config.mkqa}` ({n_questions} questions; {n_scored} scored: answer types other than "
        "unanswerable / long answer / yes-no), query languages " + ", ".join(config.langs) + ".",
        f"- Corpus: `{config.corpus}` ({n_passages:,} passages), exact inner-product search, depth {config.depth}.",
        f"- Encoders: zero-shot `{config.encoder}`; fine-tuned {fine_tuned_label} (preset {config.preset}).",
        f"- Gold passages: {n_gold} questions have one (best-ranked answer-bearing passage of the English query, "
        f"zero-shot encoder, top {config.depth}).",
        f"- xQG: {generator_label}, {config.n_per_lang} queries x {len(config.xqg_langs)} languages "
        f"({', '.join(config.xqg_langs)}) for each of {n_pool} passages (the gold passages and the union of the "
        f"plain top {config.pool_k} of every query and encoder); rule {config.rule}, alpha {config.alpha}. Retrieval "
        "'+ xQG' augments only that union (gold passages only when in it: no answer leakage); other passages keep "
        "p' = p.",
        "- Alignment: query pairs (English <-> target query) change only with fine-tuning -- xQG leaves query "
        "vectors alone; passage pairs (English gold passage p or p' <-> target query) change with both.",
    ])


# ----------------------------------------------------------------------------- the runs


@dataclasses.dataclass
class StudyResult:
    """What :func:`run_study` produced (frames are tidy; see each function for columns)."""

    recall: pd.DataFrame
    per_query: dict[str, pd.DataFrame]
    comparisons: dict[str, dict[str, pd.DataFrame]]
    gold: pd.DataFrame
    generated: pd.DataFrame
    alignment: pd.DataFrame
    headline: pd.DataFrame
    statement: str
    counts: dict[str, int]


def _encoder(config: MKQAStudyConfig, model: str, show_progress: bool):
    from xqg_lab.encode.model import Encoder

    return Encoder(**config.encoder_spec(model), show_progress=show_progress)


def _questions(config: MKQAStudyConfig) -> pd.DataFrame:
    from xqg_lab.data.mkqa import load_mkqa_qa

    questions = load_mkqa_qa(config.mkqa, langs=list(config.langs))
    if config.max_questions:
        keep = sorted(questions.loc[questions["scored"], "question_id"].unique())[: config.max_questions]
        questions = questions[questions["question_id"].isin(keep)].reset_index(drop=True)
    return questions


def _retrieve(config, store, corpus, encoder, questions):
    vectors = encoder.encode_queries(questions["text"].tolist())
    scores, rows = search_store(store, vectors, k=config.depth, device=config.device)
    texts = passage_rows(store, corpus, rows)
    per_query, hits = qa_retrieval(questions, rows, dict(zip(texts["row"].astype(int), texts["text"])), ks=config.ks)
    return vectors, (scores, rows), texts, per_query, hits


@dataclasses.dataclass
class RetrievalOutcome:
    """What :func:`run_retrieval` produced.

    Attributes
    ----------
    recall : :func:`recall_table` of the zero-shot encoder.
    per_query : per-query Recall@k (``query_id, lang, R@k...``) of the scored questions.
    pool_sizes : ``pool_k, n_passages, n_generated_queries``: how many distinct passages the plain
        top-``pool_k`` of all queries covers with this encoder (the study's pool is this plus the
        fine-tuned encoder's candidates and the gold passages), and the queries xQG would generate
        for them -- the real figure behind the sizing notebook's bounds.
    """

    recall: pd.DataFrame
    per_query: pd.DataFrame
    pool_sizes: pd.DataFrame


def run_retrieval(config: MKQAStudyConfig, *, show_progress: bool = True) -> RetrievalOutcome:
    """The field's MKQA protocol with the zero-shot encoder, and the candidate-pool sizes."""
    import pandas as pd

    corpus = prepare_corpus(config.corpus, config.work_dir)
    questions = _questions(config)
    store = encode_corpus(config, corpus, config.encoder, "zero-shot", show_progress=show_progress)
    encoder = _encoder(config, config.encoder, show_progress)
    _, (_, rows), _, per_query, _ = _retrieve(config, store, corpus, encoder, questions)
    per_passage = len(config.xqg_langs) * config.n_per_lang
    ks = sorted({k for k in (1, 5, 10, 20, 50, 100, config.pool_k) if 1 <= k <= config.depth})
    n_passages = [len(candidate_pool({"zero-shot": rows}, pool_k=k)) for k in ks]
    pool_sizes = pd.DataFrame({"pool_k": ks, "n_passages": n_passages,
                               "n_generated_queries": [n * per_passage for n in n_passages]})  # fmt: skip
    return RetrievalOutcome(recall=recall_table({"zero-shot": per_query}), per_query=per_query, pool_sizes=pool_sizes)


def run_study(config: MKQAStudyConfig, *, fine_tuned: str, fine_tuned_label: str, generator,
              generator_label: str, measures: Sequence[str], measure_options=None,
              show_progress: bool = True) -> StudyResult:
    """Gold passages, xQG for the pool, the four conditions' retrieval and alignment, the headline.

    ``fine_tuned``: model name or folder of the fine-tuned encoder; ``generator``: an object with
    ``generate(passages, *, langs, n_per_lang, seed)`` or a zero-argument factory of one (needed for
    the Ray backend); ``measures``: alignment measures
    (:class:`xqg_lab.alignment.registry.Measure` names) reported per cell with intervals.
    """
    from xqg_lab.studies.grid import compare_grid

    if config.pool_k < 1:
        raise ValueError("expected pool_k >= 1 for the study (the candidates augmented for '+ xQG' retrieval), found 0")
    corpus = prepare_corpus(config.corpus, config.work_dir)
    questions = _questions(config)
    models = {"zero-shot": config.encoder, "fine-tuned": fine_tuned}
    stores, encoders, plain, per_query, vectors = {}, {}, {}, {}, {}
    texts = []
    for name, model in models.items():
        stores[name] = encode_corpus(config, corpus, model, name, show_progress=show_progress)
        encoders[name] = _encoder(config, model, show_progress)
        vectors[name], plain[name], found, per_query[name], hits = _retrieve(
            config, stores[name], corpus, encoders[name], questions)
        texts.append(found)
        if name == "zero-shot":
            english = (questions["lang"] == "en").to_numpy()
            method = GOLD_METHOD.format(depth=config.depth, encoder=config.encoder, corpus=config.corpus)
            gold = gold_passages(questions[english], plain[name][1][english], plain[name][0][english],
                                 hits[english], found, method=method)  # fmt: skip
    import pandas as pd

    passages = pd.concat(texts).drop_duplicates("row").set_index("row")
    retrieval_pool = candidate_pool({n: p[1] for n, p in plain.items()}, pool_k=config.pool_k)
    pool = np.union1d(retrieval_pool, gold["row"].to_numpy(dtype=np.int64))
    in_retrieval = np.isin(pool, retrieval_pool)
    missing = np.setdiff1d(pool, passages.index.to_numpy())
    if len(missing):
        passages = pd.concat([passages, passages_frame(stores["zero-shot"], corpus, missing)])
    pool_passages = passages.loc[pool].reset_index()
    key = _generation_key(generator, config, pool_passages["doc_id"])
    generated = generate_pool_shards(config, pool_passages, generator, key=key, show_progress=show_progress)
    n_passages = stores["zero-shot"].corpus_index().n_passages
    pool_vectors, pool_sums = {}, {}
    for name in models:
        pool_vectors[name] = passage_vectors(stores[name], pool)
        pool_sums[name] = pool_query_sums(generated, pool_passages["doc_id"].tolist(), encoders[name],
                                          langs=config.xqg_langs, rule=config.rule)  # fmt: skip
        scores, rows = augmented_search(vectors[name], plain[name], pool[in_retrieval],
                                        pool_vectors[name][in_retrieval], pool_sums[name][in_retrieval],
                                        alpha=config.alpha, k=config.depth, n_passages=n_passages)  # fmt: skip
        found = passages_frame(stores[name], corpus, np.setdiff1d(np.unique(rows), passages.index.to_numpy()))
        passages = pd.concat([passages, found]) if len(found) else passages
        text_of = dict(zip(passages.index.astype(int), passages["text"]))
        per_query[f"{name} + xQG"], _ = qa_retrieval(questions, rows, text_of, ks=config.ks)
    per_query = {c: per_query[c] for c in CONDITIONS}
    measures_r = [f"R@{k}" for k in config.ks]
    comparisons = compare_grid(per_query, measures=measures_r, test=config.test)

    pairs = pair_views(questions, gold, langs=config.langs)
    qid_row = {qid: i for i, qid in enumerate(questions["query_id"])}
    en_idx = np.array([qid_row[f"{q}-en"] for q in pairs["question_id"]], dtype=np.int64)
    tgt_idx = np.array([qid_row[f"{q}-{lang}"] for q, lang in zip(pairs["question_id"], pairs["lang"])], dtype=np.int64)
    pool_pos = {int(r): i for i, r in enumerate(pool)}
    prow = np.array([pool_pos[int(r)] for r in pairs["row"]], dtype=np.int64)
    langs = pairs["lang"].to_numpy()
    similarity = "cosine" if config.preset == "e5" else "dot"
    cells, terms = {}, {}
    for name in models:
        q_en, q_t = vectors[name][en_idx], vectors[name][tgt_idx]
        p, s = pool_vectors[name][prow], pool_sums[name][prow]
        cells[("query", name, 0.0)] = (langs, q_en, q_t)
        terms[("query", name)] = (langs, _terms_by_lang(langs, q_en, q_t, similarity))
        for alpha in sorted({0.0, *config.alphas, config.alpha}):
            fused = ((1 - alpha) * p + alpha * s) if alpha else p
            condition = name if alpha == 0 else f"{name} + xQG"
            cells[("passage", condition, alpha)] = (langs, fused, q_t)
        terms[("passage", name)] = (langs, _terms_by_lang(langs, p, q_t, similarity))
        fused = (1 - config.alpha) * p + config.alpha * s
        terms[("passage", f"{name} + xQG")] = (langs, _terms_by_lang(langs, fused, q_t, similarity))
    options = dict(measure_options or {})
    if "infonce_bound" in measures:  # the same critic as the headline's per-pair terms
        options["infonce_bound"] = {"similarity": similarity, **options.get("infonce_bound", {})}
    alignment = alignment_table(cells, measures=measures, n_bootstrap=min(config.n_bootstrap, 200), seed=config.seed,
                                options=options or None)  # fmt: skip
    headline = headline_table(terms, n_bootstrap=config.n_bootstrap, seed=config.seed)
    counts = {"questions": int(questions["question_id"].nunique()),
              "scored": int(questions.loc[questions["scored"], "question_id"].nunique()),
              "gold": len(gold), "pool": len(pool), "retrieval_pool": len(retrieval_pool), "passages": int(n_passages), "pairs": len(pairs)}  # fmt: skip
    statement = data_statement(config, n_questions=counts["questions"], n_scored=counts["scored"],
                               n_gold=counts["gold"], n_pool=counts["pool"], n_passages=counts["passages"],
                               generator_label=generator_label, fine_tuned_label=fine_tuned_label)  # fmt: skip
    return StudyResult(recall=recall_table(per_query), per_query=per_query, comparisons=comparisons, gold=gold,
                       generated=generated, alignment=alignment, headline=headline, statement=statement,
                       counts=counts)  # fmt: skip


def _generation_key(generator, config: MKQAStudyConfig, doc_ids) -> str:
    """Content key of a generation: generator settings, languages, count, seed and the pool."""
    import hashlib
    import json

    import functools

    if hasattr(generator, "params"):
        params = generator.params()
    elif isinstance(generator, functools.partial):  # a factory: its function and arguments (no addresses)
        params = {"factory": f"{generator.func.__module__}.{generator.func.__qualname__}",
                  "args": list(generator.args), "kwargs": generator.keywords}  # fmt: skip
    else:
        params = f"{type(generator).__module__}.{type(generator).__qualname__}"
    spec = {"generator": params, "langs": list(config.xqg_langs), "n_per_lang": config.n_per_lang, "seed": config.seed,
            "pool": hashlib.sha256("\n".join(map(str, doc_ids)).encode()).hexdigest()}  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _terms_by_lang(langs: np.ndarray, X: np.ndarray, Y: np.ndarray, similarity: str) -> np.ndarray:
    """Per-pair InfoNCE terms computed within each language (N = that language's pairs)."""
    out = np.zeros(len(langs))
    for lang in np.unique(langs):
        mask = langs == lang
        out[mask] = infonce_terms(X[mask], Y[mask], similarity=similarity)
    return out


def passages_frame(store, corpus: Path, rows: np.ndarray) -> pd.DataFrame:
    """:func:`passage_rows` indexed by ``row``."""
    return passage_rows(store, corpus, rows).set_index("row")
