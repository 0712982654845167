"""Is a generated query in its target language? A script test plus a language identifier.

Two tests, both from the language table :data:`~xqg_lab.generate.base.LANGUAGES`:

1. **Script**: at least ``min_script_share`` (default 0.25) of the query's letters (Unicode
   category L*) are in the language's scripts (:data:`SCRIPTS`, the Unicode Script property
   as the ``regex`` module knows it; a letter of Script=Common counts for the script its
   Script_Extensions name, e.g. the kana prolongation mark); Japanese also needs
   a kana letter, Chinese may have none. Digits, punctuation and marks are ignored. The
   low default lets names in Latin letters through: "ما هو Super Bowl 50؟" passes for
   Arabic (4 of its 13 letters are Arabic), while English text has no letter in the
   target script at all.
2. **Language identification**, for languages whose script is shared (Latin, Arabic,
   Cyrillic, Devanagari): the top label of ``py3langid`` (a maintained fork of ``langid.py``,
   Lui and Baldwin 2012, 142 languages, model inside the wheel) must be one of the
   language's labels (Arabic accepts its Egyptian and Moroccan labels).

On human questions (XQuAD test set, 1,190 per language; XOR-TyDi dev) the pass rate is
about 0.98-1.0 for every language (Chinese is tested by script only: the identifier labels
10 % of XQuAD's Chinese questions as Wu Chinese).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from xqg_lab.generate.base import LANGUAGES, get_language

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SCRIPTS: Mapping[str, tuple[str, ...]] = {
    "Latin": ("Latin",),
    "Greek": ("Greek",),
    "Cyrillic": ("Cyrillic",),
    "Arabic": ("Arabic",),
    "Hebrew": ("Hebrew",),
    "Devanagari": ("Devanagari",),
    "Bengali": ("Bengali",),
    "Telugu": ("Telugu",),
    "Thai": ("Thai",),
    "Hangul": ("Hangul",),
    "Kana": ("Hiragana", "Katakana"),
    "Han": ("Han",),
}
"""Script names of the language table -> Unicode ``Script`` values (``regex``'s ``\\p{Script=...}``)."""

@lru_cache(maxsize=1)
def _patterns():
    """``(letter, by Script, by Script_Extensions)``: compiled on first use, so importing is cheap."""
    import regex

    def union(prop: str) -> dict:
        return {
            name: regex.compile("|".join(rf"\p{{{prop}={value}}}" for value in values))
            for name, values in SCRIPTS.items()
        }

    # Script_Extensions places the letters of Script=Common that a script uses (the kana
    # prolongation mark, the Arabic tatweel)
    return regex.compile(r"\p{L}"), union("Script"), union("Script_Extensions")


@lru_cache(maxsize=4096)
def _script_of(char: str) -> str | None:
    _, by_script, by_extension = _patterns()
    for patterns in (by_script, by_extension):
        for script, pattern in patterns.items():
            if pattern.match(char):
                return script
    return None


def script_shares(text: str) -> dict[str, float]:
    """Share of the letters of ``text`` in each script (scripts with no letter omitted).

    Letters (Unicode category L*) outside :data:`SCRIPTS` count under ``"Other"``; an empty
    dict when ``text`` has no letter.
    """
    counts: dict[str, int] = {}
    for char in _patterns()[0].findall(text):
        script = _script_of(char) or "Other"
        counts[script] = counts.get(script, 0) + 1
    total = sum(counts.values())
    return {script: count / total for script, count in counts.items()} if total else {}


@lru_cache(maxsize=1)
def _identifier():
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:
        raise ImportError(
            "the language check needs the PyPI package 'py3langid': pip install py3langid"
        ) from None
    return LanguageIdentifier.from_model_file(MODEL_FILE)


def identify_language(text: str) -> str:
    """Top label of ``py3langid`` for ``text`` (ISO 639-1 where one exists)."""
    return _identifier().classify(text)[0]


def in_target_language(text: str, lang: str, *, min_script_share: float = 0.25) -> bool:
    """Whether ``text`` is written in ``lang``'s script(s) and, where needed, identified as ``lang``.

    ``False`` for a text without letters (empty, digits only).
    """
    spec = get_language(lang)
    shares = script_shares(text)
    if not shares:
        return False
    if sum(shares.get(s, 0.0) for s in spec.scripts) < min_script_share:
        return False
    if spec.required_script is not None and shares.get(spec.required_script, 0.0) == 0.0:
        return False
    if spec.forbidden_script is not None and shares.get(spec.forbidden_script, 0.0) > 0.0:
        return False
    if spec.langid:
        return identify_language(text) in spec.langid
    return True


def check_languages(
    texts: Sequence[str], langs: Sequence[str] | str, *, min_script_share: float = 0.25
) -> np.ndarray:
    """Per text, whether it is in its target language: bool array of shape ``(len(texts),)``.

    ``langs`` is one code for all texts or one per text.
    """
    import numpy as np

    texts = list(texts)
    if isinstance(langs, str):
        langs = [langs] * len(texts)
    langs = list(langs)
    if len(langs) != len(texts):
        raise ValueError(
            f"expected one language per text, found {len(langs)} languages for {len(texts)} texts"
        )
    for lang in set(langs):
        get_language(lang)
    return np.fromiter(
        (in_target_language(str(t), lg, min_script_share=min_script_share) for t, lg in zip(texts, langs)),
        dtype=bool,
        count=len(texts),
    )


def pass_rate_by_language(records: pd.DataFrame, *, min_script_share: float = 0.25) -> pd.DataFrame:
    """Pass rate of the language check per language.

    Parameters
    ----------
    records : DataFrame
        ``lang`` and either ``in_target_language`` (bool, as in a query store) or ``text``
        (checked here).

    Returns
    -------
    DataFrame
        ``lang``, ``n`` (queries), ``n_pass``, ``pass_rate`` (in [0, 1]), sorted by ``lang``.
    """
    import pandas as pd

    if "lang" not in records.columns or not ({"in_target_language", "text"} & set(records.columns)):
        raise ValueError(
            f"expected records with a lang column and an in_target_language or text column, "
            f"found {list(records.columns)}"
        )
    if "in_target_language" in records.columns:
        passed = records["in_target_language"].astype(bool).to_numpy()
    else:
        passed = check_languages(
            records["text"].tolist(), records["lang"].tolist(), min_script_share=min_script_share
        )
    frame = pd.DataFrame({"lang": records["lang"].to_numpy(), "passed": passed})
    out = frame.groupby("lang", sort=True)["passed"].agg(n="size", n_pass="sum").reset_index()
    out["n_pass"] = out["n_pass"].astype("int64")
    out["pass_rate"] = out["n_pass"] / out["n"]
    return out


def supported_languages() -> tuple[str, ...]:
    """Codes the check knows (those of the language table)."""
    return tuple(sorted(LANGUAGES))
