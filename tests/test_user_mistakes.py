"""User mistakes end in one clear error, never a raw traceback (issue 16, item 4).

Each case is a mistake a user makes on the command line, in a config file or in a library
call. Command-line cases run the real ``xqg-lab`` in a subprocess (with a timeout) and
assert a non-zero exit, no traceback and the message fragments; library cases assert the
exception type and message. Every message has the shape "expected …, found …; fix: …".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from xqg_lab.core.config import ConfigError, RunConfig
from xqg_lab.core.errors import DataFormatError, ModelNotFoundError
from xqg_lab.metrics.xor_retrieve import read_xor_data
from xqg_lab.metrics.retrieval import evaluate_retrieval

REPO = Path(__file__).resolve().parents[1]
SHAPE = ("expected", "found", "fix")


def xqg_lab_cli(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m xqg_lab *args`` with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "xqg_lab", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def read_only_folder(tmp_path):
    """``(folder, freeze)``: a folder to fill, and a callable that makes it read-only. A normal
    user gets ``chmod``; root, whom permissions do not stop, a tmpfs remounted read-only
    (skipped where mounting is not allowed)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        def freeze():
            for path in [folder, *folder.rglob("*")]:
                path.chmod(0o555 if path.is_dir() else 0o444)
        yield folder, freeze
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755)
        return
    if shutil.which("mount") is None or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True
    ).returncode:
        pytest.skip("running as root and cannot mount a tmpfs: no way to make a folder read-only")

    def freeze():
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
    try:
        yield folder, freeze
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


# ----------------------------------------------------------------------------- command line

SIZING = "run: s\nnotebooks: [{notebook: sizing}]\n"


def _config(tmp_path: Path, text: str, name: str = "c.yaml") -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


def _retrieval(tmp_path: Path, **params) -> str:
    step = {"notebook": "retrieval_eval", "parameters": {"dataset": "xquad", "k": 10, **params}}
    return _config(tmp_path, json.dumps({"run": "r", "notebooks": [step]}))


def _binary(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 8)
    return ["run", "c.yaml"]


def _folder(tmp_path):
    (tmp_path / "configs").mkdir()
    return ["run", "configs"]


def _reports_file(tmp_path):
    (tmp_path / "reports").write_text("not a folder")
    return ["run", _config(tmp_path, SIZING), "--reports-dir", "reports"]


def _score_empty(tmp_path):
    (tmp_path / "dev.jsonl").write_text("")
    (tmp_path / "pred.json").write_text("[]")
    return ["score-xor", "--data_file", "dev.jsonl", "--pred_file", "pred.json"]


def _shards_empty_corpus(tmp_path):
    (tmp_path / "corpus.tsv").write_text("id\ttext\ttitle\n")
    return ["shards", "encode", "--corpus", "corpus.tsv", "--encoder", "embedded:multilingual-e5-small",
            "--out", "store", "--shard-size", "2"]


