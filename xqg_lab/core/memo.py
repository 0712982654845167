"""Result frames of expensive, deterministic computations kept in the toolkit's cache, so that a
warm re-run (a new run folder, ``--force``, a changed notebook) does not recompute them.

:func:`call_cached` keeps ``func(*args, **kwargs)`` -- a ``pandas.DataFrame`` -- as Parquet under
``<cache>/results/<key>.parquet``, with the warnings the call raised in ``<key>.warnings.json``
(raised again when the result is read back). The key is a SHA-256 of the function's qualified
name, of every argument's content (arrays by dtype, shape and bytes, frames by
``pandas.util.hash_pandas_object``, settings as JSON) and of a ``code_key`` (:func:`code_key`:
the source of the packages that compute the result plus the numerical libraries' versions), so
that a changed estimator or library computes afresh. An exception is not kept.

Written here rather than with ``joblib.Memory``: that stores results as pickles, and nothing the
toolkit reads back from disk may run code when loaded (``tests/test_faults.py``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import warnings
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from xqg_lab.core.atomic import open_atomic, write_text_atomic
from xqg_lab.core.paths import cache_dir

LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "pyarrow")
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


def _feed(digest, value: Any) -> None:
    """Add ``value``'s content to ``digest`` (refuses what it cannot key on)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        digest.update(json.dumps([type(value).__name__, value]).encode())
    elif isinstance(value, np.ndarray):
        digest.update(f"ndarray {value.dtype.str} {value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, pd.DataFrame):
        digest.update(json.dumps(["frame", [str(c) for c in value.columns], [str(t) for t in value.dtypes]]).encode())
        digest.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
    elif isinstance(value, Mapping):
        digest.update(f"mapping {len(value)}".encode())
        for key in sorted(value, key=str):
            _feed(digest, str(key))
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"sequence {len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        raise TypeError(f"expected arrays, frames or plain settings as arguments of a cached call, found {type(value).__name__}")


def call_cached(func: Callable, /, *args: Any, code: str, **kwargs: Any):
    """``func(*args, **kwargs)`` (a DataFrame), read from the cache when the same call was made
    before with the same ``code`` (a :func:`code_key`)."""
    import pandas as pd

    digest = hashlib.sha256(f"{func.__module__}.{func.__qualname__}\0{code}".encode())
    _feed(digest, list(args))
    _feed(digest, kwargs)
    path = cache_dir() / "results" / f"{digest.hexdigest()}.parquet"
    notes = path.with_suffix(".warnings.json")
    try:
        result, caught = pd.read_parquet(path), json.loads(notes.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            result = func(*args, **kwargs)
        if not isinstance(result, pd.DataFrame):
            raise TypeError(f"expected {func.__qualname__} to return a DataFrame to cache, found {type(result).__name__}")
        caught = [[w.category.__name__, str(w.message)] for w in recorded]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(notes, json.dumps(caught))
            with open_atomic(path, binary=True) as handle:
                result.to_parquet(handle)
        except OSError as exc:
            warnings.warn(f"{path}: result not kept in the cache ({exc}); set XQG_LAB_CACHE to a writable folder", stacklevel=2)
    categories = {c.__name__: c for c in (UserWarning, RuntimeWarning, FutureWarning, DeprecationWarning)}
    for category, message in caught:
        warnings.warn(message, categories.get(category, UserWarning), stacklevel=2)
    return result
