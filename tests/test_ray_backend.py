"""The Ray Data backend on a local 2-CPU Ray instance gives the local backend's bytes."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from test_shards import LANGS, SHARD_SIZE, HashEncoder, TemplateGenerator, generated_queries, store_arrays, write_dpr_tsv
from xqg_lab.scale import Backend, RayOptions, ScaleConfig
from xqg_lab.scale.shards import ShardStore, encode_passage_shards, encode_query_sum_shards, generate_query_shards

pytestmark = pytest.mark.slow  # starting Ray and its actors takes about a minute on 2 cores

RAY = {"num_workers": 2, "num_cpus_per_worker": 1}


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the Ray backend needs `pip install 'ray[data]'`")
    from xqg_lab.scale.ray_backend import init_local_ray

    init_local_ray(num_cpus=2)
    # The fakes of test_shards travel to the actors by value (the actors cannot import tests).
    ray.cloudpickle.register_pickle_by_value(sys.modules["test_shards"])
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("timeouts, started", [(2, True), (3, False)])
def test_a_raylet_missing_rays_startup_window_is_started_again(timeouts, started, monkeypatch):
    """Under load (2 busy loops on 2 cores) Ray raised "The current node timed out during
    startup" (its raylet wait is a fixed 30 s); init_local_ray starts it again, 3 times at most."""
    ray = pytest.importorskip("ray", reason="the Ray backend needs `pip install 'ray[data]'`")
    from xqg_lab.scale import ray_backend

    calls = []

    def init(**kwargs):
        calls.append(kwargs)
        if len(calls) <= timeouts:
            raise Exception("The current node timed out during startup. This could happen because ...")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "127.0.0.1")
    if started:
        ray_backend.init_local_ray(num_cpus=2)
    else:
        with pytest.raises(RuntimeError, match="did not register within Ray's 30 s start-up window in 3 attempts"):
            ray_backend.init_local_ray(num_cpus=2)
    assert len(calls) == 3


def _listening_addresses() -> set[str]:
    import psutil

    addresses = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            connections = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        addresses |= {c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN}
    return addresses


def test_local_ray_listens_on_loopback_only(local_ray):
    assert local_ray.util.get_node_ip_address() == "127.0.0.1"
    addresses = _listening_addresses()
    assert addresses, "expected the Ray processes to be children of this process"
    assert addresses <= {"127.0.0.1", "::1", "::ffff:127.0.0.1"}, addresses


@pytest.mark.parametrize("tiny_encoder_dir", ["bert"], indirect=True)
def test_ray_backend_equals_local_backend(local_ray, tiny_encoder_dir, tmp_path):
    corpus = write_dpr_tsv(tmp_path / "psgs.tsv")
    spec = {"model_name_or_path": str(tiny_encoder_dir), "batch_size": 3}
    local = encode_passage_shards(corpus, tmp_path / "local", encoder=spec, shard_size=SHARD_SIZE, progress=False)
    # Half the shards already done (as after an interrupted run): Ray must skip them.
    encode_passage_shards(
        corpus, tmp_path / "ray", encoder=spec, shard_size=SHARD_SIZE, shard_index=0, num_shards=2, progress=False
    )
    remote = encode_passage_shards(
        corpus, tmp_path / "ray", encoder=spec, shard_size=SHARD_SIZE, backend="ray", ray_options=RAY
    )
    assert (local["status"] == "done").all()
    assert remote.set_index("shard")["status"].to_dict() == {i: "skipped" if i % 2 == 0 else "done" for i in range(8)}
    assert store_arrays(tmp_path / "ray") == store_arrays(tmp_path / "local")

    # Generation and query sums over the same layout, on both backends.
    queries = generated_queries(ShardStore(tmp_path / "local").all_doc_ids())
    for root, backend in ((tmp_path / "local", "local"), (tmp_path / "ray", "ray")):
        generate_query_shards(
            corpus, root, generator=TemplateGenerator(), langs=LANGS, n_per_lang=2, seed=1,
            shard_size=SHARD_SIZE, backend=backend, ray_options=RAY, progress=False,
        )
        encode_query_sum_shards(
            root, queries, encoder=HashEncoder(), langs=LANGS, backend=backend, ray_options=RAY, progress=False
        )
    assert store_arrays(tmp_path / "ray") == store_arrays(tmp_path / "local")
    for i in range(8):
        assert ShardStore(tmp_path / "ray").generated_queries(i).equals(ShardStore(tmp_path / "local").generated_queries(i))
    assert np.concatenate(list(ShardStore(tmp_path / "ray").iter_query_sums())).shape == (30, HashEncoder.dim)


def test_scale_config_selects_the_backend_and_refuses_unknown_keys():
    config = ScaleConfig.parse({"backend": "ray", "ray": {"address": "auto", "num_workers": 4, "num_gpus_per_worker": 1}})
    assert config.backend is Backend.RAY and config.ray == RayOptions(address="auto", num_workers=4, num_gpus_per_worker=1)
    assert ScaleConfig.parse(None).backend is Backend.LOCAL
    with pytest.raises(ValueError, match="expected backend to be one of 'local', 'ray', found 'spark'"):
        ScaleConfig.parse({"backend": "spark"})
    with pytest.raises(ValueError, match="did you mean 'num_workers'"):
        ScaleConfig.parse({"backend": "ray", "ray": {"num_worker": 2}})
