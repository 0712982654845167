"""The demo's headline numbers recomputed by an independent route: a plain NumPy ranking of
the same embeddings (no FAISS, no ir_measures, no xqg_lab fusion code). Real embedded e5 on the
XQuAD mirror; fast when the embedding cache (``XQG_LAB_CACHE``) is warm from a demo run."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow

LANGS = ["en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]


@pytest.fixture(scope="module")
def xquad():
    from xqg_lab.data.xquad import load_xquad

    return load_xquad(LANGS)


@pytest.fixture(scope="module")
def model():
    from xqg_lab.encode.model import Encoder

    return Encoder("embedded:multilingual-e5-small", preset="e5", progress=False)


def reciprocal_ranks_at_10(Q: np.ndarray, P: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """RR@10 of each query row of ``Q`` (float64 dot products with ``P``), ``gold[i]`` = row of its
    relevant passage; rank = 1 + number of passages scoring strictly higher."""
    scores = Q.astype(np.float64) @ P.astype(np.float64).T
    rank = 1 + (scores > scores[np.arange(len(Q)), gold][:, None]).sum(axis=1)
    return np.where(rank <= 10, 1.0 / rank, 0.0)


def gold_rows(data, queries):
    row_of = {d: i for i, d in enumerate(data.passages["doc_id"])}
    relevant = data.qrels[data.qrels["relevance"] > 0].set_index("query_id")["doc_id"]
    return np.array([row_of[relevant[q]] for q in queries["query_id"]])


def test_zero_shot_mrr_per_language_matches_a_numpy_ranking(xquad, model):
    from xqg_lab.metrics.retrieval import evaluate_retrieval

    result = evaluate_retrieval(xquad, model, k=100, measures=["MRR@10"])
    P = model.encode_passages(xquad.passages)
    Q = model.encode_queries(xquad.queries["text"].tolist())
    rr = reciprocal_ranks_at_10(Q, P, gold_rows(xquad, xquad.queries))
    ours = xquad.queries.assign(rr=rr).groupby("lang")["rr"].mean()
    toolkit = result.by_lang["MRR@10"]
    assert sorted(toolkit.index) == sorted(LANGS)
    np.testing.assert_allclose(toolkit.sort_index().to_numpy(), ours.sort_index().to_numpy(), atol=1e-4)


def test_heldout_xqg_gain_matches_numpy_fusion(xquad, model):
    from xqg_lab.generate import HeldOutQueries, split_questions
    from xqg_lab.studies.xqg import evaluate_xqg, evaluation_collection

    alpha, augment_langs = 0.3, LANGS[1:]
    split = split_questions(xquad.queries, xquad.qrels, eval_fraction=0.5, seed=0)
    evaluation = evaluation_collection(xquad, split, langs=LANGS)
    heldout = HeldOutQueries(xquad.queries, split).generate(xquad.passages, langs=augment_langs)
    result = evaluate_xqg(evaluation, heldout, model, alphas=[alpha], rule="mean", augment_langs=augment_langs,
                          k=100, measures=["MRR@10"])  # fmt: skip
    toolkit = (
        result.per_query[alpha].groupby("lang")["MRR@10"].mean() - result.per_query[0.0].groupby("lang")["MRR@10"].mean()
    )

    # independent fusion: mean of each paragraph's augmentation-question vectors; p' = p without any
    P = model.encode_passages(xquad.passages).astype(np.float64)
    vectors = model.encode_queries(heldout["text"].tolist()).astype(np.float64)
    row_of = {d: i for i, d in enumerate(xquad.passages["doc_id"])}
    rows = heldout["doc_id"].map(row_of).to_numpy()
    S, n = np.zeros_like(P), np.bincount(rows, minlength=len(P))
    np.add.at(S, rows, vectors)
    fused = np.where((n > 0)[:, None], (1 - alpha) * P + alpha * S / np.maximum(n, 1)[:, None], P)
    Q = model.encode_queries(evaluation.queries["text"].tolist())
    gold = gold_rows(evaluation, evaluation.queries)
    gain = evaluation.queries.assign(
        base=reciprocal_ranks_at_10(Q, P, gold), aug=reciprocal_ranks_at_10(Q, fused, gold)
    ).groupby("lang")[["base", "aug"]].mean()
    ours = gain["aug"] - gain["base"]
    assert (n == 0).sum() == result.n_no_query > 0  # the paragraphs whose one question is for evaluation
    np.testing.assert_allclose(toolkit.sort_index().to_numpy(), ours.sort_index().to_numpy(), atol=1e-3)
