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
   The corpus is encoded into resumable shard stores (:mod:`xqg_lab.scale.shards`, local or Ray;
   :mod:`xqg_lab.studies.mkqa_pool`); the scoring is :func:`xqg_lab.metrics.has_answer.qa_retrieval`.
2. **Gold passages** (:func:`gold_passages`): per question, the best-ranked passage of the
   English query (zero-shot encoder) that contains an answer, with its rank, score and how it
   was chosen; questions without one in the top ``depth`` have no gold passage.
3. **xQG** (:func:`~xqg_lab.studies.mkqa_pool.generate_equal`): ``n_per_lang`` generated queries per language for every
   gold passage (for the alignment) and every passage of the retrieval pool -- the union of the
   plain top ``pool_k`` of every query (all languages, both encoders); equal counts are enforced
   (the paper's sum assumes them).
4. **Four conditions** (zero-shot / fine-tuned encoder x without / with xQG): retrieval per
   language (:func:`~xqg_lab.studies.mkqa_pool.augmented_search`: exact; the pool passages are augmented, every other
   passage keeps ``p' = p``; gold passages are *not* augmented for retrieval unless they are in
   the pool, since choosing them used the answers -- augmenting them would leak the labels) and
   alignment on two pair kinds (:func:`~xqg_lab.studies.mkqa_alignment.pair_views`): English query <-> target query (what
   fine-tuning can change; xQG leaves every query vector as it is, so its gain there is 0 by
   construction) and English gold passage ``p`` or ``p'`` <-> target query (what xQG changes).
5. **The headline** (:func:`~xqg_lab.studies.mkqa_alignment.headline_table`): per language, the alignment gain (InfoNCE bound,
   nats) of xQG and of fine-tuning on the same pairs, each with a paired bootstrap interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
import pydantic

from xqg_lab.core.validation import ConfigModel
from xqg_lab.metrics.has_answer import qa_retrieval, recall_table
from xqg_lab.scale import ScaleConfig
from xqg_lab.studies.grid import CONDITIONS
from xqg_lab.studies.mkqa_alignment import alignment_table, headline_table, pair_views, terms_by_lang
from xqg_lab.studies.mkqa_pool import (
    augmented_search,
    candidate_pool,
    encode_corpus,
    generate_pool_shards,
    generation_key,
    passage_rows,
    passage_vectors,
    passages_frame,
    pool_query_sums,
    prepare_corpus,
    search_store,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONDITIONS",
    "PAIR_KINDS",
    "MKQAStudyConfig",
    "gold_passages",
    "data_statement",
    "fine_tuned_encoder",
    "run_retrieval",
    "run_study",
]

PAIR_KINDS = ("query", "passage")
"""``query``: English query <-> target-language query; ``passage``: English gold passage
(``p``, or ``p'`` under xQG) <-> target-language query about it."""
GOLD_METHOD = (
    "best-ranked passage of the English query's top-{depth} ({encoder}, exact inner-product search over "
    "{corpus}) that contains an English answer or alias under DPR has_answer (passage text, no title)"
)


PositiveInt = Annotated[int, pydantic.Field(strict=True, ge=1)]


class MKQAStudyConfig(ConfigModel):
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

    where: ClassVar[str] = "mkqa parameters"

    mkqa: str = "full"
    corpus: str = "psgs_w100"
    langs: tuple[str, ...] = pydantic.Field((), validate_default=True)
    encoder: str = "intfloat/multilingual-e5-base"
    fine_tuned: str = ""
    preset: str = "e5"
    batch_size: PositiveInt = 256
    device: str = ""
    fp16: bool = False
    generator: str = "seq2seq"
    generator_settings: dict[str, Any] = {}
    xqg_langs: tuple[str, ...] = ("ar", "bn", "fi", "ja", "ko", "ru", "te")
    n_per_lang: PositiveInt = 5
    alpha: float = 0.01
    alphas: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.3)
    rule: str = "sum"
    depth: PositiveInt = 100
    ks: tuple[int, ...] = (20, 100)
    pool_k: int = 10
    shard_size: PositiveInt = 1_000_000
    generation_shard_size: PositiveInt = 10_000
    dtype: str = "float16"
    scale: ScaleConfig = ScaleConfig()
    work_dir: str = pydantic.Field("", validate_default=True)
    max_questions: int = 0
    n_bootstrap: int = 1000
    test: str = "t"
    seed: int = 0

    @pydantic.field_validator("langs", mode="after")
    @classmethod
    def _english_first(cls, langs: tuple[str, ...]) -> tuple[str, ...]:
        from xqg_lab.core.validation import check_langs
        from xqg_lab.data.mkqa import MKQA_LANGS

        langs = check_langs(list(langs) or None, MKQA_LANGS, what="MKQA language")
        return tuple(["en"] + [x for x in langs if x != "en"])

    @pydantic.field_validator("xqg_langs", mode="after")
    @classmethod
    def _some_langs(cls, langs: tuple[str, ...]) -> tuple[str, ...]:
        if not langs:
            raise ValueError("at least one language in xqg_langs")
        return langs

    @pydantic.field_validator("alpha", mode="after")
    @classmethod
    def _alpha(cls, alpha: float) -> float:
        from xqg_lab.augment import check_alpha

        if check_alpha(alpha) <= 0:
            raise ValueError("alpha > 0 for the '+ xQG' conditions")
        return alpha

    @pydantic.field_validator("alphas", mode="after")
    @classmethod
    def _alphas(cls, alphas: tuple[float, ...]) -> tuple[float, ...]:
        from xqg_lab.augment import check_alpha

        return tuple(check_alpha(a) for a in alphas)

    @pydantic.field_validator("ks", mode="after")
    @classmethod
    def _ks(cls, ks: tuple[int, ...], info: pydantic.ValidationInfo) -> tuple[int, ...]:
        depth = info.data.get("depth", 0)
        if not ks or max(ks) > depth or min(ks) < 1:
            raise ValueError(f"ks in 1..depth={depth}")
        return ks

    @pydantic.field_validator("pool_k", mode="after")
    @classmethod
    def _pool_k(cls, pool_k: int, info: pydantic.ValidationInfo) -> int:
        depth = info.data.get("depth", 0)
        if not 0 <= pool_k <= depth:
            raise ValueError(f"pool_k in 0..depth={depth}")
        return pool_k

    @pydantic.field_validator("rule", mode="after")
    @classmethod
    def _rule(cls, rule: str) -> str:
        from xqg_lab.augment import FusionRule

        FusionRule.parse(rule)
        return rule

    @pydantic.field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, scale):
        return scale if isinstance(scale, ScaleConfig) else ScaleConfig.parse(scale)

    @pydantic.field_serializer("scale")
    def _scale_record(self, scale: ScaleConfig) -> dict[str, Any]:
        return {"backend": scale.backend.value, "ray": scale.ray.model_dump(mode="json")}

    @pydantic.field_validator("work_dir", mode="after")
    @classmethod
    def _work_dir(cls, work_dir: str) -> str:
        if work_dir:
            return work_dir
        from xqg_lab.core.paths import cache_dir

        return str(cache_dir() / "mkqa-study")

    def encoder_spec(self, model_name_or_path: str) -> dict[str, Any]:
        """:class:`~xqg_lab.encode.model.Encoder` keyword arguments for one of the two encoders."""
        return {"model_name_or_path": model_name_or_path, "preset": self.preset, "batch_size": self.batch_size,
                "device": self.device or None, "fp16": self.fp16}  # fmt: skip



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


