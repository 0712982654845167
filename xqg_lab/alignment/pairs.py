"""Paired views for the alignment analysis: English source texts paired with target-language texts.

Every view is a tidy frame of paired texts, one row per pair::

    pair_id (str, unique), lang (str), src_text (str, English side), tgt_text (str, target side)

plus ``doc_id`` / ``question_id`` where the pair comes from a passage or a question. Row i of
``X`` (source embeddings) is paired with row i of ``Y`` (target embeddings); see
:mod:`xqg_lab.alignment` for the measures.

Views (:class:`View`; the roles each side is encoded with are in :data:`VIEWS`):

- ``xquad_questions``: an English XQuAD question and its professional translation (same
  ``question_id``), query / query; 1,190 pairs per language.
- ``xquad_passages``: an English XQuAD paragraph (``title + " " + text``) and a
  target-language question about it, passage / query; 1,190 pairs per language (each
  paragraph appears once per question asked about it).
- ``xor_translations``: the human English translation of an XOR-TyDi question and the
  original question, query / query; about 4.6k pairs per language.
- ``tatoeba``: a Tatoeba sentence pair (LASER test set), query / query; up to 1,000 pairs.
- ``mkqa``: an English MKQA query and its translation, query / query; 10,000 pairs per
  language with the full file, **6** with the offline sample.
- ``xqg``: the xQG comparison (Zhuang, Shou and Zuccon, SIGIR 2023, arXiv 2305.03950):
  an English XQuAD paragraph, encoded as a passage ``p`` or augmented ``p'``, and a
  held-out *evaluation* human question about it in the target language, passage / query.
  The augmentation questions (the human proxy for generated queries) are other questions
  about the same paragraph, split off by question id (:func:`heldout_queries`), so no
  question is ever on both sides.

Both sides of a sentence-level view are encoded as queries: e5 models are trained with the
``query: `` prefix on symmetric tasks (their model card: "use 'query: ' for ... bitext
mining"), and a DPR query tower is what encodes a question.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from xqg_lab.core.validation import check_choice
from xqg_lab.data.common import passage_text
from xqg_lab.data.langs import MKQA_TARGET_LANGS, XOR_LANGS, XQUAD_TARGET_LANGS
from xqg_lab.encode.presets import Role

if TYPE_CHECKING:
    import pandas as pd

    from xqg_lab.data.common import RetrievalData

__all__ = [
    "PAIR_COLUMNS",
    "TATOEBA_CODES",
    "VIEWS",
    "AugmentLangs",
    "View",
    "ViewSpec",
    "augmented_sources",
    "embed_pairs",
    "embed_view",
    "heldout_queries",
    "load_view",
    "mkqa_pairs",
    "pair_counts",
    "passages_without_queries",
    "subsample_pairs",
    "tatoeba_pairs",
    "xor_translation_pairs",
    "xqg_pairs",
    "xquad_passage_pairs",
    "xquad_question_pairs",
]

PAIR_COLUMNS = ("pair_id", "lang", "src_text", "tgt_text")
"""Columns every view has (the bitext record type of :mod:`xqg_lab.data`)."""

SMALL_N = 50
"""Below this many pairs a view's estimates are flagged as unstable (:func:`pair_counts`)."""


class View(str, Enum):
    """The paired views; each value is also the name used in configs and result tables."""

    XQUAD_QUESTIONS = "xquad_questions"
    XQUAD_PASSAGES = "xquad_passages"
    XOR_TRANSLATIONS = "xor_translations"
    TATOEBA = "tatoeba"
    MKQA = "mkqa"
    XQG = "xqg"


class AugmentLangs(str, Enum):
    """Which augmentation queries build ``p'`` for a target language ``L``.

    ``all``: every language of the augmentation queries (the paper's setting: one ``p'``
    per passage, whatever the query language). ``target``: only the queries in ``L``.
    """

    ALL = "all"
    TARGET = "target"


