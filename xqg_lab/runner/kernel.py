"""The notebook kernel the runner starts (``python -m xqg_lab.runner.kernel -f <connection file>``).

It is ipykernel's IPython kernel without its one TCP port: ipykernel binds a ZeroMQ socket
on 127.0.0.1 (a random port) to forward the output of forked child processes, even when
the kernel talks over IPC. Here that forwarding is off, so a run listens on no network port;
output printed by forked children goes to the kernel's own stdout/stderr instead of the
notebook.

It also defers ``rfc3987_syntax`` to its first use: that package compiles 38 Lark grammars
when imported (1-3 s), and jsonschema imports it with every ``import altair``, for IRI
format checks a notebook rarely makes (python-jsonschema/jsonschema#1428, open upstream).
"""

import importlib
import importlib.util
import sys
import types
from pathlib import Path


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

    stand_in = types.ModuleType("rfc3987_syntax", "Imported on first use (see xqg_lab.runner.kernel).")
    stand_in.is_valid_syntax = lambda *args, **kwargs: load().is_valid_syntax(*args, **kwargs)

    def attribute(name: str):
        if name.startswith("__"):  # the import system probing (`__path__`, `__spec__`...) must not load it
            raise AttributeError(name)
        return getattr(load(), name)

    stand_in.__getattr__ = attribute
    sys.modules["rfc3987_syntax"] = stand_in


if __name__ == "__main__":
    defer_rfc3987_syntax()
    # As ipykernel_launcher: the kernel adds the working folder to sys.path itself.
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]

    from ipykernel import kernelapp
    from ipykernel.iostream import IOPubThread

    class _UnpipedIOPubThread(IOPubThread):
        def __init__(self, socket, pipe=False, session=False):
            super().__init__(socket, pipe=False, session=session)

    kernelapp.IOPubThread = _UnpipedIOPubThread
    kernelapp.launch_new_instance()
