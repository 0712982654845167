"""Where shard work runs, and search over sharded embeddings.

Backends take a list of shard tasks (small dicts) and a zero-argument factory of a
*worker* (an object holding a model whose ``__call__(task) -> summary dict`` processes one
shard and writes its outputs, see :mod:`xqg_lab.scale.shards`):

- ``"local"`` (:mod:`.local`): one worker in this process, shards one after another;
- ``"ray"`` (:mod:`.ray_backend`): Ray Data ``map_batches`` over the tasks with a pool of
  model-holding actors, on a local Ray instance or a cluster.

Because every backend calls the same worker on the same shard, their outputs are
byte-identical. Select one with the config key ``backend: local | ray`` (see
:class:`ScaleConfig`). Search over shards lives in :mod:`.search`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pydantic

from xqg_lab.core.validation import Choice, ConfigModel


class Backend(Choice, label="backend"):
    """Where shard tasks run."""

    LOCAL = "local"
    RAY = "ray"


class RayOptions(ConfigModel):
    """How the Ray backend runs (:meth:`parse` takes a mapping of these fields).

    Attributes
    ----------
    address : ``None`` to start a local Ray instance bound to loopback (when Ray is not
        already initialised), ``"auto"`` for the cluster this machine belongs to, or
        ``"ray://host:10001"`` / ``"host:6379"``; ``RAY_ADDRESS`` is honoured when ``None``.
    num_workers : actors in the pool (each holds one model), at least 1.
    num_cpus_per_worker, num_gpus_per_worker : resources reserved per actor; a GPU
        cluster uses ``num_gpus_per_worker=1`` (or 0.5 to pack two small models per GPU).
    local_num_cpus : CPUs of the local instance started when ``address`` is ``None``.
    """

    model_config = pydantic.ConfigDict(frozen=True, validate_assignment=False)
    where = "ray options"
    address: str | None = None
    num_workers: int = pydantic.Field(1, ge=1)
    num_cpus_per_worker: float = 1.0
    num_gpus_per_worker: float = 0.0
    local_num_cpus: int | None = None


class ScaleConfig(ConfigModel):
    """The ``scale`` section of a config: ``{backend: local | ray, ray: {...}}`` (read by
    ``xqg-lab shards ... --config FILE.yaml`` and by the paper-table notebook's ``scale``
    parameter); ``ray`` holds the fields of :class:`RayOptions`."""

    model_config = pydantic.ConfigDict(frozen=True, validate_assignment=False)
    where = "scale"
    backend: Backend = Backend.LOCAL
    ray: RayOptions = RayOptions()

    @pydantic.field_validator("ray", mode="before")
    @classmethod
    def _no_ray(cls, value):
        return {} if value is None else value


def run_shard_tasks(
    tasks: Sequence[Mapping[str, Any]],
    make_worker: Callable[[], Callable[[Mapping[str, Any]], dict]],
    *,
    backend: str | Backend = Backend.LOCAL,
    ray_options: RayOptions | Mapping[str, Any] | None = None,
    progress: bool = True,
    description: str = "shards",
) -> list[dict]:
    """Run ``make_worker()(task)`` for every task on ``backend``; returns the summaries
    (one dict per task, in no particular order for Ray). Nothing starts when ``tasks`` is
    empty."""
    backend = Backend.parse(backend)
    if not tasks:
        return []
    if backend is Backend.LOCAL:
        from xqg_lab.scale.local import run_local

        return run_local(tasks, make_worker, progress=progress, description=description)
    from xqg_lab.scale.ray_backend import run_ray

    return run_ray(tasks, make_worker, options=RayOptions.parse(ray_options))


__all__ = ["Backend", "RayOptions", "ScaleConfig", "run_shard_tasks"]
