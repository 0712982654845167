"""Faults survived, safe defaults and determinism (issue 7, parts 2-4).

Every fault hits the real library code: child processes are killed with SIGKILL at seeded
random moments, files are truncated or have one byte flipped, two processes write one
cache at once, a notebook's kernel is killed, and the disk "fills up" (``os.write``
fails with ENOSPC for files under the test folder). After each fault the result is
compared with a run that had none.

Related tests elsewhere (not repeated here): SIGKILL at injected points of the query
store (``test_generate.py::test_store_resumes_after_sigkill_with_the_same_result``) and of
passage shards (``test_shards.py::test_sigkill_mid_shard_then_resume_equals_uninterrupted_run``);
a truncated cache chunk (``test_encode.py``), a truncated shard and a missing marker
(``test_shards.py``); a mirror file with the wrong sha256 (``test_fetch.py``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xqg_lab.core.atomic import TMP_MARK
from xqg_lab.encode.cache import EmbeddingCache
from xqg_lab.generate.base import Generator, records_frame

from _helpers import write_notebook

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "xqg_lab"
KILL_SEED = 20230507
N_KILLS = 3  # seeded random kill moments per step
PAUSE = 0.08  # seconds each unit of work waits in a child, so that kills land inside the work

PASSAGES = pd.DataFrame(
    {
        "doc_id": [f"p{i:02d}" for i in range(10)],
        "title": [f"Title {i}" for i in range(10)],
        "text": [f"the quick brown fox number {i} jumps over the lazy dog" for i in range(10)],
    }
)
TEXTS = [f"query {i} about the lazy dog" for i in range(36)]


# -- deterministic stand-ins ----------------------------------------------------------------


def hash_vectors(texts, dim: int = 8, offset: float = 0.0) -> np.ndarray:
    """float32 ``(len(texts), dim)``: each row drawn from a generator seeded by the text."""
    out = np.empty((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        out[i] = np.random.default_rng(seed).standard_normal(dim) + offset
    return out


class HashEncoder:
    """A fake passage encoder for :mod:`xqg_lab.scale.shards` (exact, no model)."""

    def settings(self, role):
        return {"model": "hash-encoder", "role": str(getattr(role, "value", role)), "dim": 8}

    def encode_queries(self, texts):
        return hash_vectors(list(texts))

    def encode_passages(self, passages):
        return hash_vectors([f"{t} {x}" for t, x in zip(passages["title"], passages["text"])])


class EchoGenerator(Generator):
    """Deterministic queries without a model (the text names the passage, language, sample)."""

    name = "echo"

    def __init__(self):
        self.calls = []  # the doc_ids of each call

    def params(self):
        return {"backend": "echo"}

    def generate(self, passages, *, langs, n_per_lang, seed=0, progress=False):
        self.calls.append(passages["doc_id"].tolist())
        rows = [
            {"doc_id": d, "lang": lg, "sample": s, "text": f"{lg} question {s} about {d} (seed {seed})"}
            for d in passages["doc_id"]
            for lg in langs
            for s in range(n_per_lang)
        ]
        return records_frame(rows)


def paused(fn, pause: float):
    """``fn`` that first sleeps ``pause`` seconds (a slow unit of work)."""

    def wrapper(*args, **kwargs):
        time.sleep(pause)
        return fn(*args, **kwargs)

    return wrapper


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes) but lock files and temporary files
    of killed writers; the ``seconds`` a marker records are left out."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name == ".lock" or TMP_MARK in p.name:
            continue
        data = p.read_bytes()
        if p.suffix == ".json" and b'"seconds"' in data:
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "seconds"}).encode()
        out[str(p.relative_to(folder))] = data
    return out


def shard_arrays(folder: Path) -> dict[str, bytes]:
    """The arrays and id lists of a shard store (markers hold timings, so they differ)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in {".npy", ".txt"}}


def tmp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if TMP_MARK in p.name or p.suffix == ".tmp"]


