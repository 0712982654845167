"""Tatoeba bitext test set as used by LASER (Artetxe & Schwenk, 2019): 112 languages x English."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from xqg_lab.core.validation import check_choice
from xqg_lab.data.common import OnEmpty, read_aligned_pairs

if TYPE_CHECKING:
    import pandas as pd

_PREFIX = "tatoeba."


def tatoeba_langs() -> tuple[str, ...]:
    """The 3-letter codes of the Tatoeba languages in the registry (sorted; 112)."""
    from xqg_lab.data.fetch import registry

    return tuple(sorted({name.split(".")[1] for name in registry() if name.startswith(_PREFIX)}))


def load_tatoeba(
    lang: str, *, folder: str | os.PathLike[str] | None = None, on_empty: OnEmpty | str = OnEmpty.DROP
) -> pd.DataFrame:
    """Load the Tatoeba test pairs between English and ``lang``.

    Parameters
    ----------
    lang : str
        Tatoeba's 3-letter code (e.g. ``"ara"``, ``"tel"``, ``"cmn"``); see :func:`tatoeba_langs`.
    folder : path, optional
        Folder holding ``tatoeba.<lang>-eng.<lang>`` and ``tatoeba.<lang>-eng.eng``; fetched
        if omitted.
    on_empty : {"drop", "raise"}
        A pair with an empty side: skip it with a warning, or raise.

    Returns
    -------
    DataFrame
        ``pair_id`` (``"<lang>-<line:06d>"``), ``lang`` (3-letter code), ``src_text``
        (English), ``tgt_text`` (``lang``), in line order (e.g. 234 pairs for tel, 548 for tha).

    Raises
    ------
    ValueError
        Unknown code (lists the valid ones).
    DataFormatError
        The two files have different line counts (names both), invalid UTF-8, or an empty
        line with ``on_empty="raise"``.
    """
    check_choice(lang, tatoeba_langs(), what="Tatoeba language code")
    if folder is None:
        from xqg_lab.data.fetch import fetch

        other_path = fetch(f"tatoeba.{lang}.{lang}")
        eng_path = fetch(f"tatoeba.{lang}.eng")
    else:
        other_path = Path(folder) / f"tatoeba.{lang}-eng.{lang}"
        eng_path = Path(folder) / f"tatoeba.{lang}-eng.eng"
    return read_aligned_pairs(eng_path, other_path, lang=lang, on_empty=on_empty)
