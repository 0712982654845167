"""Where the toolkit keeps downloaded files, converted models and caches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The root cache folder: ``$XQG_LAB_CACHE`` if set, else the user cache dir."""
    env = os.environ.get("XQG_LAB_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("xqg_lab"))