def fine_tuned_encoder(fine_tuned: str, training: Mapping[str, Any]) -> tuple[str, str]:
    """``(model, label)`` of the fine-tuned encoder: ``fine_tuned`` as given, or, when it is empty,
    the checkpoint of the ``training`` job (:func:`xqg_lab.train.parse_training_job`; reused when
    one exists, else trained now)."""
    if fine_tuned:
        return fine_tuned, f"`{fine_tuned}`"
    from xqg_lab.studies.grid import fine_tuned_checkpoint
    from xqg_lab.train import parse_training_job

    job = parse_training_job(training, source="notebook parameter 'training'")
    checkpoint, reused = fine_tuned_checkpoint(job)
    label = (f"`{job.model_name_or_path}` trained by xqg_lab.train on {job.data.source.value} data "
             f"({'reused' if reused else 'trained now'}: {checkpoint.name})")
    return str(checkpoint), label


def _encoder(config: MKQAStudyConfig, model: str, progress: bool):
    from xqg_lab.encode.model import Encoder

    return Encoder(**config.encoder_spec(model), progress=progress)


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


def run_retrieval(config: MKQAStudyConfig, *, progress: bool = True) -> RetrievalOutcome:
    """The field's MKQA protocol with the zero-shot encoder, and the candidate-pool sizes."""
    import pandas as pd

    corpus = prepare_corpus(config.corpus, config.work_dir)
    questions = _questions(config)
    store = encode_corpus(config, corpus, config.encoder, "zero-shot", progress=progress)
    encoder = _encoder(config, config.encoder, progress)
    _, (_, rows), _, per_query, _ = _retrieve(config, store, corpus, encoder, questions)
    per_passage = len(config.xqg_langs) * config.n_per_lang
    ks = sorted({k for k in (1, 5, 10, 20, 50, 100, config.pool_k) if 1 <= k <= config.depth})
    n_passages = [len(candidate_pool({"zero-shot": rows}, pool_k=k)) for k in ks]
    pool_sizes = pd.DataFrame({"pool_k": ks, "n_passages": n_passages,
                               "n_generated_queries": [n * per_passage for n in n_passages]})  # fmt: skip
    return RetrievalOutcome(recall=recall_table({"zero-shot": per_query}), per_query=per_query, pool_sizes=pool_sizes)


def run_study(config: MKQAStudyConfig, *, fine_tuned: str, fine_tuned_label: str, generator,
              generator_label: str, measures: Sequence[str], measure_options=None,
              progress: bool = True) -> StudyResult:
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
        stores[name] = encode_corpus(config, corpus, model, name, progress=progress)
        encoders[name] = _encoder(config, model, progress)
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
    key = generation_key(generator, config, pool_passages["doc_id"])
    generated = generate_pool_shards(config, pool_passages, generator, key=key, progress=progress)
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
        terms[("query", name)] = (langs, terms_by_lang(langs, q_en, q_t, similarity))
        for alpha in sorted({0.0, *config.alphas, config.alpha}):
            fused = ((1 - alpha) * p + alpha * s) if alpha else p
            condition = name if alpha == 0 else f"{name} + xQG"
            cells[("passage", condition, alpha)] = (langs, fused, q_t)
        terms[("passage", name)] = (langs, terms_by_lang(langs, p, q_t, similarity))
        fused = (1 - config.alpha) * p + config.alpha * s
        terms[("passage", f"{name} + xQG")] = (langs, terms_by_lang(langs, fused, q_t, similarity))
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
