"""Held-out human questions as "generated" queries: an upper-bound proxy on parallel data.

On a parallel collection such as XQuAD every English paragraph has several human questions,
each translated into every language. Split the *questions* of each paragraph into two
roles: ``"evaluation"`` questions stay queries of the retrieval evaluation, and the other
``"augmentation"`` questions, in each target language, stand in for the queries a perfect
cross-lingual generator would write about that paragraph.

The split is by ``question_id`` (shared by all translations of a question), so no
evaluation question feeds augmentation in any language, and questions of one paragraph
whose texts coincide (XQuAD repeats some questions under two ids, and some translations
are identical) stay on one side, so no evaluation query finds its own text among the
augmentation questions of its paragraph. It is deterministic (a hash of the seed and the
question id orders the questions of a paragraph) and recorded (the frame
:func:`split_questions` returns; keep it with the run). Counts differ per paragraph (XQuAD:
1 to 30+ questions per paragraph), so the augmentation side has a different number of
queries per passage -- equalise counts or use the mean fusion rule downstream.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from xqg_lab.core.validation import check_langs
from xqg_lab.generate.base import (
    LANGUAGES,
    RECORD_COLUMNS,
    Generator,
    check_n,
    check_passages,
    check_seed,
    records_frame,
)

if TYPE_CHECKING:
    import pandas as pd

ROLES = ("augmentation", "evaluation")
SPLIT_COLUMNS = ("question_id", "doc_id", "role")


def _rank_key(seed: int, question_id: str) -> str:
    return hashlib.sha256(f"{seed}:{question_id}".encode()).hexdigest()


def normalize_question(text: str) -> str:
    """The form two questions are compared in: Unicode NFKC, case-folded, runs of
    whitespace collapsed to one space, stripped."""
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


def _text_groups(question_ids: list[str], texts: dict[str, set[str]]) -> dict[str, str]:
    """Question id -> a representative of its group: questions linked (transitively) by a
    shared normalised text in any language form one group."""
    parent = {q: q for q in question_ids}

    def root(q):
        while parent[q] != q:
            parent[q] = parent[parent[q]]
            q = parent[q]
        return q

    owner: dict[str, str] = {}
    for q in question_ids:
        for t in texts.get(q, ()):
            if t in owner:
                a, b = root(owner[t]), root(q)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[t] = q
    return {q: root(q) for q in question_ids}


def split_questions(
    queries: pd.DataFrame, qrels: pd.DataFrame, *, eval_fraction: float = 0.5, seed: int = 0
) -> pd.DataFrame:
    """Assign every question to evaluation or augmentation, per paragraph.

    Within each paragraph, questions are ordered by ``sha256(f"{seed}:{question_id}")``
    and walked in that order; each one, with every question tied to it, goes to evaluation
    while fewer than ``ceil(eval_fraction * k)`` of the paragraph's ``k`` questions are
    there, and to augmentation after that (a paragraph with one question keeps it for
    evaluation when ``eval_fraction > 0``).

    No leakage through identical texts: two questions of one paragraph are *tied* when a
    text of one equals a text of the other, in any two of the loaded languages, after
    :func:`normalize_question` (NFKC, case-folded, whitespace collapsed); ties are
    transitive and tied questions always share a role. So no evaluation query's
    normalised text appears among the augmentation questions of its gold paragraph in any
    loaded language (a tied group can push a paragraph's evaluation share above
    ``eval_fraction``). Without ties this is the plain per-question split. The result
    depends only on the (question, paragraph) pairs, the loaded texts and the seed -- not
    on row order; load every language that evaluation or augmentation will use.

    Parameters
    ----------
    queries : DataFrame
        ``query_id``, ``question_id`` (shared across languages), ``lang``, ``text``.
    qrels : DataFrame
        ``query_id``, ``doc_id``, ``relevance``; each question must have exactly one
        relevant paragraph (in all its languages).
    eval_fraction : float in [0, 1]
        Fraction of each paragraph's questions kept for evaluation.
    seed : int >= 0

    Returns
    -------
    DataFrame
        ``question_id`` (str), ``doc_id`` (str), ``role`` (``"evaluation"`` or
        ``"augmentation"``), one row per question, sorted by ``(doc_id, question_id)``.
    """
    import pandas as pd

    seed = check_seed(seed)
    if isinstance(eval_fraction, bool) or not (0.0 <= float(eval_fraction) <= 1.0):
        raise ValueError(f"expected eval_fraction in [0, 1], found {eval_fraction!r}")
    for frame, name, cols in (
        (queries, "queries", ("query_id", "question_id", "text")),
        (qrels, "qrels", ("query_id", "doc_id")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(
                f"expected {name} with columns {list(cols)}; missing {missing}. The held-out split needs "
                "a parallel collection whose queries share a question_id across languages (e.g. XQuAD)"
            )
    relevant = qrels[qrels["relevance"] > 0] if "relevance" in qrels.columns else qrels
    pairs = (
        queries[["query_id", "question_id"]]
        .merge(relevant[["query_id", "doc_id"]], on="query_id", how="inner")[["question_id", "doc_id"]]
        .astype(str)
        .drop_duplicates()
    )
    several = pairs["question_id"][pairs["question_id"].duplicated()].unique().tolist()
    if several:
        raise ValueError(
            f"expected one relevant paragraph per question, found several for {len(several)} questions "
            f"(e.g. {several[:3]}); the per-paragraph split is undefined for them"
        )
    texts: dict[str, set[str]] = {}
    for question_id, text in zip(queries["question_id"].astype(str), queries["text"]):
        texts.setdefault(question_id, set()).add(normalize_question(text))
    rows = []
    for doc_id, group in pairs.groupby("doc_id", sort=True):
        ordered = sorted(group["question_id"], key=lambda q: _rank_key(seed, q))
        n_eval = math.ceil(float(eval_fraction) * len(ordered) - 1e-12)
        tied = _text_groups(ordered, texts)
        size = Counter(tied.values())
        role_of: dict[str, str] = {}
        n_evaluation = 0
        for question_id in ordered:
            group = tied[question_id]
            if group not in role_of:
                role_of[group] = "evaluation" if n_evaluation < n_eval else "augmentation"
                n_evaluation += size[group] if role_of[group] == "evaluation" else 0
            rows.append((question_id, doc_id, role_of[group]))
    split = pd.DataFrame(rows, columns=list(SPLIT_COLUMNS))
    return split.sort_values(["doc_id", "question_id"], kind="stable").reset_index(drop=True)


def split_summary(split: pd.DataFrame) -> dict[str, Any]:
    """Counts and a content hash of a split, for run manifests."""
    canonical = "\n".join(
        f"{q}\t{d}\t{r}"
        for q, d, r in split[list(SPLIT_COLUMNS)]
        .sort_values(["doc_id", "question_id"])
        .itertuples(index=False)
    )
    counts = split["role"].value_counts()
    return {
        "n_questions": int(len(split)),
        "n_evaluation": int(counts.get("evaluation", 0)),
        "n_augmentation": int(counts.get("augmentation", 0)),
        "n_passages": int(split["doc_id"].nunique()),
        "sha256": hashlib.sha256(canonical.encode()).hexdigest(),
    }


def evaluation_queries(queries: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """The queries whose question is in the evaluation role (all their languages).

    Queries whose question is not in ``split`` are dropped too.
    """
    keep = set(split.loc[split["role"] == "evaluation", "question_id"].astype(str))
    return queries[queries["question_id"].astype(str).isin(keep)].reset_index(drop=True)


class HeldOutQueries(Generator):
    """Augmentation-role human questions, as records of a generator.

    Parameters
    ----------
    queries : DataFrame
        ``query_id``, ``question_id``, ``lang``, ``text`` (e.g. ``load_xquad().queries``).
    split : DataFrame
        From :func:`split_questions` (``question_id``, ``doc_id``, ``role``).

    :meth:`generate` returns, for each passage and language, the augmentation questions of
    that passage in that language, ``sample`` numbering them in the split's order (by
    ``question_id``); ``n_per_lang`` caps their number (None: all), so counts differ per
    passage (use :func:`samples_per_passage`). Records carry a ``question_id`` column.
    ``seed`` is ignored: the split fixes everything.
    """

    name = "heldout"
    extra_columns = ("question_id",)

    def __init__(self, queries: pd.DataFrame, split: pd.DataFrame):
        missing = [c for c in ("question_id", "lang", "text") if c not in queries.columns]
        if missing:
            raise ValueError(f"expected queries with columns question_id, lang, text; missing {missing}")
        missing = [c for c in SPLIT_COLUMNS if c not in split.columns]
        if missing:
            raise ValueError(
                f"expected a split from split_questions (question_id, doc_id, role); missing {missing}"
            )
        bad_roles = sorted(set(split["role"]) - set(ROLES))
        if bad_roles:
            raise ValueError(f"expected roles among {ROLES}, found {bad_roles}")
        self.split = (
            split[list(SPLIT_COLUMNS)]
            .astype(str)
            .sort_values(["doc_id", "question_id"])
            .reset_index(drop=True)
        )
        augmentation = self.split[self.split["role"] == "augmentation"]
        pool = (
            queries[["question_id", "lang", "text"]]
            .astype({"question_id": str})
            .merge(augmentation[["question_id", "doc_id"]], on="question_id", how="inner")
        )
        self._pool = pool.sort_values(["doc_id", "lang", "question_id"], kind="stable").reset_index(drop=True)

    def params(self) -> dict[str, Any]:
        return {"backend": "heldout", "split": split_summary(self.split)}

    def generate(
        self,
        passages: pd.DataFrame,
        *,
        langs: Iterable[str] | str,
        n_per_lang: int | None = None,
        seed: int = 0,
        progress: bool = False,
    ) -> pd.DataFrame:
        passages = check_passages(passages)
        langs = check_langs(langs, sorted(LANGUAGES), what="target language", refuse_duplicates=True)
        cap = None if n_per_lang is None else check_n(n_per_lang)
        check_seed(seed)
        import numpy as np

        doc_rank = dict(zip(passages["doc_id"], range(len(passages))))
        lang_rank = dict(zip(langs, range(len(langs))))
        pool = self._pool[self._pool["doc_id"].isin(list(doc_rank)) & self._pool["lang"].isin(langs)]
        pool = pool.assign(sample=pool.groupby(["doc_id", "lang"], sort=False).cumcount())
        if cap is not None:
            pool = pool[pool["sample"] < cap]
        order = np.lexsort((pool["sample"], pool["lang"].map(lang_rank), pool["doc_id"].map(doc_rank)))
        rows = pool.iloc[order][list(RECORD_COLUMNS) + list(self.extra_columns)].to_dict("records")
        return records_frame(rows, self.extra_columns)


def samples_per_passage(
    records: pd.DataFrame, *, doc_ids: Iterable[str] | None = None, langs: Iterable[str] | None = None
) -> pd.DataFrame:
    """Number of queries per passage and language: ``doc_id``, ``lang``, ``n`` (int64).

    With ``doc_ids`` and ``langs``, every pair appears, with ``n = 0`` where the records have
    none (e.g. paragraphs whose questions all went to evaluation); otherwise only the pairs
    present in ``records``. Sorted by ``(doc_id, lang)``.
    """
    import pandas as pd

    counts = records.groupby(["doc_id", "lang"], sort=True).size().rename("n")
    if doc_ids is not None and langs is not None:
        index = pd.MultiIndex.from_product([list(doc_ids), list(langs)], names=["doc_id", "lang"])
        counts = counts.reindex(index, fill_value=0)
    out = counts.reset_index()
    out["n"] = out["n"].astype("int64")
    return out.sort_values(["doc_id", "lang"], kind="stable").reset_index(drop=True)
