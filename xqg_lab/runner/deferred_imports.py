"""Slow imports that the runner and its kernels defer to their first use.

``rfc3987_syntax`` compiles 38 Lark grammars when imported (1-3 s on 2 cores). jsonschema
imports it for its IRI format checks, and jsonschema comes with every ``import altair`` (each
notebook) and ``import nbformat`` (the runner), which never check an IRI
(python-jsonschema/jsonschema#1428, open upstream). Installed as the ``format-nongpl`` extra of
jsonschema that jupyter-events requires, so it cannot simply be left out.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def defer_rfc3987_syntax() -> None:
    """Put a stand-in for ``rfc3987_syntax`` in ``sys.modules`` that imports the real
    module on first attribute access or call (no-op when the package is not installed)."""
    if "rfc3987_syntax" in sys.modules or importlib.util.find_spec("rfc3987_syntax") is None:
        return
    real: list[types.ModuleType] = []

    def load() -> types.ModuleType:
        if not real:
            del sys.modules["rfc3987_syntax"]
            real.append(importlib.import_module("rfc3987_syntax"))
        return real[0]

    stand_in = types.ModuleType("rfc3987_syntax", "Imported on first use (see xqg_lab.runner.deferred_imports).")
    stand_in.is_valid_syntax = lambda *args, **kwargs: load().is_valid_syntax(*args, **kwargs)

    def attribute(name: str):
        if name.startswith("__"):  # the import system probing (`__path__`, `__spec__`...) must not load it
            raise AttributeError(name)
        return getattr(load(), name)

    stand_in.__getattr__ = attribute
    sys.modules["rfc3987_syntax"] = stand_in
