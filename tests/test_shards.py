"""Sharded, resumable corpus processing (xqg_lab.scale.shards)."""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xqg_lab.augment import accumulate_query_sums
from xqg_lab.data.xor_tydi import iter_dpr_corpus
from xqg_lab.core.errors import DataFormatError
from xqg_lab.scale import Backend, RayOptions
from xqg_lab.scale.shards import (
    ParquetQueries,
    ShardStore,
    encode_passage_shards,
    encode_query_sum_shards,
    generate_query_shards,
    index_corpus,
    iter_corpus_shards,
    main,
    read_corpus_shard,
    select_shards,
)

N_PASSAGES = 30
SHARD_SIZE = 4  # 8 shards, the last one with 2 passages
LANGS = ("ar", "ja")


def write_dpr_tsv(path: Path, n: int = N_PASSAGES) -> Path:
    """A DPR-style TSV whose rows exercise the CSV quoting (quotes, a tab and a line break
    inside quoted fields)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "text", "title"])
        for i in range(n):
            text = f"passage {i} about the quick brown fox and the lazy dog number {i % 7}"
            if i % 6 == 1:
                text += ' said "hello"'
            if i % 9 == 2:
                text += "\twith a tab\nand a line break"
            writer.writerow([str(i + 1), text, f"Title {i}"])
    return path


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_dpr_tsv(tmp_path / "psgs.tsv")


class HashEncoder:
    """A deterministic fake encoder: each text's vector is drawn from a generator seeded
    by the text's hash (8-d), so results are exact and fast."""

    dim = 8

    def settings(self, role):
        return {"model": "hash-encoder", "role": str(getattr(role, "value", role)), "dim": self.dim}

    def _vectors(self, texts):
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        return out

    def encode_queries(self, texts):
        return self._vectors(list(texts))

    def encode_passages(self, passages):
        return self._vectors([f"{t} {x}" for t, x in zip(passages["title"], passages["text"])])


def generated_queries(doc_ids, *, langs=LANGS, n_per_lang=(1, 3)) -> pd.DataFrame:
    """Fake generated queries with unequal counts per passage (0 for every fifth)."""
    rows = []
    for j, doc_id in enumerate(doc_ids):
        if j % 5 == 4:
            continue
        for lang in langs:
            for s in range(n_per_lang[j % len(n_per_lang)]):
                rows.append((doc_id, lang, s, f"{lang} question {s} about passage {doc_id}"))
    return pd.DataFrame(rows, columns=["doc_id", "lang", "sample", "text"])


def store_arrays(root: Path) -> dict[str, bytes]:
    """Every .npy and .ids.txt file of a store, by name, as bytes."""
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.suffix in {".npy", ".txt"}}


# -- corpus shards ---------------------------------------------------------------------


def test_corpus_shards_equal_iter_dpr_corpus_batches(corpus):
    shards = list(iter_corpus_shards(corpus, shard_size=SHARD_SIZE))
    batches = list(iter_dpr_corpus(corpus, batch_size=SHARD_SIZE))
    assert [s.range.index for s in shards] == list(range(8))
    assert [s.range.n for s in shards] == [4] * 7 + [2]
    for shard, batch in zip(shards, batches, strict=True):
        pd.testing.assert_frame_equal(shard.passages, batch)


def test_read_corpus_shard_by_offset_equals_streamed_shard(corpus):
    index = index_corpus(corpus, shard_size=SHARD_SIZE)
    assert index.n_passages == N_PASSAGES and index.shards[0].line == 2
    for shard in iter_corpus_shards(corpus, shard_size=SHARD_SIZE):
        assert index.shards[shard.range.index] == shard.range
        pd.testing.assert_frame_equal(read_corpus_shard(corpus, shard.range), shard.passages)


