"""Coarse progress bars for long steps, safe under papermill.

Every long step of the toolkit (encoding, scoring, training, generation, alignment
bootstraps and permutation nulls) takes a ``progress`` keyword and draws its bar through
:func:`tqdm`: ``tqdm.auto`` (a widget in JupyterLab, text elsewhere) redrawn at most every :data:`MIN_INTERVAL_S` seconds, because a
bar redrawn many times a second floods a notebook kernel's output channel when papermill
records it. ``XQG_LAB_PROGRESS=0`` in the environment turns every bar off (batch runs).
"""

from __future__ import annotations

import os

MIN_INTERVAL_S = 2.0
"""Seconds between two redraws of a bar."""


def enabled(progress: bool) -> bool:
    """``progress``, unless the environment says ``XQG_LAB_PROGRESS=0``."""
    return bool(progress) and os.environ.get("XQG_LAB_PROGRESS", "1").strip() not in ("0", "false", "no", "off")


def tqdm(*args, **kwargs):
    """``tqdm.auto.tqdm(*args, **kwargs)``, redrawn at most every :data:`MIN_INTERVAL_S` s
    (unless ``mininterval`` is given) and off when ``XQG_LAB_PROGRESS=0``."""
    from tqdm.auto import tqdm as auto_tqdm

    kwargs.setdefault("mininterval", MIN_INTERVAL_S)
    if not enabled(True):
        kwargs["disable"] = True
    return auto_tqdm(*args, **kwargs)