@dataclasses.dataclass(frozen=True)
class ViewSpec:
    """How a view is built and encoded.

    src_role, tgt_role : encoder role of the English side (X) and the target side (Y).
    default_langs : target languages when none are given.
    description : one line for reports.
    """

    view: View
    src_role: Role
    tgt_role: Role
    default_langs: tuple[str, ...]
    description: str


VIEWS: Mapping[View, ViewSpec] = {
    View.XQUAD_QUESTIONS: ViewSpec(
        View.XQUAD_QUESTIONS, Role.QUERY, Role.QUERY, XQUAD_TARGET_LANGS,
        "XQuAD: English question <-> its professional translation (query / query)",
    ),
    View.XQUAD_PASSAGES: ViewSpec(
        View.XQUAD_PASSAGES, Role.PASSAGE, Role.QUERY, XQUAD_TARGET_LANGS,
        "XQuAD: English paragraph <-> target-language question about it (passage / query)",
    ),
    View.XOR_TRANSLATIONS: ViewSpec(
        View.XOR_TRANSLATIONS, Role.QUERY, Role.QUERY, XOR_LANGS,
        "XOR-TyDi: English human translation <-> original question (query / query)",
    ),
    View.TATOEBA: ViewSpec(
        View.TATOEBA, Role.QUERY, Role.QUERY, XOR_LANGS,
        "Tatoeba (LASER test set): English sentence <-> translation (query / query)",
    ),
    View.MKQA: ViewSpec(
        View.MKQA, Role.QUERY, Role.QUERY, MKQA_TARGET_LANGS,
        "MKQA: English query <-> its translation (query / query)",
    ),
    View.XQG: ViewSpec(
        View.XQG, Role.PASSAGE, Role.QUERY, XQUAD_TARGET_LANGS,
        "xQG: English paragraph p or p' <-> held-out human question about it (passage / query)",
    ),
}  # fmt: skip

TATOEBA_CODES: Mapping[str, str] = {
    "ar": "ara", "bn": "ben", "da": "dan", "de": "deu", "el": "ell", "es": "spa", "fi": "fin",
    "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind", "it": "ita", "ja": "jpn",
    "km": "khm", "ko": "kor", "ms": "zsm", "nl": "nld", "no": "nob", "pl": "pol", "pt": "por",
    "ro": "ron", "ru": "rus", "sv": "swe", "te": "tel", "th": "tha", "tr": "tur", "vi": "vie",
    "zh": "cmn",
}  # fmt: skip
"""ISO 639-1 codes of the toolkit's languages -> Tatoeba's 3-letter codes (``zh`` is Mandarin,
``cmn``; ``no`` is Bokmål, ``nob``; ``ms`` is Standard Malay, ``zsm``)."""


def _langs(langs: Iterable[str] | str | None, default: Sequence[str]) -> list[str]:
    if langs is None:
        return list(default)
    if isinstance(langs, str):
        return [langs]
    langs = list(langs)
    if not langs:
        raise ValueError("expected at least one language, found an empty list; pass None for the default")
    return langs


# ----------------------------------------------------------------------------------- views


def xquad_question_pairs(langs: Iterable[str] | str | None = None, *, data: RetrievalData | None = None) -> pd.DataFrame:
    """English XQuAD question <-> the same question in each target language.

    Parameters
    ----------
    langs : target languages among the 11 non-English XQuAD languages (None: all 11).
    data : an already loaded :func:`xqg_lab.data.load_xquad` result holding English and
        ``langs`` (loaded if omitted).

    Returns
    -------
    DataFrame
        :data:`PAIR_COLUMNS` + ``question_id``, ``doc_id``; ``pair_id`` = the target
        ``query_id`` (``"<squad id>-<lang>"``); 1,190 rows per language, sorted by ``lang``
        then ``question_id``. Encode both sides as queries.
    """
    langs = _langs(langs, XQUAD_TARGET_LANGS)
    if "en" in langs:
        raise ValueError("expected target languages other than 'en' (English is the source side)")
    data = _xquad(data, ["en", *langs])
    q = data.queries.merge(data.qrels[["query_id", "doc_id"]], on="query_id", validate="one_to_one")
    en = q[q["lang"] == "en"].set_index("question_id")["text"]
    tgt = q[q["lang"].isin(langs)].sort_values(["lang", "question_id"], kind="stable")
    missing = sorted(set(tgt["question_id"]) - set(en.index))
    if missing:
        raise ValueError(f"{len(missing)} target questions have no English question, e.g. {missing[:3]}")
    out = tgt.assign(src_text=tgt["question_id"].map(en).to_numpy())
    out = out.rename(columns={"query_id": "pair_id", "text": "tgt_text"})
    return out[[*PAIR_COLUMNS, "question_id", "doc_id"]].reset_index(drop=True)