def test_beir_corpus_is_sharded_in_file_order(tmp_path):
    folder = tmp_path / "beir"
    folder.mkdir()
    lines = [json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"}) for i in range(7)]
    (folder / "corpus.jsonl").write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")
    index = index_corpus(folder, shard_size=3)
    assert [s.n for s in index.shards] == [3, 3, 1]
    assert read_corpus_shard(folder, index.shards[1])["doc_id"].tolist() == ["d3", "d4", "d5"]


def test_changed_corpus_is_detected_when_reading_a_shard(corpus):
    index = index_corpus(corpus, shard_size=SHARD_SIZE)
    text = corpus.read_text(encoding="utf-8").replace("Title 5", "Title five")
    corpus.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="corpus changed"):
        read_corpus_shard(corpus, index.shards[1])
    assert not index.matches(corpus, shard_size=SHARD_SIZE)


def test_malformed_row_names_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("id\ttext\ttitle\n1\tok\tT\n2\tonly two fields\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.tsv:3: expected 3 tab-separated fields"):
        index_corpus(path, shard_size=2)


@pytest.mark.parametrize(
    ("shard_index", "num_shards", "expected"),
    [(0, 1, [0, 1, 2, 3, 4]), (0, 2, [0, 2, 4]), (1, 2, [1, 3]), (2, 3, [2])],
)
def test_select_shards_is_round_robin(shard_index, num_shards, expected):
    assert select_shards(range(5), shard_index=shard_index, num_shards=num_shards) == expected


def test_select_shards_rejects_bad_worker_numbers():
    with pytest.raises(ValueError, match="expected shard_index as an integer in"):
        select_shards(range(5), shard_index=2, num_shards=2)
    with pytest.raises(ValueError, match="expected num_shards as a positive integer"):
        select_shards(range(5), num_shards=0)


# -- passage shards ------------------------------------------------------------------------


def test_encode_writes_memory_mappable_shards_with_markers(corpus, tmp_path):
    encoder = HashEncoder()
    summary = encode_passage_shards(
        corpus, tmp_path / "out", encoder=encoder, shard_size=SHARD_SIZE, dtype="float16", progress=False
    )
    assert summary["status"].tolist() == ["done"] * 8 and summary["n"].sum() == N_PASSAGES
    store = ShardStore(tmp_path / "out")
    passages = pd.concat([s.passages for s in iter_corpus_shards(corpus, shard_size=SHARD_SIZE)])
    want = encoder.encode_passages(passages).astype(np.float16)
    got = np.concatenate(list(store.iter_passage_embeddings()))
    np.testing.assert_array_equal(got, want)
    first = store.passage_embeddings(0)
    assert isinstance(first, np.memmap) and first.dtype == np.float16 and first.shape == (4, 8)
    assert store.all_doc_ids() == passages["doc_id"].tolist()
    marker = store.marker("passages", 7)
    assert marker["n"] == 2 and marker["dim"] == 8 and marker["dtype"] == "float16"
    assert marker["encoder"] == encoder.settings("passage")
    assert store.is_complete("passages") and store.is_done("passages", 7)


def test_rerun_skips_finished_shards_and_redoes_damaged_ones(corpus, tmp_path):
    out = tmp_path / "out"
    encode_passage_shards(corpus, out, encoder=HashEncoder(), shard_size=SHARD_SIZE, progress=False)
    before = store_arrays(out)
    damaged = ShardStore(out).path(3, "passages.npy")
    damaged.write_bytes(damaged.read_bytes()[:-7])  # a torn write
    ShardStore(out).path(5, "passages.json").unlink()  # killed before its marker
    summary = encode_passage_shards(corpus, out, encoder=HashEncoder(), shard_size=SHARD_SIZE, progress=False)
    assert summary.set_index("shard")["status"].to_dict() == {
        i: "done" if i in (3, 5) else "skipped" for i in range(8)
    }
    assert store_arrays(out) == before


