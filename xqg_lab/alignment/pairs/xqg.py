"""The xQG view (Zhuang, Shou and Zuccon, SIGIR 2023): an English XQuAD paragraph, encoded as
a passage ``p`` or augmented ``p'``, paired with a held-out *evaluation* question about it;
the augmentation questions split off by question id, and the augmented source embeddings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from xqg_lab.alignment.pairs.views import _check_pairs, _langs, _passage_rows
from xqg_lab.core.validation import check_choice
from xqg_lab.encode.presets import Role

if TYPE_CHECKING:
    import pandas as pd

    from xqg_lab.data.common import RetrievalData


class AugmentLangs(str, Enum):
    """Which augmentation queries build ``p'`` for a target language ``L``.


    ``all``: every language of the augmentation queries (the paper's setting: one ``p'``
    per passage, whatever the query language). ``target``: only the queries in ``L``.
    """


    ALL = "all"
    TARGET = "target"


def heldout_queries(data: RetrievalData, split: pd.DataFrame, *, langs: Iterable[str] | None = None) -> pd.DataFrame:
    """The augmentation questions of a held-out split, as a generated-query frame.


    Parameters
    ----------
    data : :func:`xqg_lab.data.load_xquad` result (its languages are the candidates).
    split : ``question_id, doc_id, role`` from
        :func:`xqg_lab.generate.heldout.split_questions`; questions with role
        ``"augmentation"`` become augmentation queries, those with ``"evaluation"`` are left
        for :func:`xqg_pairs`.
    langs : languages of the augmentation queries (None: every non-English language of
        ``data``; English questions are left out, as the paper augments with target-language
        queries only).


    Returns
    -------
    DataFrame
        ``doc_id, lang, sample, text, question_id``
        (:class:`xqg_lab.generate.heldout.HeldOutQueries` records). Counts per paragraph
        vary (0 to dozens), so fuse them with ``rule="mean"`` (see :mod:`xqg_lab.augment`).
    """
    from xqg_lab.generate.heldout import HeldOutQueries


    _check_split(split)
    present = sorted(set(data.queries["lang"]))
    langs = [lang for lang in present if lang != "en"] if langs is None else _langs(langs, present)
    unknown = sorted(set(langs) - set(present))
    if unknown:
        raise ValueError(f"languages {unknown} are not in data (loaded: {present})")
    return HeldOutQueries(data.queries, split).generate(data.passages, langs=langs)


def xqg_pairs(
    data: RetrievalData,
    split: pd.DataFrame,
    *,
    langs: Iterable[str] | str | None = None,
    augment: pd.DataFrame | None = None,
    augment_langs: AugmentLangs | str = AugmentLangs.ALL,
    max_per_passage: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The xQG view: English paragraph <-> held-out *evaluation* question about it.


    One row per (evaluation question in ``lang``, its paragraph). The source side is meant
    to be embedded as ``p`` or ``p'`` (:func:`augmented_sources`), the target side as
    queries. Only questions with role ``"evaluation"`` in ``split`` appear, so no augmentation
    question is ever on the target side.


    Parameters
    ----------
    data : :func:`xqg_lab.data.load_xquad` result.
    split : ``question_id, doc_id, role`` (roles ``"augmentation"`` / ``"evaluation"``) from
        :func:`xqg_lab.generate.heldout.split_questions`.
    langs : target languages (None: every non-English language of ``data``).
    augment : the augmentation queries (``doc_id, lang, ...``; default
        :func:`heldout_queries` of ``data`` and ``split``). Paragraphs without any
        augmentation query (in any language for ``augment_langs="all"``, in the row's
        language for ``"target"``) are dropped: their ``p'`` would just be ``(1 - α) p``.
    max_per_passage : at most this many evaluation questions per (paragraph, language),
        the same in every language (None: all; see :func:`xquad_passage_pairs`).


    Returns
    -------
    DataFrame
        :data:`PAIR_COLUMNS` + ``question_id``, ``doc_id``; ``pair_id`` = ``query_id``.
    """
    roles = _check_split(split)
    augment_langs = check_choice(augment_langs, AugmentLangs, what="augment_langs")
    present = sorted(set(data.queries["lang"]))
    langs = _langs(langs, [lang for lang in present if lang != "en"])
    unknown = sorted(set(langs) - set(present))
    if unknown:
        raise ValueError(f"languages {unknown} are not in data (loaded: {present})")
    if augment is None:
        augment = heldout_queries(data, split)
    eval_ids = set(roles.loc[roles["role"] == "evaluation", "question_id"])
    q = data.queries[data.queries["lang"].isin(langs) & data.queries["question_id"].isin(eval_ids)]
    q = q.merge(data.qrels[["query_id", "doc_id"]], on="query_id", validate="one_to_one")
    if augment_langs is AugmentLangs.ALL:
        q = q[q["doc_id"].isin(set(augment["doc_id"]))]
    else:
        have = set(zip(augment["doc_id"], augment["lang"]))
        q = q[[(d, lang) in have for d, lang in zip(q["doc_id"], q["lang"])]]
    if "question_id" in augment.columns:
        leaked = sorted(set(augment["question_id"].astype(str)) & set(q["question_id"].astype(str)))
        if leaked:
            raise ValueError(
                f"expected augmentation and evaluation questions to be disjoint, found {len(leaked)} "
                f"question ids on both sides (e.g. {leaked[:3]}); build augment from the same split"
            )
    return _passage_rows(q, data.passages, max_per_passage=max_per_passage, seed=seed)


