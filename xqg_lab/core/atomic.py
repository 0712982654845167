"""Writing a file so that it is either untouched or complete, never half written.

Written by hand: the maintained library for this (``atomicwrites``) is archived, and the
toolkit also needs fsync of the folder and errors that name the file (full disk).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

TMP_MARK = ".tmp-"
"""Part of the name of every temporary file: ``<name>.tmp-<pid>-<random>`` beside the target."""


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    At every moment ``path`` holds either its previous content (or nothing) or all of
    ``data``: a process killed mid-write, or a disk that fills up, leaves the previous
    file as it was. The temporary file is removed on failure (a killed process leaves it
    behind; its name contains :data:`TMP_MARK`). The new file gets the usual permissions
    (``0o666`` less the umask).

    Raises
    ------
    OSError
        Of the same ``errno`` as the failure, naming ``path`` (and, for a full disk,
        saying so and that the previous file is unchanged).
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        _raise_naming(path, exc)
    fsync_dir(path.parent)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """``text`` as UTF-8 at ``path``, with the guarantees of :func:`write_atomic`."""
    return write_atomic(path, text.encode("utf-8"))


def save_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``array`` as ``.npy`` (no pickles) at ``path``, with the guarantees of :func:`write_atomic`."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return write_atomic(path, buffer.getbuffer())


def write_parquet_atomic(path: str | os.PathLike, table: pa.Table, **options: Any) -> Path:
    """``table`` as Parquet at ``path`` (``options`` go to ``pyarrow.parquet.write_table``,
    e.g. ``compression``), with the guarantees of :func:`write_atomic`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, **options)
    return write_atomic(path, buffer.getvalue())


@contextlib.contextmanager
def open_atomic(
    path: str | os.PathLike, *, encoding: str = "utf-8", newline: str | None = None, binary: bool = False
) -> Iterator[IO]:
    """A file to write ``path`` in a stream (for files too large to hold in memory; text,
    or bytes with ``binary``), with the guarantees of :func:`write_atomic`: ``path`` appears,
    complete, only when the ``with`` block ends without an exception."""
    path = Path(path)
    tmp = _tmp_name(path)
    text = {} if binary else {"encoding": encoding, "newline": newline}
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(fd, "wb" if binary else "w", **text) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        _raise_naming(path, exc)
    fsync_dir(path.parent)


@contextlib.contextmanager
def staged_folder(target: str | os.PathLike) -> Iterator[Path]:
    """A new empty folder beside ``target`` (``<name>.tmp-<pid>-<random>``) to build ``target``
    in: renamed to ``target`` when the block ends, removed when it raises. ``target`` must not
    exist (or be an empty folder)."""
    target = Path(target)
    staging = _tmp_name(target)
    staging.mkdir(parents=True)
    try:
        yield staging
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(target.parent)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _raise_naming(path: Path, exc: BaseException):
    """Re-raise ``exc``; an ``OSError`` as one of the same errno naming ``path``."""
    if not isinstance(exc, OSError) or exc.errno is None:
        raise exc
    hint = " (the disk is full: free some space and run again)" if exc.errno == errno.ENOSPC else ""
    raise OSError(exc.errno, f"could not write {path}: {exc.strerror}{hint}; the previous file is unchanged") from exc


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
