"""The notebook kernel the runner starts (``python -m xqg_lab.runner.kernel -f <connection file>``).

It is ipykernel's IPython kernel without its one TCP port: ipykernel binds a ZeroMQ socket
on 127.0.0.1 (a random port) to forward the output of forked child processes, even when
the kernel talks over IPC. Here that forwarding is off, so a run listens on no network port;
output printed by forked children goes to the kernel's own stdout/stderr instead of the
notebook.

It also defers ``rfc3987_syntax`` to its first use (:mod:`xqg_lab.runner.deferred_imports`).
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # As ipykernel_launcher: the kernel adds the working folder to sys.path itself.
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]

    from xqg_lab.runner.deferred_imports import defer_rfc3987_syntax

    defer_rfc3987_syntax()

    from ipykernel import kernelapp
    from ipykernel.iostream import IOPubThread

    class _UnpipedIOPubThread(IOPubThread):
        def __init__(self, socket, pipe=False, session=False):
            super().__init__(socket, pipe=False, session=session)

    kernelapp.IOPubThread = _UnpipedIOPubThread
    kernelapp.launch_new_instance()