def test_workers_splitting_shards_by_hand_equal_one_run(corpus, tmp_path):
    encode_passage_shards(corpus, tmp_path / "one", encoder=HashEncoder(), shard_size=SHARD_SIZE, progress=False)
    for worker in range(3):
        part = encode_passage_shards(
            corpus, tmp_path / "split", encoder=HashEncoder(), shard_size=SHARD_SIZE,
            shard_index=worker, num_shards=3, progress=False,
        )
        assert part["shard"].tolist() == list(range(worker, 8, 3))
    assert store_arrays(tmp_path / "split") == store_arrays(tmp_path / "one")


def test_store_refuses_other_encoder_settings(corpus, tmp_path):
    encode_passage_shards(corpus, tmp_path / "out", encoder=HashEncoder(), shard_size=SHARD_SIZE, progress=False)
    other = HashEncoder()
    other.dim = 16
    with pytest.raises(ValueError, match="other settings.*differing: encoder"):
        encode_passage_shards(corpus, tmp_path / "out", encoder=other, shard_size=SHARD_SIZE, progress=False)
    with pytest.raises(ValueError, match="differing: shard_size"):
        encode_passage_shards(corpus, tmp_path / "out", encoder=HashEncoder(), shard_size=5, progress=False)


class SlowHashEncoder(HashEncoder):
    """:class:`HashEncoder` taking 50 ms per shard, so that concurrent runs overlap."""

    def encode_passages(self, passages):
        time.sleep(0.05)
        return super().encode_passages(passages)


def _encode_when_both_ready(barrier, corpus: Path, out: Path, summary_csv: Path) -> None:
    """Child of the two-process test (spawned): wait for the other child, encode, save the summary."""
    barrier.wait(timeout=120)
    summary = encode_passage_shards(corpus, out, encoder=SlowHashEncoder(), shard_size=SHARD_SIZE, progress=False)
    summary.to_csv(summary_csv, index=False)


def test_two_processes_encoding_one_store_encode_each_shard_once(corpus, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_encode_when_both_ready, args=(barrier, corpus, tmp_path / "two", tmp_path / f"{i}.csv"))
        for i in range(2)
    ]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join(timeout=180)
            assert proc.exitcode == 0
    finally:
        for proc in procs:
            proc.kill()
    summaries = pd.concat([pd.read_csv(tmp_path / f"{i}.csv") for i in range(2)])
    done = summaries.loc[summaries["status"] == "done", "shard"]
    assert sorted(done) == list(range(8))  # each shard encoded by one process, skipped by the other
    assert (summaries["status"] == "skipped").sum() == 8
    encode_passage_shards(corpus, tmp_path / "one", encoder=HashEncoder(), shard_size=SHARD_SIZE, progress=False)
    assert store_arrays(tmp_path / "two") == store_arrays(tmp_path / "one")
    assert all(ShardStore(tmp_path / "two").is_done("passages", i) for i in range(8))


# -- resume after SIGKILL -----------------------------------------------------------------

_KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import xqg_lab.scale.shards as shards
    import xqg_lab.core.shard_folder as store
    from xqg_lab.encode.model import Encoder

    model, corpus, out, flag, where = sys.argv[1:]
    calls = {"encode": 0, "marker": 0}

    def stall():
        Path(flag).write_text("stalled")
        time.sleep(600)

    class Stalling(Encoder):
        def encode_passages(self, passages):
            vectors = super().encode_passages(passages)
            calls["encode"] += 1
            if where == "encoding" and calls["encode"] == 3:
                stall()  # third shard encoded, nothing written
            return vectors

    write_text = store.write_text_atomic

    def marker_then_stall(path, text):
        if where == "marker" and path.name.endswith(".passages.json"):
            calls["marker"] += 1
            if calls["marker"] == 3:
                stall()  # third shard's arrays written, its marker not
        write_text(path, text)

    store.write_text_atomic = marker_then_stall  # the name ShardFolder.write_outputs looks up
    shards.encode_passage_shards(
        corpus, out, encoder=lambda: Stalling(model, cache_dir=False, progress=False, batch_size=3),
        shard_size=4, progress=False,
    )
    """
)


@pytest.mark.parametrize("tiny_encoder_dir", ["bert"], indirect=True)
@pytest.mark.parametrize("where", ["encoding", "marker"])
def test_sigkill_mid_shard_then_resume_equals_uninterrupted_run(tiny_encoder_dir, corpus, tmp_path, where):
    spec = {"model_name_or_path": str(tiny_encoder_dir), "batch_size": 3}
    flag = tmp_path / "stalled.flag"
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(tiny_encoder_dir), str(corpus), str(killed), str(flag), where],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            if proc.poll() is not None:
                pytest.fail(f"the run ended before stalling: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the run did not reach the third shard within 60 s")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    store = ShardStore(killed)
    assert store.done("passages") == [0, 1]  # the third shard (2) has no marker
    if where == "marker":
        assert store.path(2, "passages.npy").exists()  # arrays written, marker missing
    resumed = encode_passage_shards(corpus, killed, encoder=spec, shard_size=SHARD_SIZE, progress=False)
    assert resumed.set_index("shard")["status"].to_dict() == {i: "skipped" if i < 2 else "done" for i in range(8)}
    encode_passage_shards(corpus, tmp_path / "clean", encoder=spec, shard_size=SHARD_SIZE, progress=False)
    assert store_arrays(killed) == store_arrays(tmp_path / "clean")


# -- query sums and generation -----------------------------------------------------------


@pytest.mark.parametrize("source", ["frame", "parquet"])
def test_query_sums_per_shard_match_accumulate_query_sums(corpus, tmp_path, source):
    out = tmp_path / "out"
    encoder = HashEncoder()
    encode_passage_shards(corpus, out, encoder=encoder, shard_size=SHARD_SIZE, progress=False)
    store = ShardStore(out)
    doc_ids = store.all_doc_ids()
    queries = generated_queries(doc_ids)
    if source == "parquet":
        queries.to_parquet(tmp_path / "generated.parquet")
        queries_arg = tmp_path / "generated.parquet"
    else:
        queries_arg = queries
    summary = encode_query_sum_shards(
        out, queries_arg, encoder=encoder, langs=LANGS, chunk_size=7, progress=False
    )
    assert (summary["status"] == "done").all()
    want = accumulate_query_sums(queries, doc_ids, encoder, langs=LANGS)
    got = np.concatenate(list(store.iter_query_sums()))
    np.testing.assert_allclose(got, want.fused(rule="sum"), rtol=1e-6, atol=1e-6)
    counts = np.concatenate([store.query_counts(i) for i in range(8)], axis=1)
    np.testing.assert_array_equal(counts, want.counts)
    assert store.marker("qsum-all", 0)["langs"] == list(LANGS)
    again = encode_query_sum_shards(out, queries_arg, encoder=encoder, langs=LANGS, progress=False)
    assert (again["status"] == "skipped").all()


def test_query_sums_of_one_language_are_a_separate_named_set(corpus, tmp_path):
    out = tmp_path / "out"
    encode_passage_shards(corpus, out, encoder=HashEncoder(), shard_size=SHARD_SIZE, progress=False)
    queries = generated_queries(ShardStore(out).all_doc_ids())
    encode_query_sum_shards(out, queries, encoder=HashEncoder(), langs=["ar"], name="ar", progress=False)
    want = accumulate_query_sums(queries, ShardStore(out).all_doc_ids(), HashEncoder(), langs=["ar"])
    np.testing.assert_allclose(
        np.concatenate(list(ShardStore(out).iter_query_sums(name="ar"))), want.fused(), rtol=1e-6, atol=1e-6
    )
    # the augmentation's S: a passage without an Arabic query holds its own vector (p' = p)
    p = np.concatenate(list(ShardStore(out).iter_passage_embeddings())).astype(np.float32)
    target = np.concatenate(list(ShardStore(out).iter_fusion_targets(name="ar")))
    assert (want.n_queries() == 0).any()
    np.testing.assert_allclose(target, want.target(p), rtol=1e-6, atol=1e-6)
    literal = np.concatenate(list(ShardStore(out).iter_fusion_targets(name="ar", on_no_query="literal")))
    np.testing.assert_allclose(literal, want.fused(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="plain word"):
        encode_query_sum_shards(out, queries, encoder=HashEncoder(), langs=["ar"], name="a/b", progress=False)


def test_query_sums_need_encoded_passages(tmp_path):
    with pytest.raises(FileNotFoundError, match="encode the corpus"):
        encode_query_sum_shards(tmp_path / "empty", generated_queries(["1"]), encoder=HashEncoder(), langs=LANGS)


class TemplateGenerator:
    """A fake generator with the generate package's interface."""

    def generate(self, passages, *, langs, n_per_lang, seed):
        rows = [
            (d, lang, s, f"{lang}:{seed}:{s}:{t[:12]}")
            for d, t in zip(passages["doc_id"], passages["text"])
            for lang in langs
            for s in range(n_per_lang)
        ]
        return pd.DataFrame(rows, columns=["doc_id", "lang", "sample", "text"])


