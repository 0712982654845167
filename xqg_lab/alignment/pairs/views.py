"""The sentence- and passage-level paired views (all but ``xqg``, in :mod:`.xqg`), their
languages and encoder roles, and embedding both sides of a view."""

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


VIEWS: Mapping[View, ViewSpec] = {spec.view: spec for spec in (
    ViewSpec(View.XQUAD_QUESTIONS, Role.QUERY, Role.QUERY, XQUAD_TARGET_LANGS, "XQuAD: English question <-> its professional translation (query / query)"),
    ViewSpec(View.XQUAD_PASSAGES, Role.PASSAGE, Role.QUERY, XQUAD_TARGET_LANGS, "XQuAD: English paragraph <-> target-language question about it (passage / query)"),
    ViewSpec(View.XOR_TRANSLATIONS, Role.QUERY, Role.QUERY, XOR_LANGS, "XOR-TyDi: English human translation <-> original question (query / query)"),
    ViewSpec(View.TATOEBA, Role.QUERY, Role.QUERY, XOR_LANGS, "Tatoeba (LASER test set): English sentence <-> translation (query / query)"),
    ViewSpec(View.MKQA, Role.QUERY, Role.QUERY, MKQA_TARGET_LANGS, "MKQA: English query <-> its translation (query / query)"),
    ViewSpec(View.XQG, Role.PASSAGE, Role.QUERY, XQUAD_TARGET_LANGS, "xQG: English paragraph p or p' <-> held-out human question about it (passage / query)"),
)}  # fmt: skip

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


def _check_pairs(pairs, extra: Sequence[str] = ()) -> None:
    import pandas as pd

    if not isinstance(pairs, pd.DataFrame):
        raise TypeError(f"expected pairs as a DataFrame with {', '.join(PAIR_COLUMNS)}, found {type(pairs).__name__}")
    missing = [c for c in (*PAIR_COLUMNS, *extra) if c not in pairs.columns]
    if missing:
        raise ValueError(f"expected pairs with columns {', '.join((*PAIR_COLUMNS, *extra))}; missing {missing}")
    if len(pairs) == 0:
        raise ValueError("expected at least one pair, found an empty frame")
