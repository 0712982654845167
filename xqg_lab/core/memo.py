"""Results of expensive, deterministic computations kept in the toolkit's cache, so that a
warm re-run (a new run folder, ``--force``, a changed notebook) does not recompute them.

:func:`call_cached` memoises a call with ``joblib.Memory`` under ``<cache>/results``: the key
is a hash of the function's qualified name, of every argument's content (arrays and frames
included) and of a ``code_key`` (:func:`code_key`: the source of the packages that compute the
result plus the numerical libraries' versions), so that a changed estimator or library
computes afresh. Warnings raised by the call are stored with its result and raised again
when it is read back; an exception is not stored (the call is made again next time).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from xqg_lab.core.paths import cache_dir

LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas")
"""Libraries whose versions are part of every :func:`code_key`."""


@cache
def code_key(*packages: ModuleType) -> str:
    """SHA-256 of the ``.py`` files of ``packages`` (modules or packages of the toolkit) plus the
    versions of :data:`LIBRARIES`."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for package in packages:
        path = Path(package.__file__).resolve()
        root = path.parent if path.name == "__init__.py" else path
        for source in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            digest.update(f"{package.__name__}/{source.name}".encode() + b"\0" + source.read_bytes())
    for library in LIBRARIES:
        digest.update(f"{library}=={version(library)}".encode())
    return digest.hexdigest()


def _call_recording_warnings(func: Callable, args: tuple, kwargs: dict, key: str) -> tuple[Any, list[tuple[str, str]]]:
    """``(func(*args, **kwargs), [(warning category name, message), ...])``; ``key`` only keys the cache."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = func(*args, **kwargs)
    return result, [(w.category.__name__, str(w.message)) for w in caught]


def call_cached(func: Callable, /, *args: Any, code: str, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)``, read from the cache when the same call was made before with the
    same ``code`` (a :func:`code_key`). ``func`` must be a module-level function."""
    import joblib

    memory = joblib.Memory(cache_dir() / "results", verbose=0)
    result, caught = memory.cache(_call_recording_warnings)(func, args, kwargs, code)
    categories = {c.__name__: c for c in (UserWarning, RuntimeWarning, FutureWarning, DeprecationWarning)}
    for category, message in caught:
        warnings.warn(message, categories.get(category, UserWarning), stacklevel=2)
    return result