def test_generated_queries_share_the_shard_layout_and_feed_the_sums(corpus, tmp_path):
    out = tmp_path / "out"
    gen = generate_query_shards(
        corpus, out, generator=TemplateGenerator(), langs=LANGS, n_per_lang=2, seed=3,
        shard_size=SHARD_SIZE, progress=False,
    )
    assert (gen["status"] == "done").all()
    store = ShardStore(out)
    assert len(store.generated_queries(7)) == 2 * len(LANGS) * 2
    assert store.marker("queries", 0)["n_queries"] == 4 * len(LANGS) * 2
    encode_passage_shards(corpus, out, encoder=HashEncoder(), shard_size=SHARD_SIZE, progress=False)
    encode_query_sum_shards(out, "store", encoder=HashEncoder(), langs=LANGS, progress=False)
    assert (np.concatenate([store.query_counts(i) for i in range(8)], axis=1) == 2).all()


# -- command line -----------------------------------------------------------------------------


@pytest.mark.parametrize("tiny_encoder_dir", ["bert"], indirect=True)
def test_cli_encode_then_status(tiny_encoder_dir, corpus, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["encode", "--corpus", str(corpus), "--encoder", str(tiny_encoder_dir), "--out", str(out),
            "--shard-size", "8", "--fp16", "--shard-index", "1", "--num-shards", "2"]
    assert main(argv) == 0
    assert "2 shards: 2 done now" in capsys.readouterr().out
    assert ShardStore(out).done("passages") == [1, 3]
    assert ShardStore(out).passage_embeddings(1).dtype == np.float16
    assert main(["status", "--out", str(out)]) == 0
    assert "passages" in capsys.readouterr().out
    assert main(["encode", "--corpus", str(tmp_path / "missing.tsv"), "--encoder", str(tiny_encoder_dir),
                 "--out", str(out), "--shard-size", "8"]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("tiny_encoder_dir", ["bert"], indirect=True)
def test_cli_config_selects_the_backend_and_given_flags_override_it(tiny_encoder_dir, corpus, tmp_path, monkeypatch):
    import xqg_lab.scale

    calls = []
    run = xqg_lab.scale.run_shard_tasks

    def spy(tasks, make_worker, *, backend, ray_options, **kwargs):
        calls.append((Backend.parse(backend), RayOptions.parse(ray_options), len(tasks)))
        return run(tasks, make_worker, backend=backend, ray_options=ray_options, **kwargs)

    monkeypatch.setattr(xqg_lab.scale, "run_shard_tasks", spy)
    config = tmp_path / "scale.yaml"
    config.write_text("scale:\n  backend: local\n  ray: {num_workers: 2, num_gpus_per_worker: 0.5}\n")
    argv = ["encode", "--corpus", str(corpus), "--encoder", str(tiny_encoder_dir), "--out", str(tmp_path / "out"),
            "--shard-size", "8", "--config", str(config)]
    assert main(argv) == 0
    assert calls[-1] == (Backend.LOCAL, RayOptions(num_workers=2, num_gpus_per_worker=0.5), 4)
    assert ShardStore(tmp_path / "out").done("passages") == [0, 1, 2, 3]
    config.write_text("scale:\n  backend: ray\n  ray: {num_workers: 2}\n")
    assert main([*argv, "--backend", "local", "--num-workers", "3"]) == 0  # nothing left: no Ray is started
    assert calls[-1] == (Backend.LOCAL, RayOptions(num_workers=3), 0)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("scale:\n  backnd: ray\n", r"scale\.yaml: scale: expected a known key, found 'backnd'; did you mean 'backend'\?"),
        ("scael:\n  backend: ray\n", r"scale\.yaml: expected a known key, found 'scael'; did you mean 'scale'\?"),
        ("scale:\n  ray: {num_wokers: 2}\n", r"scale: ray: expected a known key, found 'num_wokers'; did you mean 'num_workers'\?"),
        ("scale:\n  backend: spark\n", r"scale: backend: expected backend to be one of 'local', 'ray', found 'spark'"),
    ],
)
def test_cli_config_with_a_bad_scale_section_is_refused_naming_the_file(text, match, corpus, tmp_path, capsys):
    config = tmp_path / "scale.yaml"
    config.write_text(text)
    argv = ["encode", "--corpus", str(corpus), "--encoder", "unused", "--out", str(tmp_path / "out"),
            "--shard-size", "8", "--config", str(config)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"xqg-lab shards: {config}: ")
    assert re.search(match, err), err
    assert not (tmp_path / "out").exists()


