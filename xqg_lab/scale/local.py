"""The local backend: one worker (one model) in this process, shards in order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def run_local(
    tasks: Sequence[Mapping[str, Any]],
    make_worker: Callable[[], Callable[[Mapping[str, Any]], dict]],
    *,
    progress: bool = True,
    description: str = "shards",
) -> list[dict]:
    """``[make_worker()(task) for task in tasks]`` with a progress bar over shards."""
    from xqg_lab.core.progress import tqdm

    worker = make_worker()
    out = []
    for task in tqdm(tasks, desc=description, unit="shard", disable=not progress):
        out.append(worker(task))
    return out