def write_corpus(path: Path, n: int = 22) -> Path:
    """A DPR-style TSV corpus of ``n`` passages."""
    rows = ["id\ttext\ttitle"] + [f"{i + 1}\tpassage {i} about the quick brown fox {i % 5}\tTitle {i}" for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# -- the steps a run can be killed in --------------------------------------------------------
#
# Each step runs to completion in ``folder``; with ``pause`` each unit of work (a shard, a
# chunk, a file) first waits, so a child killed at a random moment is caught mid-work.


def step_generate(folder: Path, model_dir: str, *, pause: float = 0.0, ready=lambda: None) -> None:
    from xqg_lab.generate.langcheck import check_languages
    from xqg_lab.generate.seq2seq import Seq2SeqGenerator
    from xqg_lab.generate.store import generate_store

    generator = Seq2SeqGenerator(model_dir, batch_size=4, max_length=12).load()
    check_languages(["warm up"], ["de"])
    generator.generate = paused(generator.generate, pause)
    ready()
    generate_store(generator, PASSAGES, folder, langs=("de", "ja"), n_per_lang=2, seed=3, shard_size=2,
                   progress=False)


def step_encode(folder: Path, *, pause: float = 0.0, ready=lambda: None) -> None:
    ready()
    out = EmbeddingCache(folder, chunk_size=4).encode({"model": "hash"}, TEXTS, paused(hash_vectors, pause))
    np.testing.assert_array_equal(out, hash_vectors(TEXTS))


def step_shards(folder: Path, corpus: str, *, pause: float = 0.0, ready=lambda: None) -> None:
    from xqg_lab.scale.shards import encode_passage_shards

    encoder = HashEncoder()
    encoder.encode_passages = paused(encoder.encode_passages, pause)
    ready()
    encode_passage_shards(corpus, folder, encoder=encoder, shard_size=3, progress=False)


def step_report(folder: Path, *, pause: float = 0.0, ready=lambda: None) -> None:
    import altair as alt

    from xqg_lab.present.report import save_chart, save_provenance, save_table, write_text

    frames = [pd.DataFrame({"lang": ["ar", "ja"], "MRR@10": [0.1 * i, 0.2 * i]}) for i in range(4)]
    ready()
    for i, frame in enumerate(frames):
        time.sleep(pause)
        save_table(frame, f"table{i}", output_dir=folder)
        write_text(frame.to_string(index=False), f"table{i}.md", output_dir=folder)
        save_chart(alt.Chart(frame).mark_bar().encode(x="lang", y="MRR@10"), f"chart{i}", output_dir=folder)
        save_provenance({"table": i, "seed": 0}, f"table{i}", output_dir=folder)


STEPS = {"generate": step_generate, "encode": step_encode, "shards": step_shards, "report": step_report}
UNITS = {"generate": 5, "encode": 9, "shards": 8, "report": 4}  # shards, chunks, shards, tables


def child_main(argv: list[str]) -> None:
    """Entry point of a child process: ``step folder [args...]``; prints ``ready`` once its
    imports and models are loaded, then works slowly."""

    def ready():
        print("ready", flush=True)

    step, folder, *args = argv
    pause = float(os.environ.get("XQG_TEST_PAUSE", PAUSE))
    STEPS[step](Path(folder), *args, pause=pause, ready=ready)


CHILD = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_faults; test_faults.child_main(sys.argv[1:])"


def start_child(*args: str, pause: float = PAUSE) -> subprocess.Popen:
    """A child running :func:`child_main`, in its own process group, waiting ``pause`` seconds
    before each unit of work; returns once it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1", "XQG_TEST_PAUSE": str(pause)},
    )
    if proc.stdout.readline() != b"ready\n":
        proc.wait()
        pytest.fail(f"child {args} did not start: {proc.stderr.read().decode()[-3000:]}")
    return proc


def kill_group(proc: subprocess.Popen) -> bool:
    """SIGKILL ``proc`` and its children (kill -9 of the whole run); True if it was still running."""
    running = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return running


def kill_delays(step: str) -> list[float]:
    """``N_KILLS`` seeded moments (seconds after ``ready``) inside the child's slow work."""
    rng = random.Random(f"{KILL_SEED}-{step}")
    return [round(rng.uniform(0.05, 0.95) * UNITS[step] * PAUSE, 3) for _ in range(N_KILLS)]


@pytest.fixture(scope="module")
def kill_inputs(tmp_path_factory, tiny_mt5_dir):
    """Extra child arguments per step and the uninterrupted reference folder of each step."""
    root = tmp_path_factory.mktemp("faults")
    args = {"generate": [str(tiny_mt5_dir)], "encode": [], "shards": [str(write_corpus(root / "psgs.tsv"))],
            "report": []}
    references = {}
    for step, fn in STEPS.items():
        references[step] = root / f"reference-{step}"
        fn(references[step], *args[step])
    return args, references


def artifacts(step: str, folder: Path) -> dict[str, bytes]:
    return shard_arrays(folder) if step == "shards" else folder_bytes(folder)


# -- 1. kill -9 at random moments, then run again ------------------------------------------


@pytest.mark.parametrize("kill", range(N_KILLS))
@pytest.mark.parametrize("step", list(STEPS))
def test_sigkill_at_a_random_moment_then_rerun_equals_an_uninterrupted_run(step, kill, kill_inputs, tmp_path):
    args, references = kill_inputs
    folder = tmp_path / step
    proc = start_child(step, str(folder), *args[step])
    time.sleep(kill_delays(step)[kill])
    assert kill_group(proc), "the child finished before the kill; no fault was injected"
    STEPS[step](folder, *args[step])  # the re-run, to completion
    got, want = artifacts(step, folder), artifacts(step, references[step])
    assert got.keys() == want.keys()
    assert [name for name in want if got[name] != want[name]] == []
    if step == "generate":
        from xqg_lab.generate.store import read_store

        pd.testing.assert_frame_equal(read_store(folder), read_store(references[step]))
    if step in {"generate", "encode"}:  # stores that clean up after killed writers
        assert tmp_files(folder) == []


# -- 2. truncated or corrupted files are detected by checksum, rebuilt, never read ----------


def flip_byte(path: Path, *, at: int = -5) -> None:
    """Corrupt ``path`` without changing its size (only a checksum can tell)."""
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


CACHE_DAMAGE = {
    "vectors byte flipped": lambda chunk: flip_byte(chunk.with_name(chunk.name.replace(".json", ".vectors.npy"))),
    "keys byte flipped": lambda chunk: flip_byte(chunk.with_name(chunk.name.replace(".json", ".keys.npy"))),
    "keys file missing": lambda chunk: chunk.with_name(chunk.name.replace(".json", ".keys.npy")).unlink(),
    "marker truncated": lambda chunk: chunk.write_text(chunk.read_text()[:10]),
}


@pytest.mark.parametrize("damage", list(CACHE_DAMAGE))
def test_damaged_cache_chunk_is_rebuilt_from_its_texts_only(damage, tmp_path):
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return hash_vectors(texts)

    EmbeddingCache(tmp_path / "ref", chunk_size=4).encode({"m": 1}, TEXTS, encode)
    cache = EmbeddingCache(tmp_path / "cache", chunk_size=4)
    cache.encode({"m": 1}, TEXTS, encode)
    chunk = sorted((tmp_path / "cache").glob("*/*[0-9a-f].json"))[2]
    chunk_texts = [t for t in TEXTS if hashlib.sha256(t.encode()).digest()[:16] in
                   set(np.load(chunk.with_name(chunk.name.replace(".json", ".keys.npy"))).tolist())]
    CACHE_DAMAGE[damage](chunk)
    calls.clear()
    with pytest.warns(UserWarning, match="truncated,? (or )?corrupted"):
        out = cache.encode({"m": 1}, TEXTS, encode)
    np.testing.assert_array_equal(out, hash_vectors(TEXTS))  # nothing of the damaged chunk was used
    assert calls == [chunk_texts]
    assert folder_bytes(tmp_path / "cache") == folder_bytes(tmp_path / "ref")


STORE_DAMAGE = {
    "parquet byte flipped": lambda data, marker: flip_byte(data, at=len(data.read_bytes()) // 2),
    "parquet truncated": lambda data, marker: data.write_bytes(data.read_bytes()[:-9]),
    "marker garbage": lambda data, marker: marker.write_text("{not json"),
}


@pytest.mark.parametrize("damage", list(STORE_DAMAGE))
def test_damaged_query_store_shard_is_never_read_and_is_regenerated(damage, tmp_path):
    from xqg_lab.generate.store import generate_store, read_store

    def run(folder):
        generator = EchoGenerator()
        generate_store(generator, PASSAGES, folder, langs=["de", "ar"], n_per_lang=2, shard_size=3, progress=False)
        return generator.calls

    run(tmp_path / "ref")
    run(tmp_path / "store")
    shard = tmp_path / "store" / "shard-00001.queries.parquet"
    STORE_DAMAGE[damage](shard, shard.with_suffix(".json"))
    with pytest.raises(ValueError, match="1 of 4 shards are missing or incomplete"):
        read_store(tmp_path / "store")
    assert len(read_store(tmp_path / "store", require_complete=False)) == 7 * 2 * 2  # shards 0, 2, 3 only
    assert run(tmp_path / "store") == [["p03", "p04", "p05"]]
    assert folder_bytes(tmp_path / "store") == folder_bytes(tmp_path / "ref")


def test_byte_flipped_passage_shard_is_redone(tmp_path):
    """Same size, other bytes: only the SHA-256 check can tell (truncation: test_shards.py)."""
    from xqg_lab.scale.shards import ShardStore, encode_passage_shards

    corpus = write_corpus(tmp_path / "psgs.tsv")
    out = tmp_path / "out"
    encode_passage_shards(corpus, out, encoder=HashEncoder(), shard_size=3, progress=False)
    before = shard_arrays(out)
    flip_byte(ShardStore(out).path(4, "passages.npy"))
    assert not ShardStore(out).is_done("passages", 4)
    summary = encode_passage_shards(corpus, out, encoder=HashEncoder(), shard_size=3, progress=False)
    assert summary.loc[summary["status"] == "done", "shard"].tolist() == [4]
    assert shard_arrays(out) == before


# -- 3. two processes writing one cache --------------------------------------------------------


def concurrent_writer(folder: str, offset: str, start_at: str) -> None:
    """Child of the concurrency tests: encode TEXTS in chunks of 2 from ``start_at`` (epoch s)."""
    time.sleep(max(0.0, float(start_at) - time.time()))
    EmbeddingCache(folder, chunk_size=2).encode(
        {"model": "hash"}, TEXTS, paused(lambda texts: hash_vectors(texts, offset=float(offset)), 0.005)
    )


WRITER = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_faults; test_faults.concurrent_writer(*sys.argv[1:])"


def run_writers(folder: Path, offsets: list[float]) -> None:
    start_at = str(time.time() + 1.5)  # both children start writing at the same moment
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(o), start_at], stderr=subprocess.PIPE)
             for o in offsets]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-3000:]


