"""The generator interface, the language table and the helpers every backend shares.

A generator writes ``n`` queries in each target language for every passage (xQG, Zhuang,
Shou and Zuccon, SIGIR 2023, arXiv 2305.03950). All backends take their settings in the
constructor and expose two methods:

- ``generate(passages, *, langs, n_per_lang, seed=0, progress=False)`` returns one row per
  generated query: ``doc_id`` (str), ``lang`` (str, ISO 639-1), ``sample`` (int, 0..n-1),
  ``text`` (str), in passage order, then ``langs`` order, then sample order;
- ``params()`` returns a JSON-serialisable dict of everything that determines the output
  (model identity, prompt template, decoding settings), for run manifests and the store.

Nothing here imports torch or transformers.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from xqg_lab.core.validation import check_frame

if TYPE_CHECKING:
    import pandas as pd

RECORD_COLUMNS = ("doc_id", "lang", "sample", "text")
"""Columns of a generator's output, in order."""

PASSAGE_COLUMNS = ("doc_id", "title", "text")
"""Columns a generator reads from its ``passages`` frame (``title`` may be empty)."""


# -- languages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Language:
    """One row of the language table.

    code : ISO 639-1 code, the value of the ``lang`` column.
    name : English name, as the released xQG generator's prompt spells it ("Bengali").
    scripts : Unicode scripts the language is written in (names of
        :data:`xqg_lab.generate.langcheck.SCRIPTS`); a query passes the script test
        when most of its letters are in these scripts.
    langid : labels of the language identifier (``py3langid``) that count as this
        language; empty when the script alone decides (Greek, Thai, Hangul, ...).
    required_script : a script at least one letter must be in (kana for Japanese).
    forbidden_script : a script no letter may be in (kana for Chinese).
    """

    code: str
    name: str
    scripts: tuple[str, ...]
    langid: tuple[str, ...] = ()
    required_script: str | None = None
    forbidden_script: str | None = None


LANGUAGES: Mapping[str, Language] = {
    lang.code: lang
    for lang in (
        Language("ar", "Arabic", ("Arabic",), ("ar", "arz", "ary")),
        Language("bn", "Bengali", ("Bengali",)),
        Language("de", "German", ("Latin",), ("de",)),
        Language("el", "Greek", ("Greek",)),
        Language("en", "English", ("Latin",), ("en",)),
        Language("es", "Spanish", ("Latin",), ("es",)),
        Language("fi", "Finnish", ("Latin",), ("fi",)),
        Language("fr", "French", ("Latin",), ("fr",)),
        Language("hi", "Hindi", ("Devanagari",), ("hi",)),
        Language("id", "Indonesian", ("Latin",), ("id", "ms")),
        Language("it", "Italian", ("Latin",), ("it",)),
        Language("ja", "Japanese", ("Han", "Kana"), required_script="Kana"),
        Language("ko", "Korean", ("Hangul",)),
        Language("nl", "Dutch", ("Latin",), ("nl",)),
        Language("pl", "Polish", ("Latin",), ("pl",)),
        Language("pt", "Portuguese", ("Latin",), ("pt",)),
        Language("ro", "Romanian", ("Latin",), ("ro",)),
        Language("ru", "Russian", ("Cyrillic",), ("ru",)),
        Language("sv", "Swedish", ("Latin",), ("sv",)),
        Language("sw", "Swahili", ("Latin",), ("sw",)),
        Language("te", "Telugu", ("Telugu",)),
        Language("th", "Thai", ("Thai",)),
        Language("tr", "Turkish", ("Latin",), ("tr",)),
        Language("vi", "Vietnamese", ("Latin",), ("vi",)),
        Language("zh", "Chinese", ("Han",), forbidden_script="Kana"),
    )
}
"""ISO 639-1 code -> :class:`Language`: the XQuAD 12 (ar de el en es hi ro ru th tr vi zh),
the XOR-TyDi 7 (ar bn fi ja ko ru te) and a few more. The names are those of the released
xQG generator's prompt (``ielab/xQG4xDR``: Arabic, Bengali, Finnish, Japanese, Korean,
Russian, Telugu)."""


def language_name(lang: str) -> str:
    """English name of ``lang`` (``"bn"`` -> ``"Bengali"``); ``ValueError`` if unknown."""
    return get_language(lang).name


def get_language(lang: str) -> Language:
    """The :class:`Language` row of ``lang``; ``ValueError`` listing the known codes."""
    if lang not in LANGUAGES:
        valid = ", ".join(sorted(LANGUAGES))
        raise ValueError(f"unknown language {lang!r}; expected an ISO 639-1 code among: {valid}")
    return LANGUAGES[lang]


# -- closed choices -------------------------------------------------------------------------


