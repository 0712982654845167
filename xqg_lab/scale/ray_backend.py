"""The Ray backend: shard tasks through Ray Data ``map_batches`` with model-holding actors.

Each task (one shard) becomes one row of a Ray dataset; ``map_batches`` sends rows one at
a time to a fixed pool of actors (:class:`ray.data.ActorPoolStrategy`). Each actor builds
its worker once (loading the encoder or generator, on the GPU it was given), then for each
shard reads the shard's passages from the corpus by byte offset (see
:func:`xqg_lab.scale.shards.read_corpus_shard`), computes, and writes the shard's files and
completion marker into the store itself. Only the small per-shard summaries travel back
to the driver, so neither passages nor vectors pass through it, and a killed job resumes
like a local one: finished shards are skipped.

Requirements: ``pip install 'ray[data]>=2.40'``.

Running on a real cluster
-------------------------
1. Start Ray on every machine (``ray start --head`` on one, ``ray start
   --address=<head-ip>:6379`` on the others) or use a managed cluster (KubeRay, Anyscale,
   ``ray up``). Install ``xqg_lab`` and the same Python packages on every node (or pass a
   ``runtime_env``), and put the corpus and the store folder on a file system every node
   sees at the same path (NFS, Lustre, a mounted bucket).
2. Point the backend at the cluster: ``RayOptions(address="auto")`` from a node of the
   cluster, or ``RAY_ADDRESS=ray://<head-ip>:10001`` (Ray Client) / ``"<head-ip>:6379"``;
   an already initialised Ray (``ray.init(address="auto")`` in your notebook) is used as is.
3. One actor per GPU: ``RayOptions(num_workers=<GPUs>, num_gpus_per_worker=1)``; with
   ``num_gpus_per_worker=0.5`` two small encoders share a GPU. From the command line::

       xqg-lab shards encode --corpus /shared/psgs_w100.tsv --out /shared/store \\
           --encoder intfloat/multilingual-e5-base --shard-size 100000 --fp16 \\
           --backend ray --ray-address auto --num-workers 8 --gpus-per-worker 1

Without an address, a local Ray instance is started that listens on the loopback
interface only (:func:`init_local_ray`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xqg_lab.scale import RayOptions

# Ray treats a node whose IP is 127.0.0.1 as a single-machine cluster and then binds its
# gRPC servers to loopback only. On Linux it resolves "localhost" to the machine's routable
# address unless this switch (read when ray is imported, and by every Ray process) is off.
_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
# Ray's start-up waits default to 15-60 s, which a loaded 2-core machine exceeds ("The current
# node timed out during startup"; raylet.out: "Timed out waiting for file .../metrics_agent_port"
# while the Python dashboard agent is still importing): wait up to 5 minutes for the GCS port,
# its requests and the agents' registration.
_STARTUP_ENV = {
    "RAY_gcs_server_port_wait_time_s": "300",
    "RAY_gcs_server_request_timeout_seconds": "300",
    "RAY_agent_register_timeout_ms": "300000",
}
STARTUP_ATTEMPTS = 3
"""Starts tried when the raylet misses Ray's fixed 30 s registration window (not configurable
in Ray 2.60: ``raylet_start_wait_time_s`` in ``ray/_private/node.py``)."""


def init_local_ray(*, num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Start a single-machine Ray instance reachable only from this machine.

    Every Ray process (GCS, raylet, workers, agents) listens on 127.0.0.1 and the
    dashboard is off. Sets ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's switch for
    single-machine mode) and ``RAY_USAGE_STATS_ENABLED=0`` in this process's environment
    unless they are set, so that the Ray processes inherit them, and lengthens Ray's start-up
    waits (GCS port and requests, agent registration: 300 s, unless set) so a loaded machine still starts;
    a raylet that misses Ray's fixed 30 s registration window is started again, up to
    :data:`STARTUP_ATTEMPTS` times. Raises ``RuntimeError`` when Ray is already initialised
    with a non-loopback node address, or when every start timed out.
    """
    for key, value in {**_LOOPBACK_ENV, **_STARTUP_ENV}.items():
        os.environ.setdefault(key, value)
    import ray

    if ray.is_initialized():
        if ray.util.get_node_ip_address() not in ("127.0.0.1", "::1"):
            raise RuntimeError("Ray is already initialised on a non-loopback address; call ray.shutdown() first")
        return
    if "ray._private.ray_constants" in sys.modules:  # imported before the switch was set
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] != "0"
    for attempt in range(1, STARTUP_ATTEMPTS + 1):
        try:
            ray.init(
                num_cpus=num_cpus,
                num_gpus=num_gpus,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="warning",
            )
            break
        except Exception as exc:  # Ray raises a bare Exception for this
            if "timed out during startup" not in str(exc):
                raise
            ray.shutdown()
            if attempt == STARTUP_ATTEMPTS:
                raise RuntimeError(
                    f"the local Ray node did not register within Ray's 30 s start-up window in {STARTUP_ATTEMPTS} "
                    "attempts (the machine is overloaded?); retry when it is less busy"
                ) from exc
    address = ray.util.get_node_ip_address()
    if address not in ("127.0.0.1", "::1"):
        ray.shutdown()
        raise RuntimeError(
            f"the local Ray instance came up on {address}, not loopback; set "
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing ray"
        )


def _connect(options: RayOptions) -> None:
    import ray

    if ray.is_initialized():
        return
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False, logging_level="warning")
    else:
        init_local_ray(num_cpus=options.local_num_cpus)


def _native(value):
    return value.item() if hasattr(value, "item") else value


class _ShardActor:
    """A Ray Data callable class: builds one worker, then processes one task per row."""

    def __init__(self, make_worker: Callable[[], Callable[[Mapping[str, Any]], dict]]):
        self.worker = make_worker()

    def __call__(self, batch: dict) -> dict:
        columns = list(batch)
        n = len(batch[columns[0]])
        rows = [{c: _native(batch[c][i]) for c in columns} for i in range(n)]
        results = [self.worker(row) for row in rows]
        import numpy as np

        return {key: np.array([r[key] for r in results]) for key in results[0]}


def run_ray(
    tasks: Sequence[Mapping[str, Any]],
    make_worker: Callable[[], Callable[[Mapping[str, Any]], dict]],
    *,
    options: RayOptions,
) -> list[dict]:
    """Run every task on a pool of ``options.num_workers`` actors; returns the summaries.

    Connects to (or starts) Ray as :class:`~xqg_lab.scale.RayOptions` says; a Ray already
    initialised in this process is used as is.
    """
    import ray
    import ray.data

    _connect(options)
    dataset = ray.data.from_items([dict(t) for t in tasks], override_num_blocks=len(tasks))
    results = dataset.map_batches(
        _ShardActor,
        fn_constructor_kwargs={"make_worker": make_worker},
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=options.num_workers, max_tasks_in_flight_per_actor=1),
        num_cpus=options.num_cpus_per_worker,
        num_gpus=options.num_gpus_per_worker or None,
    )
    return [{k: _native(v) for k, v in row.items()} for row in results.take_all()]