CLI_CASES = {
    "binary config file": (_binary, ["c.yaml", "expected a UTF-8 YAML text file", "binary"]),
    "config path is a folder": (_folder, ["configs", "found a folder"]),
    "300-character run name": (
        lambda t: ["run", _config(t, f"run: {'r' * 300}\nnotebooks: [{{notebook: sizing}}]\n")],
        ["c.yaml", "at most 100 characters, found 300"],
    ),
    "--reports-dir is a file": (_reports_file, ["--reports-dir to be a folder, found a file"]),
    "unknown --kernel": (
        lambda t: ["run", _config(t, SIZING), "--reports-dir", "reports", "--kernel", "no-such-kernel"],
        ["--kernel to be an installed Jupyter kernel", "'no-such-kernel'"],
    ),
    'k: "ten"': (lambda t: ["run", _retrieval(t, k="ten")], ["c.yaml: notebooks[0]", "k: expected a valid integer, found 'ten'"]),
    "k: 10.5": (lambda t: ["run", _retrieval(t, k=10.5)], ["k: expected a valid integer, found 10.5", "k: 10"]),
    'langs: "en"': (lambda t: ["run", _retrieval(t, langs="en")], ["langs: expected a valid list, found 'en'", "langs: [en]"]),
    'measures: "MRR@10"': (lambda t: ["run", _retrieval(t, measures="MRR@10")], ["measures: expected a valid list"]),
    "score-xor: empty data file": (_score_empty, ["dev.jsonl", "found an empty file"]),
    "shards encode: empty corpus": (_shards_empty_corpus, ["corpus.tsv", "at least one passage, found none"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_mistake_gives_one_clear_error(case, tmp_path):
    build, fragments = CLI_CASES[case]
    result = xqg_lab_cli(*build(tmp_path), cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in [*fragments, *SHAPE]:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert not (tmp_path / "reports" / "r").exists()  # refused before any notebook ran


def test_read_only_reports_dir_is_refused_before_running(tmp_path, read_only_folder):
    folder, freeze = read_only_folder
    freeze()
    result = xqg_lab_cli("run", _config(tmp_path, SIZING), "--reports-dir", str(folder), cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "expected --reports-dir to be a writable folder" in result.stderr and "fix:" in result.stderr


def test_device_cuda_on_a_cpu_machine_through_shards_encode(tmp_path, tiny_bert_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "corpus.tsv").write_text("id\ttext\ttitle\n1\tOne passage.\tT\n")
    result = xqg_lab_cli("shards", "encode", "--corpus", "corpus.tsv", "--encoder", str(tiny_bert_dir), "--preset",
                         "dpr", "--out", "store", "--shard-size", "1", "--device", "cuda", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "found device='cuda' but CUDA is not available" in result.stderr and "device='cpu'" in result.stderr


# ----------------------------------------------------------------------------- library calls


def _encoder(path, **kwargs):
    from xqg_lab.encode.model import Encoder

    return Encoder(str(path), preset="dpr", progress=False, **kwargs)


def _heldout_collection(langs):
    from xqg_lab.data.xquad import load_xquad
    from xqg_lab.generate import split_questions
    from xqg_lab.studies.xqg import evaluation_collection

    data = load_xquad(["en", "de"])
    split = split_questions(data.queries, data.qrels, eval_fraction=0.5, seed=0)
    return evaluation_collection(data, split, langs=langs)


def _empty_corpus_evaluation(table_encoder):
    from xqg_lab.data.common import RetrievalData
    from xqg_lab.metrics.retrieval import evaluate_retrieval

    data = RetrievalData(
        pd.DataFrame(columns=["doc_id", "title", "text"]),
        pd.DataFrame({"query_id": ["q"], "lang": ["en"], "text": ["where?"]}),
        pd.DataFrame({"query_id": ["q"], "doc_id": ["d"], "relevance": [1]}),
    )
    return evaluate_retrieval(data, table_encoder({"where?": [1.0, 0.0]}), k=10, measures=["R@10"])


def _evaluate_with_k(table_encoder, k):
    from xqg_lab.data.common import RetrievalData

    data = RetrievalData(
        pd.DataFrame({"doc_id": ["d"], "title": [""], "text": ["a"]}),
        pd.DataFrame({"query_id": ["q"], "lang": ["en"], "text": ["qa"]}),
        pd.DataFrame({"query_id": ["q"], "doc_id": ["d"], "relevance": [1]}),
    )
    return evaluate_retrieval(data, table_encoder({"a": [1.0], "qa": [1.0]}), k=k)


def _cuda(tiny_bert_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    return _encoder(tiny_bert_dir, device="cuda", cache_dir=False).encode_queries(["x"])


def _hub_offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return _encoder("xqg-lab-test/no-such-model-3f9", cache_dir=False).encode_queries(["x"])


def _empty_file(folder: Path) -> Path:
    (folder / "empty.jsonl").write_text("")
    return folder / "empty.jsonl"


# case: (call(getfixture), exception type, message pattern)
API_CASES = {
    "langs: [] (held-out evaluation)": (
        lambda f: _heldout_collection([]), ValueError, r"expected some of: de, en .*found an empty language selection; fix"
    ),
    "unknown language (held-out evaluation)": (
        lambda f: _heldout_collection(["fr"]), ValueError, r"expected query language to be one of 'de', 'en', found 'fr'"
    ),
    "device='cuda' on a CPU machine": (
        lambda f: _cuda(f("tiny_bert_dir")), ValueError,
        r"expected a device this machine has, found device='cuda'.*fix: pass device='cpu'",
    ),
    "empty text list": (
        lambda f: _encoder(f("tiny_bert_dir"), cache_dir=False).encode_queries([]), ValueError,
        r"expected at least one text to encode, found an empty list; fix",
    ),
    "empty passage frame": (
        lambda f: _encoder(f("tiny_bert_dir"), cache_dir=False).encode_passages(pd.DataFrame(columns=["title", "text"])),
        ValueError, r"found an empty list",
    ),
    "empty corpus (evaluate_retrieval)": (
        lambda f: _empty_corpus_evaluation(f("table_encoder")), ValueError,
        r"expected a collection with passages, found 0 passages; fix",
    ),
    "unknown hub model offline": (
        lambda f: _hub_offline(f("monkeypatch")), ModelNotFoundError,
        r"found 'xqg-lab-test/no-such-model-3f9' in neither.*HF_HUB_OFFLINE=1.*fix: .*local copy.*embedded:",
    ),
    "missing model folder": (
        lambda f: _encoder(f("tmp_path") / "no-model", cache_dir=False).encode_queries(["x"]), ModelNotFoundError,
        r"expected a model folder, found no folder at .*no-model",
    ),
    'batch_size="64"': (
        lambda f: _encoder(f("tiny_bert_dir"), batch_size="64"), ValueError,
        r"expected batch_size to be a positive int, found '64'",
    ),
    'evaluate_retrieval(k="ten")': (
        lambda f: _evaluate_with_k(f("table_encoder"), "ten"), ValueError,
        r"expected k \(depth of the ranked lists\) to be a positive int, found 'ten'",
    ),
    "run: null": (
        lambda f: RunConfig.parse({"run": None, "notebooks": [{"notebook": "a"}]}), ConfigError,
        r"expected 'run' to be a folder name, found null; fix",
    ),
    "score-xor: empty data file": (
        lambda f: read_xor_data(_empty_file(f("tmp_path"))), DataFormatError,
        r"empty\.jsonl: expected one XOR-Retrieve question per line .*found an empty file",
    ),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_library_mistake_gives_one_clear_error(case, request):
    call, error, match = API_CASES[case]
    with pytest.raises(error, match=match) as info:
        call(request.getfixturevalue)
    assert "expected" in str(info.value), str(info.value)  # the found value is in each pattern


def test_read_only_cache_with_a_missing_entry_names_the_cache_and_the_fix(read_only_folder, tiny_bert_dir):
    folder, freeze = read_only_folder
    encoder = _encoder(tiny_bert_dir, cache_dir=folder)
    encoder.encode_queries(["cached before the cache became read-only"])
    freeze()
    assert encoder.encode_queries(["cached before the cache became read-only"]).shape[0] == 1  # reads still work
    with pytest.raises(PermissionError, match=r"expected a writable embedding cache, found .* not writable .*1 text\(s\) "
                                              r"are not cached yet; fix: set XQG_LAB_CACHE .*cache_dir=False"):
        encoder.encode_queries(["a text that is not cached"])
