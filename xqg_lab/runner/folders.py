"""The run folder's life: a staging folder swapped in atomically when the run ends, and the
leftovers of killed runners (staging folders, kernel socket folders) removed at the next start."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from xqg_lab.core.atomic import fsync_dir

KERNEL_SOCKETS_PREFIX = "xqg-kernel-"
"""Temporary folder of a run's kernel sockets: ``<tmp>/xqg-kernel-<runner pid>-<random>``."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_dead_runs(reports: Path, run: str) -> None:
    """Remove the staging folders of ``run`` whose runner is dead (killed mid-run), and put
    back a run folder moved aside by a runner killed during the swap."""
    pattern = re.compile(rf"^\.{re.escape(run)}\.(staging|old)-(\d+)$")
    for folder in sorted(reports.iterdir()):
        match = pattern.match(folder.name)
        if not match or _pid_alive(int(match.group(2))):
            continue
        if match.group(1) == "old" and not (reports / run).exists():
            os.rename(folder, reports / run)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def remove_dead_kernel_folders() -> None:
    """Remove the kernel socket folders of runners that died without cleaning up."""
    pattern = re.compile(rf"^{KERNEL_SOCKETS_PREFIX}(\d+)-")
    for folder in Path(tempfile.gettempdir()).glob(f"{KERNEL_SOCKETS_PREFIX}*"):
        match = pattern.match(folder.name)
        if match and folder.is_dir() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def swap_in(staging: Path, run_dir: Path) -> None:
    """Make ``staging`` the run folder ``run_dir`` and delete the previous run."""
    if not run_dir.exists():
        os.rename(staging, run_dir)
        fsync_dir(run_dir.parent)
        return
    if _exchange(staging, run_dir):  # staging now holds the previous run
        fsync_dir(run_dir.parent)
        shutil.rmtree(staging)
        return
    aside = run_dir.with_name(f".{run_dir.name}.old-{os.getpid()}")
    os.rename(run_dir, aside)
    os.rename(staging, run_dir)
    fsync_dir(run_dir.parent)
    shutil.rmtree(aside)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two folders (Linux ``renameat2`` with ``RENAME_EXCHANGE``);
    ``False`` where the system or file system does not offer it."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):
        return False
    raise OSError(err, f"could not swap {a} with {b}: {os.strerror(err)}")