def augmented_sources(
    pairs: pd.DataFrame,
    encoder,
    augment: pd.DataFrame,
    *,
    alphas: Sequence[float],
    rule: str = "mean",
    augment_langs: AugmentLangs | str = AugmentLangs.ALL,
    on_no_query: str = "keep",
) -> dict[float, np.ndarray]:
    """Source embeddings ``p'(α) = (1 - α) p + α S`` of an xQG view, one array per α.


    Parameters
    ----------
    pairs : an xQG view (:func:`xqg_pairs`), with ``doc_id``; ``src_text`` is the passage.
    encoder : encodes ``src_text`` as passages (``p``) and ``augment["text"]`` as queries.
    augment : ``doc_id, lang, sample, text`` -- held-out human questions
        (:func:`heldout_queries`) or a generated-query store.
    alphas : weights in [0, 1]; α = 0 gives ``p`` itself.
    rule : ``"mean"`` (S = mean of the query vectors; needed when counts differ, as for
        held-out human questions) or ``"sum"`` (the paper's Σ, for equal counts).
    augment_langs : ``"all"`` (S over every language of ``augment``) or ``"target"``
        (S over the row's own language).
    on_no_query : a row whose passage has no augmentation query (in those languages)
        keeps ``p' = p`` (``"keep"``) or gets ``(1 - α) p`` (``"literal"``);
        :func:`xqg_pairs` with the same ``augment`` drops such rows instead;
        :func:`passages_without_queries` counts them.


    Returns
    -------
    dict
        ``{α: float32 (n, dim)}``, rows aligned with ``pairs``; not re-normalised (the
        vectors an inner-product index would hold).
    """
    from xqg_lab.augment import NoQuery, accumulate_query_sums, augment_passages, fusion_target


    _check_pairs(pairs, extra=("doc_id",))
    augment_langs = check_choice(augment_langs, AugmentLangs, what="augment_langs")
    on_no_query = NoQuery.parse(on_no_query)
    doc_ids = list(dict.fromkeys(pairs["doc_id"].astype(str)))
    row_of = {d: i for i, d in enumerate(doc_ids)}
    selected = augment[augment["doc_id"].astype(str).isin(row_of)]
    if selected.empty:
        raise ValueError("no augmentation query names a passage of the view; check doc_id values")
    sums = accumulate_query_sums(selected, doc_ids, encoder)
    rows = pairs["doc_id"].astype(str).map(row_of).to_numpy()
    if augment_langs is AugmentLangs.ALL:
        S = sums.fused(rule=rule)[rows]
        n_queries = sums.n_queries()[rows]
    else:
        S = np.zeros((len(pairs), sums.sums.shape[2]), dtype=np.float32)
        n_queries = np.zeros(len(pairs), dtype=np.int64)
        for lang in pairs["lang"].unique():
            mask = (pairs["lang"] == lang).to_numpy()
            if lang in sums.langs:
                S[mask] = sums.fused(rule=rule, langs=[lang])[rows[mask]]
                n_queries[mask] = sums.n_queries(langs=[lang])[rows[mask]]
    P = np.asarray(encoder.encode(pairs["src_text"].tolist(), role=Role.PASSAGE), dtype=np.float32)
    target = fusion_target(P, S, n_queries, on_no_query=on_no_query)
    out = {}
    for alpha in alphas:
        alpha = float(alpha)
        out[alpha] = P if alpha == 0 else augment_passages(P, target, alpha=alpha)
    return out


def passages_without_queries(
    pairs: pd.DataFrame, augment: pd.DataFrame, *, augment_langs: AugmentLangs | str = AugmentLangs.ALL
) -> dict[str, int]:
    """Distinct passages of an xQG view with no augmentation query, per language set:
    ``{"all": n}`` (``augment_langs="all"``) or ``{lang: n}`` per row language (``"target"``)."""
    _check_pairs(pairs, extra=("doc_id",))
    augment_langs = check_choice(augment_langs, AugmentLangs, what="augment_langs")
    docs = pairs["doc_id"].astype(str)
    if augment_langs is AugmentLangs.ALL:
        return {"all": int(docs[~docs.isin(set(augment["doc_id"].astype(str)))].nunique())}
    have = set(zip(augment["doc_id"].astype(str), augment["lang"].astype(str)))
    out = {}
    for lang, idx in pairs.groupby("lang", sort=True).indices.items():
        d = docs.iloc[idx]
        out[str(lang)] = int(d[[(x, str(lang)) not in have for x in d]].nunique())
    return out


def _check_split(split) -> pd.DataFrame:
    import pandas as pd


    if not isinstance(split, pd.DataFrame):
        raise TypeError(f"expected split as a DataFrame (question_id, doc_id, role), found {type(split).__name__}")
    missing = {"question_id", "role"} - set(split.columns)  # doc_id is read from the qrels
    if missing:
        raise ValueError(
            f"expected split with columns question_id, doc_id, role; missing {sorted(missing)} "
            "(build it with xqg_lab.generate.heldout.split_questions)"
        )
    roles = set(split["role"])
    if not roles <= {"augmentation", "evaluation"}:
        raise ValueError(
            f"expected split roles 'augmentation' and 'evaluation', found {sorted(map(str, roles))}"
        )
    per_question = split.groupby("question_id")["role"].nunique()
    if (per_question > 1).any():
        raise ValueError(
            f"expected each question on one side of the split, found question {per_question[per_question > 1].index[0]!r} "
            "with both roles; give it one role"
        )
    return split.drop_duplicates("question_id")