def xquad_passage_pairs(
    langs: Iterable[str] | str | None = None,
    *,
    data: RetrievalData | None = None,
    max_per_passage: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """English XQuAD paragraph <-> a target-language question about it.

    ``src_text`` is ``title + " " + text``, the string :meth:`Encoder.encode_passages`
    encodes, so embed the source side as passages and the target side as queries.

    Parameters
    ----------
    langs : target languages (None: the 11 non-English XQuAD languages; ``"en"`` allowed
        here, pairing paragraphs with English questions).
    max_per_passage : keep at most this many questions per (paragraph, language), the
        first by ``sha256(f"{seed}:{question_id}")`` -- the same questions in every language
        (None: all). With None a paragraph appears once per question
        asked about it, so the source side has repeated rows; ``1`` makes every row unique,
        which keeps the InfoNCE cap ``log N`` and the bitext chance ``1/N`` exact.

    Returns
    -------
    DataFrame
        :data:`PAIR_COLUMNS` + ``question_id``, ``doc_id``; ``pair_id`` = ``query_id``.
    """
    langs = _langs(langs, XQUAD_TARGET_LANGS)
    data = _xquad(data, langs)
    q = data.queries[data.queries["lang"].isin(langs)]
    q = q.merge(data.qrels[["query_id", "doc_id"]], on="query_id", validate="one_to_one")
    return _passage_rows(q, data.passages, max_per_passage=max_per_passage, seed=seed)


def xor_translation_pairs(langs: Iterable[str] | str | None = None, *, folder=None) -> pd.DataFrame:
    """XOR-TyDi human English translation <-> original question, for each of ``langs``.

    ``langs`` among ar bn fi ja ko ru te (None: all 7); ``folder`` as in
    :func:`xqg_lab.data.load_xor_translations`. Returns :data:`PAIR_COLUMNS`
    (``pair_id`` ``"<lang>-<line:06d>"``), about 4.6k rows per language; both sides queries.
    """
    import pandas as pd

    from xqg_lab.data.xor_tydi import load_xor_translations

    frames = [load_xor_translations(lang, folder=folder) for lang in _langs(langs, XOR_LANGS)]
    return pd.concat(frames, ignore_index=True)[list(PAIR_COLUMNS)]


def tatoeba_pairs(langs: Iterable[str] | str | None = None, *, folder=None) -> pd.DataFrame:
    """Tatoeba English sentence <-> translation, for each of ``langs``.

    ``langs``: Tatoeba's 3-letter codes (any of its 112, :func:`xqg_lab.data.tatoeba_langs`)
    or ISO 639-1 codes of :data:`TATOEBA_CODES` (None: the XOR languages ar bn fi ja ko ru
    te, i.e. ara ben fin jpn kor rus tel). The ``lang`` column keeps the code as given, so
    ``"te"`` rows line up with the other views' ``"te"``. Both sides queries. E.g. 234 pairs
    for te / tel, 1,000 for most others.
    """
    import pandas as pd

    from xqg_lab.data.tatoeba import load_tatoeba

    frames = []
    for lang in _langs(langs, XOR_LANGS):
        code = TATOEBA_CODES.get(lang, lang)
        frame = load_tatoeba(code, folder=folder)
        frames.append(frame.assign(lang=lang))
    return pd.concat(frames, ignore_index=True)[list(PAIR_COLUMNS)]


def mkqa_pairs(langs: Iterable[str] | str | None = None, *, source: str = "sample") -> pd.DataFrame:
    """English MKQA query <-> the same query in each target language.

    Parameters
    ----------
    langs : MKQA codes other than ``en`` (None: the 25 others; Chinese is zh_cn, zh_hk, zh_tw).
    source : ``"sample"`` (6 examples, in the offline mirror), ``"full"`` (10,000; needs a
        connection) or a path, as in :func:`xqg_lab.data.load_mkqa`.

    Returns
    -------
    DataFrame
        :data:`PAIR_COLUMNS` + ``question_id``; ``pair_id`` = the target ``query_id``. With
        ``source="sample"`` there are **6 pairs per language** (a :class:`UserWarning` says
        so): enough to exercise the code, far too few to measure anything.
    """
    from xqg_lab.data.mkqa import load_mkqa

    langs = _langs(langs, MKQA_TARGET_LANGS)
    if "en" in langs:
        raise ValueError("expected target languages other than 'en' (English is the source side)")
    q = load_mkqa(source, langs=["en", *langs])
    en = q[q["lang"] == "en"].set_index("question_id")["text"]
    tgt = q[q["lang"] != "en"].sort_values(["lang", "question_id"], kind="stable")
    out = tgt.assign(src_text=tgt["question_id"].map(en).to_numpy())
    out = out.rename(columns={"query_id": "pair_id", "text": "tgt_text"})
    out = out[[*PAIR_COLUMNS, "question_id"]].reset_index(drop=True)
    n = out.groupby("lang").size().min() if len(out) else 0
    if n < SMALL_N:
        warnings.warn(
            f"MKQA ({source!r}): only {n} pairs per language -- estimates on so few pairs are "
            "illustrative only; use source='full' (10,000 pairs) on a connected machine",
            UserWarning,
            stacklevel=2,
        )
    return out


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


def load_view(view: View | str, langs: Iterable[str] | str | None = None, **kwargs: Any) -> pd.DataFrame:
    """Build a view by name (any :class:`View` but ``xqg``, which needs a split:
    :func:`xqg_pairs`); ``kwargs`` go to the view's function (e.g. ``source`` for mkqa)."""
    view = check_choice(view, View, what="view")
    builders: dict[View, Callable[..., pd.DataFrame]] = {
        View.XQUAD_QUESTIONS: xquad_question_pairs,
        View.XQUAD_PASSAGES: xquad_passage_pairs,
        View.XOR_TRANSLATIONS: xor_translation_pairs,
        View.TATOEBA: tatoeba_pairs,
        View.MKQA: mkqa_pairs,
    }
    if view not in builders:
        raise ValueError("the 'xqg' view needs a held-out split; build it with xqg_pairs(data, split)")
    return builders[view](langs, **kwargs)


# -------------------------------------------------------------------------------- helpers


def pair_counts(views: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Pairs per view and language: ``view, lang, n_pairs, note`` (``note`` flags fewer than
    :data:`SMALL_N` pairs, where every estimate is too noisy to read)."""
    import pandas as pd

    rows = []
    for name, pairs in views.items():
        for lang, n in pairs.groupby("lang", sort=True).size().items():
            note = f"only {n} pairs: illustrative only, not a measurement" if n < SMALL_N else ""
            rows.append({"view": name, "lang": lang, "n_pairs": int(n), "note": note})
    return pd.DataFrame(rows, columns=["view", "lang", "n_pairs", "note"])


def subsample_pairs(pairs: pd.DataFrame, *, max_pairs: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``max_pairs`` rows per language, drawn without replacement with ``seed``, in
    their original order (None: all rows). Bitext accuracy and the InfoNCE cap depend on N,
    so an equal N makes languages comparable."""
    if max_pairs is None:
        return pairs
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, (int, np.integer)) or max_pairs < 2:
        raise ValueError(f"expected max_pairs as an int >= 2 or None, found {max_pairs!r}")
    rng = np.random.default_rng(seed)
    keep = []
    for _, idx in pairs.groupby("lang", sort=True).indices.items():
        keep.extend(idx if len(idx) <= max_pairs else np.sort(rng.choice(idx, size=max_pairs, replace=False)))
    return pairs.iloc[np.sort(np.asarray(keep, dtype=np.int64))].reset_index(drop=True)


def embed_pairs(
    pairs: pd.DataFrame,
    encoder,
    *,
    src_role: Role | str = Role.QUERY,
    tgt_role: Role | str = Role.QUERY,
) -> tuple[np.ndarray, np.ndarray]:
    """Embed both sides of ``pairs``: ``(X, Y)``, float32 ``(n, dim)`` each, row i of X
    paired with row i of Y (the encoder's cache makes repeated calls free)."""
    _check_pairs(pairs)
    src_role = check_choice(src_role, Role, what="src_role")
    tgt_role = check_choice(tgt_role, Role, what="tgt_role")
    X = np.asarray(encoder.encode(pairs["src_text"].tolist(), role=src_role), dtype=np.float32)
    Y = np.asarray(encoder.encode(pairs["tgt_text"].tolist(), role=tgt_role), dtype=np.float32)
    return X, Y


def embed_view(pairs: pd.DataFrame, encoder, view: View | str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`embed_pairs` with the roles of ``view`` (:data:`VIEWS`)."""
    spec = VIEWS[check_choice(view, View, what="view")]
    return embed_pairs(pairs, encoder, src_role=spec.src_role, tgt_role=spec.tgt_role)


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


# ------------------------------------------------------------------------------- internal


def _xquad(data, langs):
    if data is None:
        from xqg_lab.data.xquad import load_xquad

        return load_xquad(sorted(set(langs)))
    missing = sorted(set(langs) - set(data.queries["lang"]))
    if missing:
        raise ValueError(f"data lacks the languages {missing}; load them with load_xquad")
    return data


def _passage_rows(q, passages, *, max_per_passage, seed) -> pd.DataFrame:
    """Rows (question, its paragraph) from queries ``q`` with ``doc_id``."""
    if max_per_passage is not None:
        if isinstance(max_per_passage, bool) or not isinstance(max_per_passage, (int, np.integer)) or max_per_passage < 1:
            raise ValueError(f"expected max_per_passage as an int >= 1 or None, found {max_per_passage!r}")
        # rank the questions of each (paragraph, language) by a hash of the seed and the question
        # id: the same questions are kept in every language, whatever else is loaded
        key = [hashlib.sha256(f"{seed}:{qid}".encode()).hexdigest() for qid in q["question_id"]]
        rank = q.assign(_key=key).groupby(["lang", "doc_id"])["_key"].rank(method="first")
        q = q[rank.to_numpy() <= max_per_passage]
    text_of = {d: passage_text(t, x) for d, t, x in zip(passages["doc_id"], passages["title"], passages["text"])}
    missing = sorted(set(q["doc_id"]) - set(text_of))
    if missing:
        raise ValueError(f"questions name paragraphs missing from the passages, e.g. {missing[:3]}")
    q = q.sort_values(["lang", "doc_id", "question_id"], kind="stable")
    out = q.assign(src_text=q["doc_id"].map(text_of).to_numpy())
    out = out.rename(columns={"query_id": "pair_id", "text": "tgt_text"})
    return out[[*PAIR_COLUMNS, "question_id", "doc_id"]].reset_index(drop=True)


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
            f"question {per_question[per_question > 1].index[0]!r} has both roles; a question must be "
            "on one side only"
        )
    return split.drop_duplicates("question_id")


def _check_pairs(pairs, extra: Sequence[str] = ()) -> None:
    import pandas as pd

    if not isinstance(pairs, pd.DataFrame):
        raise TypeError(f"expected pairs as a DataFrame with {', '.join(PAIR_COLUMNS)}, found {type(pairs).__name__}")
    missing = [c for c in (*PAIR_COLUMNS, *extra) if c not in pairs.columns]
    if missing:
        raise ValueError(f"expected pairs with columns {', '.join((*PAIR_COLUMNS, *extra))}; missing {missing}")
    if len(pairs) == 0:
        raise ValueError("expected at least one pair, found an empty frame")