def test_two_processes_writing_the_same_cache_equal_one_writer(tmp_path):
    run_writers(tmp_path / "two", [0.0, 0.0])
    run_writers(tmp_path / "one", [0.0])
    assert folder_bytes(tmp_path / "two") == folder_bytes(tmp_path / "one")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = EmbeddingCache(tmp_path / "two").encode({"model": "hash"}, TEXTS, lambda t: pytest.fail("re-encoded"))
    np.testing.assert_array_equal(out, hash_vectors(TEXTS))


def test_two_writers_with_different_vectors_never_mix_a_chunk(tmp_path):
    """Writers whose vectors differ (e.g. other BLAS threads): each chunk on disk is wholly one
    writer's, so every marker matches its arrays and nothing is thrown away."""
    run_writers(tmp_path, [0.0, 100.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = EmbeddingCache(tmp_path).encode({"model": "hash"}, TEXTS, lambda t: pytest.fail("re-encoded"))
    writer = np.where(out[:, 0] > 50, 1, 0)
    np.testing.assert_array_equal(out, np.where(writer[:, None] == 1, hash_vectors(TEXTS, offset=100.0), hash_vectors(TEXTS)))
    assert all(writer[i] == writer[i + 1] for i in range(0, len(TEXTS), 2))  # chunks of 2, in order


def shard_writer(folder: str, corpus: str, start_at: str) -> None:
    from xqg_lab.scale.shards import encode_passage_shards

    time.sleep(max(0.0, float(start_at) - time.time()))
    encode_passage_shards(corpus, folder, encoder=HashEncoder(), shard_size=3, progress=False)


def test_two_processes_encoding_the_same_shards_equal_one_run(tmp_path):
    from xqg_lab.scale.shards import ShardStore, encode_passage_shards

    corpus = write_corpus(tmp_path / "psgs.tsv", n=60)
    start_at = str(time.time() + 2.0)
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_faults; test_faults.shard_writer(*sys.argv[1:])"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "two"), str(corpus), start_at],
                              stderr=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-3000:]
    encode_passage_shards(corpus, tmp_path / "one", encoder=HashEncoder(), shard_size=3, progress=False)
    store = ShardStore(tmp_path / "two")
    assert all(store.is_done("passages", i) for i in range(20))
    assert shard_arrays(tmp_path / "two") == shard_arrays(tmp_path / "one")


def test_a_second_process_is_refused_while_a_query_store_is_written(kill_inputs, tmp_path):
    from xqg_lab.generate.store import generate_store

    args, references = kill_inputs
    # One second per shard: the child holds the lock for several seconds, even on a busy machine.
    proc = start_child("generate", str(tmp_path / "store"), *args["generate"], pause=1.0)
    try:
        while not (tmp_path / "store" / "store.json").is_file():  # written once the child holds the lock
            time.sleep(0.01)
        with pytest.raises(RuntimeError, match="another process is writing this store"):
            generate_store(EchoGenerator(), PASSAGES, tmp_path / "store", langs=["de"], n_per_lang=1, progress=False)
        assert proc.wait(timeout=120) == 0
    finally:
        kill_group(proc)
    assert artifacts("generate", tmp_path / "store") == artifacts("generate", references["generate"])


# -- 4. a notebook whose kernel dies --------------------------------------------------------


def write_config(path: Path, *notebooks: tuple[Path, dict], **keys) -> Path:
    """A run config ``faults`` of ``notebooks`` (outside notebooks/, so allowed explicitly)."""
    import yaml

    path.write_text(yaml.safe_dump(
        {"run": "faults", "allow_external_notebooks": True, **keys,
         "notebooks": [{"notebook": str(nb), "parameters": params} for nb, params in notebooks]}
    ))
    return path


def run_notebooks(tmp_path: Path, *notebooks: tuple[Path, dict], **keys) -> Path:
    """Run ``notebooks`` through the runner from a config file; returns the run folder."""
    from xqg_lab.core.config import load_config
    from xqg_lab.runner import run_config

    config = write_config(tmp_path / "run.yaml", *notebooks, **keys)
    return run_config(load_config(config), reports_dir=tmp_path / "reports", progress=False)


def test_kernel_death_fails_the_run_naming_the_cause_and_keeps_earlier_outputs(tmp_path):
    from xqg_lab.runner import NotebookFailed

    first = write_notebook(
        tmp_path / "first.ipynb", "seed = 0",
        "import pandas as pd\nfrom xqg_lab.present.report import save_table\n"
        "save_table(pd.DataFrame({'seed': [seed]}), 'first')",
    )
    dies = write_notebook(
        tmp_path / "dies.ipynb", "n = 1",
        "print('about to run out of memory')",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does",
        "print('never reached')",
    )
    with pytest.raises(NotebookFailed, match=r"dies.ipynb: the kernel died while running cell 4 .*out of memory\?"):
        run_notebooks(tmp_path, (first, {"seed": 1}), (dies, {"n": 2}))
    run_dir = tmp_path / "reports" / "faults"
    assert (run_dir / "first.csv").read_text() == "seed\n1\n"
    for name in ["first.ipynb", "first.html", "dies.ipynb", "dies.html", "index.html"]:
        assert (run_dir / name).is_file(), name
    assert "about to run out of memory" in (run_dir / "dies.ipynb").read_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [n["status"] for n in manifest["notebooks"]] == ["ok", "failed"]
    assert "kernel died" in manifest["notebooks"][1]["error"]
    assert "kernel died" in (run_dir / "index.html").read_text()


def test_a_silent_kernel_ends_the_run_at_the_cell_timeout_naming_notebook_and_cell(tmp_path):
    """A kernel that stops answering (SIGSTOP: alive, idle, never replying) is what hung the
    suite for 15 minutes; the per-cell timeout ends the run with a clear message instead."""
    from xqg_lab.runner import NotebookFailed

    silent = write_notebook(
        tmp_path / "silent.ipynb", "n = 1",
        "import os\nopen('kernel.pid', 'w').write(str(os.getpid()))\nprint('before the kernel goes silent')",
        "import signal\nos.kill(os.getpid(), signal.SIGSTOP)  # the kernel stops answering",
        "print('never reached')",
    )
    start = time.monotonic()
    with pytest.raises(NotebookFailed, match=r"silent.ipynb: cell 4 gave no answer within the cell timeout of 3 s "
                                             r"\(the kernel stopped replying.*--cell-timeout"):
        run_notebooks(tmp_path, (silent, {"n": 2}), cell_timeout=3)
    assert time.monotonic() - start < 240  # kernel start + 3 s + shutdown, even on a loaded machine
    run_dir = tmp_path / "reports" / "faults"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["notebooks"][0]["status"] == "failed"
    assert "cell 4 timed out" in manifest["notebooks"][0]["error"]
    assert "before the kernel goes silent" in (run_dir / "silent.ipynb").read_text()
    assert "cell 4 timed out" in (run_dir / "index.html").read_text()
    pid = int((run_dir / "kernel.pid").read_text())
    for _ in range(100):  # the stopped kernel was killed, not left behind
        if not Path(f"/proc/{pid}").exists() or "(Z)" in Path(f"/proc/{pid}/stat").read_text().split(")")[0] + ")":
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


# -- 4b. a real `xqg-lab run` killed or out of disk while it writes its tables ------------------------

TABLES_CELLS = (
    "version = 0\nn_tables = 3\npause = 0.0\ntrec_rows = 10\nfill_disk = False",
    "import os, time\nimport pandas as pd\nfrom xqg_lab.search.index import write_trec_run\n"
    "open('kernel.pid', 'w').write(str(os.getpid()))\nfrom xqg_lab.present.report import save_table\n"
    "for i in range(n_tables):\n"
    "    save_table(pd.DataFrame({'version': [version] * 100}), f'table_{i:02d}')\n"
    "    time.sleep(pause)\n"
    "if version == 1:\n"
    "    save_table(pd.DataFrame({'version': [1]}), 'old_only')",
    "if fill_disk:  # fill every page of the disk, then keep the file\n"
    "    with open('filler', 'wb', buffering=0) as f:\n"
    "        for block in (1 << 16, 4096, 1):\n"
    "            try:\n"
    "                while True:\n"
    "                    f.write(b'x' * block)\n"
    "            except OSError:\n"
    "                pass",
    "run = pd.DataFrame({'query_id': [f'q{i:07d}' for i in range(trec_rows)], 'doc_id': 'd1', 'rank': 1,\n"
    "                    'score': float(version)})\n"
    "write_trec_run(run, 'retrieval.trec')\n"
    "print('tables written')",
)


def xqg_lab_run(config: Path, reports: Path, tmp: Path) -> subprocess.Popen:
    """``xqg-lab run`` in a child process whose temporary folder is ``tmp``."""
    path = os.pathsep.join([str(PACKAGE.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.Popen(
        [sys.executable, "-m", "xqg_lab", "run", str(config), "--reports-dir", str(reports)],
        env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": path},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc)
    return proc.returncode, out + err


def tables(run_dir: Path) -> dict[str, set[int]]:
    return {p.name: set(pd.read_csv(p)["version"]) for p in sorted(run_dir.glob("*.csv"))}


def check_complete_run(run_dir: Path, version: int, n_tables: int, *, status: str = "ok") -> dict:
    """``run_dir`` holds exactly one run: its manifest's parameters match every table."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == status
    assert manifest["notebooks"][0]["parameters"]["version"] == version
    expected = {f"table_{i:02d}.csv": {version} for i in range(n_tables)}
    if version == 1:
        expected["old_only.csv"] = {1}
    assert tables(run_dir) == expected
    for notebook in run_dir.glob("*.ipynb"):
        json.loads(notebook.read_text())  # never a notebook cut mid-save
    assert tmp_files(run_dir) == []
    return manifest


def test_sigkill_of_xqg_lab_run_while_tables_are_written_never_mixes_two_runs(tmp_path):
    notebook = write_notebook(tmp_path / "tables.ipynb", *TABLES_CELLS)
    reports, tmp = tmp_path / "reports", tmp_path / "tmp"
    tmp.mkdir()
    first = write_config(tmp_path / "v1.yaml", (notebook, {"version": 1, "n_tables": 12}))
    rc, log = finish(xqg_lab_run(first, reports, tmp))
    assert rc == 0, log
    check_complete_run(reports / "faults", 1, 12)

    second = write_config(tmp_path / "v2.yaml", (notebook, {"version": 2, "n_tables": 40, "pause": 0.25}))
    proc = xqg_lab_run(second, reports, tmp)
    staging = reports / f".faults.staging-{proc.pid}"
    try:
        deadline = time.monotonic() + 300
        while not (staging / "table_05.csv").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the run never reached its tables"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # kill -9 of the runner while the kernel writes tables
        proc.wait(timeout=60)
    finally:
        kill_group(proc)
    kernel = int((staging / "kernel.pid").read_text())
    for _ in range(300):  # the orphaned kernel notices its parent's death (ipykernel polls for it)
        if not Path(f"/proc/{kernel}").exists():
            break
        time.sleep(0.1)
    else:
        os.kill(kernel, signal.SIGKILL)
    check_complete_run(reports / "faults", 1, 12)  # the previous run, whole: not its index beside new tables
    assert list(tmp.glob(f"xqg-kernel-{proc.pid}-*"))  # what the killed runner left behind

    third = write_config(tmp_path / "v3.yaml", (notebook, {"version": 2, "n_tables": 3}))
    rc, log = finish(xqg_lab_run(third, reports, tmp))
    assert rc == 0, log
    check_complete_run(reports / "faults", 2, 3)  # old_only.csv and table_03+ of the first run are gone
    assert sorted(p.name for p in reports.iterdir()) == ["faults"]  # the dead run's staging folder removed
    assert not list(tmp.glob(f"xqg-kernel-{proc.pid}-*"))  # and its kernel sockets


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MB tmpfs (skipped where mounting is not allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)], check=True,
                       capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here: {exc}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def test_full_disk_during_xqg_lab_run_leaves_one_whole_run_and_no_cut_file(small_disk, tmp_path):
    notebook = write_notebook(tmp_path / "tables.ipynb", *TABLES_CELLS)
    reports, tmp = small_disk / "reports", tmp_path / "tmp"
    tmp.mkdir()
    rc, log = finish(xqg_lab_run(write_config(tmp_path / "v1.yaml", (notebook, {"version": 1})), reports, tmp))
    assert rc == 0, log
    old_trec = (reports / "faults" / "retrieval.trec").read_bytes()

    # The TREC run (~12 MB) does not fit: the notebook fails, the run is swapped in marked failed.
    big = write_config(tmp_path / "v2.yaml", (notebook, {"version": 2, "trec_rows": 500_000}))
    rc, log = finish(xqg_lab_run(big, reports, tmp))
    assert rc == 1 and "No space left on device" in log and "retrieval.trec" in log, log
    manifest = check_complete_run(reports / "faults", 2, 3, status="failed")
    assert "No space left on device" in manifest["notebooks"][0]["error"]
    assert not (reports / "faults" / "retrieval.trec").exists()  # absent, never cut mid-line
    assert "This run failed" in (reports / "faults" / "index.html").read_text()

    # Back to the first run, then a disk that fills up for good (papermill cannot even save the notebook).
    rc, log = finish(xqg_lab_run(write_config(tmp_path / "v1.yaml", (notebook, {"version": 1})), reports, tmp))
    assert rc == 0, log
    full = write_config(tmp_path / "v3.yaml", (notebook, {"version": 3, "fill_disk": True}))
    rc, log = finish(xqg_lab_run(full, reports, tmp))
    assert rc == 1 and "No space left on device" in log and "is unchanged" in log, log
    check_complete_run(reports / "faults", 1, 3)  # the previous run, whole
    assert (reports / "faults" / "retrieval.trec").read_bytes() == old_trec
    (staging,) = reports.glob(".faults.staging-*")  # the partial run, for inspection
    json.loads((staging / "tables.ipynb").read_text())  # its notebook: the last complete save


# -- 5. a full disk -------------------------------------------------------------------------


def fill_disk(monkeypatch, root: Path) -> None:
    """From now on writes to files under ``root`` store half their bytes, then fail with ENOSPC."""
    real_write = os.write

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(root)):
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def _chart(value):
    import altair as alt

    return alt.Chart(pd.DataFrame({"x": [value]})).mark_point().encode(x="x")


def _report_case(writer):
    from xqg_lab.present import report

    def case(folder, version):
        return {
            "save_table": lambda: report.save_table(pd.DataFrame({"v": [version]}), "t", output_dir=folder),
            "write_text": lambda: [report.write_text(f"v{version}", "t.md", output_dir=folder)],
            "save_chart": lambda: report.save_chart(_chart(version), "c", output_dir=folder),
            "save_provenance": lambda: [report.save_provenance({"v": version}, "t", output_dir=folder)],
        }[writer]()

    return case


def _cache_case(folder, version):
    EmbeddingCache(folder, chunk_size=4).encode({"m": 1}, TEXTS[: 8 * version], hash_vectors)


def _store_case(folder, version):
    """Version 1: a store whose shard 1 was interrupted; version 2: the run that finishes it."""
    from xqg_lab.generate.store import generate_store

    generate_store(EchoGenerator(), PASSAGES.iloc[:6], folder, langs=["de"], n_per_lang=1, shard_size=2,
                   progress=False)
    if version == 1:
        (folder / "shard-00001.queries.json").unlink()


def _shards_case(folder, version):
    """Version 1: a passage store whose shard 2 was interrupted; version 2: the run that finishes it
    (the corpus is untouched, so its first write is shard 2's)."""
    from xqg_lab.scale.shards import ShardStore, encode_passage_shards

    corpus = write_corpus(folder.parent / "psgs.tsv") if version == 1 else folder.parent / "psgs.tsv"
    encode_passage_shards(corpus, folder, encoder=HashEncoder(), shard_size=3, progress=False)
    if version == 1:
        ShardStore(folder).path(2, "passages.json").unlink()


def _query_shards_case(folder, version):
    """Version 1: a generated-query store whose shard 2 was interrupted before its Parquet file
    was written; version 2: the run that finishes it (its first write is that Parquet file)."""
    from xqg_lab.scale.shards import ShardStore, generate_query_shards

    corpus = write_corpus(folder.parent / "psgs.tsv") if version == 1 else folder.parent / "psgs.tsv"
    generate_query_shards(corpus, folder, generator=EchoGenerator(), langs=["de"], n_per_lang=1, shard_size=3,
                          progress=False)
    if version == 1:
        ShardStore(folder).path(2, "queries.json").unlink()
        ShardStore(folder).path(2, "queries.parquet").unlink()


def _trec_case(folder, version):
    from xqg_lab.search.index import write_trec_run

    run = pd.DataFrame({"query_id": [f"q{i}" for i in range(50 * version)], "doc_id": "d1", "rank": 1,
                        "score": float(version)})
    write_trec_run(run, folder / "retrieval.trec")


FULL_DISK_CASES = {
    **{w: _report_case(w) for w in ["save_table", "write_text", "save_chart", "save_provenance"]},
    "write_trec_run": _trec_case,
    "embedding cache": _cache_case,
    "query store": _store_case,
    "passage shards": _shards_case,
    "query shards (Parquet)": _query_shards_case,
}


@pytest.mark.parametrize("case", list(FULL_DISK_CASES))
def test_full_disk_names_the_file_and_keeps_the_previous_artifacts(case, tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    FULL_DISK_CASES[case](folder, 1)
    before = folder_bytes(folder)
    fill_disk(monkeypatch, folder)
    with pytest.raises(OSError, match=rf"could not write {re.escape(str(folder))}/.*: No space left on device "
                                      r"\(the disk is full: .*\); the previous file is unchanged") as info:
        FULL_DISK_CASES[case](folder, 2)
    assert info.value.errno == errno.ENOSPC
    assert folder_bytes(folder) == before
    assert tmp_files(folder) == []


# -- 6. safe defaults --------------------------------------------------------------------------

UNSAFE = {
    "pickle-like module": re.compile(r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle|joblib|shelve|marshal)\b", re.M),
    "pandas read_pickle": re.compile(r"read_pickle\("),
    "numpy allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "trust_remote_code=True": re.compile(r"trust_remote_code\s*=\s*True"),
    "yaml.load (not safe_load)": re.compile(r"yaml\.(unsafe_)?load\("),
    "network server": re.compile(r"\.listen\(|socketserver|HTTPServer|\.bind\(\("),
}


def _torch_loads_without_weights_only(source: str) -> list[str]:
    calls = []
    for match in re.finditer(r"torch\.load\(", source):
        depth, end = 1, match.end()
        while depth and end < len(source):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            end += 1
        call = source[match.start() : end]
        if not re.search(r"weights_only\s*=\s*True", call):
            calls.append(call)
    return calls


def _sources() -> dict[str, str]:
    """The package's Python files and the code cells of the shipped notebooks."""
    out = {str(p.relative_to(PACKAGE.parent)): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    for nb in (PACKAGE.parent / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        out[str(nb.relative_to(PACKAGE.parent))] = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return out


@pytest.mark.parametrize("check", [*UNSAFE, "torch.load without weights_only=True"])
def test_sources_use_no_unsafe_loading_or_network_defaults(check):
    sources = _sources()
    assert len(sources) > 40
    if check in UNSAFE:
        found = {name: UNSAFE[check].findall(text) for name, text in sources.items()}
    else:
        found = {name: _torch_loads_without_weights_only(text) for name, text in sources.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_every_trust_remote_code_parameter_defaults_to_false():
    import importlib
    import inspect
    import pkgutil

    import xqg_lab

    seen = []
    for module_info in pkgutil.walk_packages(xqg_lab.__path__, "xqg_lab."):
        if module_info.name == "xqg_lab.__main__":
            continue
        module = importlib.import_module(module_info.name)
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__ or not callable(obj):
                continue
            try:
                parameters = inspect.signature(obj).parameters
            except (TypeError, ValueError):
                continue
            if "trust_remote_code" in parameters:
                seen.append(f"{module.__name__}.{name}")
                assert parameters["trust_remote_code"].default is False, seen[-1]
    assert "xqg_lab.encode.model.Encoder" in seen


def test_download_with_a_wrong_sha256_is_refused_and_not_kept(tmp_path, monkeypatch):
    import pooch

    from xqg_lab.data import fetch as fetch_mod

    good = b"the pinned content\n"
    entry = fetch_mod.RemoteFile("tiny.file", "http://127.0.0.1:9/file.txt", hashlib.sha256(good).hexdigest(),
                                 "tiny/file.txt")
    monkeypatch.setattr(fetch_mod, "registry", lambda: {"tiny.file": entry})
    monkeypatch.delenv("XQG_LAB_MIRROR", raising=False)
    monkeypatch.setenv("XQG_LAB_CACHE", str(tmp_path / "cache"))

    def tampered_download(self, url, output_file, pooch_obj, check_only=False):
        Path(output_file).write_bytes(b"something else\n")  # what a hijacked server would send

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", tampered_download)
    with pytest.raises(ValueError, match="(?i)hash"):
        fetch_mod.fetch("tiny.file")
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_a_run_opens_no_tcp_listening_socket_and_its_manifest_records_how_to_rerun(tmp_path):
    """The runner's kernel talks over IPC; neither the kernel nor the runner listens on TCP.
    The manifest holds what a re-run needs: config and notebook hashes, parameters (seed),
    package versions, commit, data files with their sha256."""
    notebook = write_notebook(
        tmp_path / "probe.ipynb", "seed = 0",
        "import os\n"
        "from ipykernel.connect import get_connection_info\n"
        "from xqg_lab.present.report import data_provenance, save_provenance\n"
        "listening = {line.split()[9] for f in ['/proc/net/tcp', '/proc/net/tcp6'] if os.path.exists(f)\n"
        "             for line in open(f).read().splitlines()[1:] if line.split()[3] == '0A'}\n"
        "mine = set()\n"
        "for fd in [f'/proc/{pid}/fd/{n}' for pid in (os.getpid(), os.getppid()) for n in os.listdir(f'/proc/{pid}/fd')]:\n"
        "    try:\n"
        "        link = os.readlink(fd)\n"
        "    except OSError:  # closed meanwhile\n"
        "        continue\n"
        "    if link.startswith('socket:['):\n"
        "        mine.add(link[8:-1])\n"
        "probe = {'transport': get_connection_info(unpack=True)['transport'], 'sockets': len(mine),\n"
        "         'listening': sorted(listening & mine)}\n"
        "save_provenance({'seed': seed, 'data': data_provenance(['xquad.en']), 'probe': probe}, 'probe')",
    )
    run_dir = run_notebooks(tmp_path, (notebook, {"seed": 7}))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    probe = manifest["provenance"]["probe"]["probe"]
    assert probe["transport"] == "ipc" and probe["sockets"] > 0 and probe["listening"] == []
    assert manifest["config_sha256"] == hashlib.sha256((tmp_path / "run.yaml").read_bytes()).hexdigest()
    (entry,) = manifest["notebooks"]
    assert entry["notebook_sha256"] == hashlib.sha256(notebook.read_bytes()).hexdigest()
    assert entry["parameters"] == {"seed": 7} and manifest["provenance"]["probe"]["seed"] == 7
    (data,) = manifest["provenance"]["probe"]["data"]
    assert data["sha256"] == hashlib.sha256(Path(data["path"]).read_bytes()).hexdigest()
    env = manifest["environment"]
    assert env["python"] and env["packages"]["xqg_lab"] and env["packages"]["papermill"]
    assert "xqg_lab_commit" in env and manifest["mirror"]


# -- 7. determinism -----------------------------------------------------------------------------


def test_same_seed_gives_a_byte_identical_query_store_and_another_seed_does_not(tiny_mt5_dir, tmp_path):
    from xqg_lab.generate.seq2seq import Seq2SeqGenerator
    from xqg_lab.generate.store import generate_store, read_store

    def run(folder, seed):
        generator = Seq2SeqGenerator(str(tiny_mt5_dir), batch_size=3, max_length=12)  # top-k 10 sampling
        return generate_store(generator, PASSAGES.iloc[:4], folder, langs=["de", "ja"], n_per_lang=2, seed=seed,
                              shard_size=2, progress=False)

    first, again, other = run(tmp_path / "a", 3), run(tmp_path / "b", 3), run(tmp_path / "c", 4)
    assert folder_bytes(first) == folder_bytes(again)
    pd.testing.assert_frame_equal(read_store(first), read_store(again))
    assert read_store(first)["text"].tolist() != read_store(other)["text"].tolist()


@pytest.mark.parametrize("tiny_encoder_dir", ["bert"], indirect=True)
def test_same_config_gives_identical_rankings_and_metrics_on_cpu(tiny_encoder_dir, tmp_path):
    from xqg_lab.data.common import RetrievalData
    from xqg_lab.encode.model import Encoder
    from xqg_lab.metrics.retrieval import evaluate_retrieval

    passages = PASSAGES.assign(lang="en")
    queries = pd.DataFrame({"query_id": [f"q{i}" for i in range(6)], "lang": ["de", "ja"] * 3,
                            "text": [f"fox number {i}" for i in range(6)]})
    qrels = pd.DataFrame({"query_id": queries["query_id"], "doc_id": [f"p{i:02d}" for i in range(6)],
                          "relevance": 1})
    data = RetrievalData(passages=passages, queries=queries, qrels=qrels)

    def run():
        encoder = Encoder(str(tiny_encoder_dir), device="cpu", batch_size=4, cache_dir=False, progress=False)
        return evaluate_retrieval(data, encoder, k=5, measures=["MRR@5", "R@1", "R@5", "nDCG@5"])

    first, again = run(), run()
    pd.testing.assert_frame_equal(first.run, again.run, check_exact=True)
    pd.testing.assert_frame_equal(first.per_query, again.per_query, check_exact=True)
    pd.testing.assert_frame_equal(first.by_lang, again.by_lang, check_exact=True)


def test_a_staged_folder_appears_whole_or_not_at_all(tmp_path):
    from xqg_lab.core.atomic import staged_folder

    with staged_folder(tmp_path / "done") as staging:
        (staging / "a.txt").write_text("a")
    assert (tmp_path / "done" / "a.txt").read_text() == "a"
    with pytest.raises(RuntimeError), staged_folder(tmp_path / "failed") as staging:
        (staging / "a.txt").write_text("a")
        raise RuntimeError("killed mid-build")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done"]