def test_query_sums_read_a_generation_store_folder_and_its_language_check(corpus, tmp_path):
    out = tmp_path / "out"
    encode_passage_shards(corpus, out, encoder=HashEncoder(), shard_size=SHARD_SIZE, progress=False)
    doc_ids = ShardStore(out).all_doc_ids()
    queries = generated_queries(doc_ids)
    queries["in_target_language"] = queries.index % 3 != 0
    folder = tmp_path / "generated"  # the layout of xqg_lab.generate.generate_store
    folder.mkdir(parents=True)
    queries.iloc[:40].to_parquet(folder / "shard-00000.queries.parquet")
    queries.iloc[40:].to_parquet(folder / "shard-00001.queries.parquet")
    (folder / "shard-00000.queries.json").write_text("{}")
    encode_query_sum_shards(
        out, ParquetQueries(str(tmp_path / "generated"), only_in_target_language=True), encoder=HashEncoder(),
        langs=LANGS, progress=False,
    )
    kept = queries[queries["in_target_language"]]
    want = accumulate_query_sums(kept, doc_ids, HashEncoder(), langs=LANGS)
    np.testing.assert_allclose(
        np.concatenate(list(ShardStore(out).iter_query_sums())), want.fused(), rtol=1e-6, atol=1e-6
    )


def test_cli_generate_with_the_seq2seq_backend(tiny_mt5_dir, tmp_path, capsys):
    corpus = write_dpr_tsv(tmp_path / "psgs.tsv", n=3)
    out = tmp_path / "out"
    argv = ["generate", "--corpus", str(corpus), "--out", str(out), "--shard-size", "2", "--generator", "seq2seq",
            "--model", str(tiny_mt5_dir), "--langs", "ar,ja", "--n-per-lang", "1", "--device", "cpu"]
    assert main(argv) == 0
    assert "2 shards: 2 done now" in capsys.readouterr().out
    store = ShardStore(out)
    queries = store.generated_queries(1)  # the third passage
    assert len(queries) == 1 * 2 * 1 and set(queries["lang"]) == {"ar", "ja"}
    assert "in_target_language" in queries.columns
    assert store.marker("queries", 0)["generator"]["backend"] == "seq2seq"
    assert main(argv) == 0 and "2 already done" in capsys.readouterr().out