class Dtype(str, Enum):
    """Floating-point type of a model's weights and activations.

    ``"float16"`` overflows in T5/mT5 models (NaN outputs); use ``"bfloat16"`` or
    ``"float32"`` for them.
    """

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


# -- the interface --------------------------------------------------------------------------


class Generator(ABC):
    """A query generator: settings in the constructor, work in :meth:`generate`.

    Subclasses set ``name`` (the registry name) and may list ``extra_columns`` they add to
    the records (str-valued, e.g. ``question_id`` for held-out human queries).
    """

    name: ClassVar[str] = ""
    extra_columns: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def generate(
        self,
        passages: pd.DataFrame,
        *,
        langs: Iterable[str] | str,
        n_per_lang: int,
        seed: int = 0,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Generate ``n_per_lang`` queries per language for every passage.

        Parameters
        ----------
        passages : DataFrame
            ``doc_id`` (str, unique), ``title`` (str, may be empty), ``text`` (str).
        langs : iterable of str or str
            Target languages (ISO 639-1 codes of :data:`LANGUAGES`).
        n_per_lang : int >= 1
            Queries per passage and language.
        seed : int
            Seed of any randomness; a query's text depends only on the seed, the
            generator's params, its passage, its language and its sample index.
        progress : bool
            Show a progress bar.

        Returns
        -------
        DataFrame
            :data:`RECORD_COLUMNS` plus :attr:`extra_columns`: ``doc_id`` (str),
            ``lang`` (str), ``sample`` (int64, 0-based), ``text`` (str).
        """

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Every setting that determines the output, JSON-serialisable."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# -- helpers shared by the backends --------------------------------------------------------


def check_passages(passages: pd.DataFrame) -> pd.DataFrame:
    """Validate a passages frame; returns ``doc_id``, ``title``, ``text`` as str columns.

    A missing ``title`` column (or missing titles) become empty strings.
    """
    import pandas as pd

    check_frame(passages, ("doc_id", "text"), what="passages", fix="add the columns doc_id and text (title optional)")
    out = pd.DataFrame(
        {
            "doc_id": passages["doc_id"].astype(str).to_numpy(),
            "title": (
                passages["title"].fillna("").astype(str).to_numpy()
                if "title" in passages.columns
                else [""] * len(passages)
            ),
            "text": passages["text"].fillna("").astype(str).to_numpy(),
        }
    )
    duplicated = out["doc_id"][out["doc_id"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"expected unique doc_id values in passages, found duplicates: {duplicated[:5]}")
    return out


def check_n(n_per_lang: Any) -> int:
    if isinstance(n_per_lang, bool) or not isinstance(n_per_lang, int) or n_per_lang < 1:
        raise ValueError(f"expected n_per_lang to be an int >= 1, found {n_per_lang!r}")
    return n_per_lang


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"expected seed to be an int >= 0, found {seed!r}")
    return seed


def row_seed(seed: int, doc_id: str, lang: str, sample: int) -> int:
    """Seed of one generated query: a 63-bit integer hashed from its identity.

    The query's random draws come from its own generator seeded with this value, so its
    text does not depend on which other passages, languages or samples are generated with
    it, nor on the batch size.
    """
    key = json.dumps([seed, doc_id, lang, sample], ensure_ascii=True).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1


def params_hash(params: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``params`` (sorted keys, no spaces), hex."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def records_frame(
    rows: Sequence[Mapping[str, Any]] | None, extra_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Records as a frame with :data:`RECORD_COLUMNS` (+ extras) and the documented dtypes."""
    import pandas as pd

    columns = list(RECORD_COLUMNS) + list(extra_columns)
    frame = pd.DataFrame(list(rows or []), columns=columns)
    frame["sample"] = frame["sample"].astype("int64")
    for column in ("doc_id", "lang", "text", *extra_columns):
        frame[column] = frame[column].astype(object)
    return frame.reset_index(drop=True)


PROMPT_FIELDS = frozenset({"language", "title", "passage"})


def check_template(template: str, *, required: Iterable[str] = ("language", "passage")) -> str:
    """Validate a prompt template: only ``{language}``, ``{title}``, ``{passage}`` fields."""
    import string

    if not isinstance(template, str):
        raise TypeError(f"expected the prompt template as str, found {type(template).__name__}")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"malformed prompt template {template!r}: {exc}") from None
    unknown = sorted(fields - PROMPT_FIELDS)
    if unknown:
        raise ValueError(
            f"expected prompt template fields among {{language}}, {{title}}, {{passage}}; "
            f"found {unknown} in {template!r}"
        )
    missing = [f for f in required if f not in fields]
    if missing:
        raise ValueError(f"expected the prompt template to contain {missing}, found {template!r}")
    return template
