"""Tests of xqg_lab.data.fetch: registry, mirror lookup, sha256 checks, download fallback, punkt."""

from __future__ import annotations

import hashlib
import re
import types
from pathlib import Path

import pytest

from xqg_lab.data import fetch as fetch_mod
from xqg_lab.core import checksums
from xqg_lab.core.checksums import file_sha256
from xqg_lab.data.fetch import RemoteFile, ensure_punkt, fetch, mirror_dir, registry
from xqg_lab.core.errors import DataFormatError

MKQA_FULL_SHA256 = "f77ac6bf6306e98816c5c047880db71a3c67d2f1491b169896d63e9bb14ef3d3"


@pytest.fixture
def mirror() -> Path:
    """The real offline mirror (conftest points XQG_LAB_MIRROR at ../shared/data)."""
    try:
        folder = mirror_dir()
    except NotADirectoryError:
        folder = None
    if folder is None:
        pytest.skip("offline data mirror not available")
    return folder


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    """A mirror folder holding one tiny file, and a registry naming only that file."""
    folder = tmp_path / "mirror"
    (folder / "tiny").mkdir(parents=True)
    data = b"hello mirror\n"
    (folder / "tiny" / "hello.txt").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    entries = {
        "tiny.hello": RemoteFile(
            "tiny.hello", "http://127.0.0.1:9/hello.txt", digest, "tiny/hello.txt"
        ),
        "tiny.absent": RemoteFile(
            "tiny.absent", "http://127.0.0.1:9/absent.txt", digest, "tiny/absent.txt"
        ),
        "tiny.nourl": RemoteFile("tiny.nourl", None, digest, "tiny/nourl.txt"),
    }
    monkeypatch.setattr(fetch_mod, "registry", lambda: entries)
    checksums._sha256.cache_clear()
    monkeypatch.setenv("XQG_LAB_MIRROR", str(folder))
    return types.SimpleNamespace(folder=folder, entries=entries, digest=digest)


def test_registry_lists_every_pinned_file():
    reg = registry()
    groups = {}
    for name in reg:
        groups.setdefault(name.split(".")[0], []).append(name)
    assert len(groups["xquad"]) == 12
    assert {"xor_tydi.dev", "xor_tydi.train"} <= set(reg)
    assert len([n for n in groups["xor_tydi"] if ".translation." in n]) == 14
    assert len(groups["tatoeba"]) == 2 * 112
    assert len(groups["nltk"]) == 4
    assert reg["mkqa.full"].sha256 == MKQA_FULL_SHA256
    assert reg["mkqa.full"].url == (
        "https://github.com/apple/ml-mkqa/raw/94ed242c7b8b97e72ba6ada6615362955d1b2d1e/dataset/mkqa.jsonl.gz"
    )
    assert reg["dpr.psgs_w100"].sha256 == "c39b020c855a2b5c25ffef3abe4a3b6f9b829ad7dbc14ec3d163d34d7c53ea8d"
    for entry in reg.values():
        assert entry.sha256 is not None and re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry
        assert not entry.mirror_path.startswith("/")


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        registry()["x"] = None  # type: ignore[index]


@pytest.mark.parametrize("value", [None, "", "   "])
def test_mirror_dir_unset_or_empty_is_none(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("XQG_LAB_MIRROR", raising=False)
    else:
        monkeypatch.setenv("XQG_LAB_MIRROR", value)
    assert mirror_dir() is None


def test_mirror_dir_not_a_directory_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("XQG_LAB_MIRROR", str(tmp_path / "nope"))
    with pytest.raises(NotADirectoryError, match="XQG_LAB_MIRROR"):
        mirror_dir()


def test_fetch_returns_mirror_file_itself(mirror):
    assert fetch("xquad.en") == mirror / "xquad" / "xquad.en.json"
    assert fetch("tatoeba.tel.eng") == mirror / "tatoeba" / "tatoeba.tel-eng.eng"


def test_fetch_verifies_every_mirrored_file(mirror):
    for name, entry in registry().items():
        if (mirror / entry.mirror_path).is_file():
            assert fetch(name) == mirror / entry.mirror_path
        else:
            assert name in {"mkqa.full", "dpr.psgs_w100"}  # the files the mirror does not hold


def test_fetch_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match=r"unknown data file 'xquad\.xx'.*did you mean"):
        fetch("xquad.xx")


def test_fetch_hashes_each_file_version_once(fake_mirror, monkeypatch):
    calls = []

    def counting_sha256():
        calls.append(1)
        return hashlib.sha256()

    monkeypatch.setattr(checksums, "hashlib", types.SimpleNamespace(sha256=counting_sha256))
    path = fetch("tiny.hello")
    assert path == fake_mirror.folder / "tiny" / "hello.txt"
    fetch("tiny.hello")
    assert len(calls) == 1
    path.write_bytes(b"hello mirror, changed\n")  # new size: the cached verification is void
    with pytest.raises(DataFormatError):
        fetch("tiny.hello")
    assert len(calls) == 2


def test_fetch_mirror_hash_mismatch_names_file_and_both_hashes(fake_mirror):
    path = fake_mirror.folder / "tiny" / "hello.txt"
    path.write_bytes(b"tampered\n")
    found = hashlib.sha256(b"tampered\n").hexdigest()
    with pytest.raises(ValueError) as info:
        fetch("tiny.hello")
    message = str(info.value)
    assert str(path) in message and "tiny.hello" in message
    assert f"expected {fake_mirror.digest}" in message and f"found {found}" in message


def test_fetch_unknown_hash_warns_with_computed_hash(fake_mirror, monkeypatch):
    entry = RemoteFile("tiny.hello", None, None, "tiny/hello.txt")
    monkeypatch.setattr(fetch_mod, "registry", lambda: {"tiny.hello": entry})
    with pytest.warns(UserWarning, match=f"NOT verified.*{fake_mirror.digest}"):
        assert fetch("tiny.hello").is_file()


def test_fetch_missing_from_mirror_names_mirror_path_and_url(fake_mirror, isolated_cache):
    with pytest.raises(FileNotFoundError) as info:
        fetch("tiny.absent")
    message = str(info.value)
    assert str(fake_mirror.folder / "tiny" / "absent.txt") in message
    assert "http://127.0.0.1:9/absent.txt" in message


def test_fetch_without_url_or_mirror_says_how_to_fix(fake_mirror, monkeypatch):
    monkeypatch.delenv("XQG_LAB_MIRROR")
    with pytest.raises(FileNotFoundError, match=r"no download URL.*XQG_LAB_MIRROR"):
        fetch("tiny.nourl")


def test_fetch_downloads_into_cache_without_mirror(fake_mirror, monkeypatch, isolated_cache):
    """Without a mirror, fetch hands pooch the pinned URL, hash and a cache location."""
    seen = {}

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        seen.update(url=url, known_hash=known_hash, fname=fname, path=Path(path))
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / fname).write_bytes(b"hello mirror\n")
        return str(Path(path) / fname)

    import pooch

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    monkeypatch.delenv("XQG_LAB_MIRROR")
    path = fetch("tiny.hello")
    assert path == isolated_cache / "data" / "tiny" / "hello.txt"
    assert seen["url"] == "http://127.0.0.1:9/hello.txt"
    assert seen["known_hash"] == f"sha256:{fake_mirror.digest}"


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(256)) * 5000)
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_ensure_punkt_makes_word_tokenize_work_offline(mirror, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    root = ensure_punkt()
    assert root == mirror / "nltk_data"
    assert str(root) in nltk.data.path
    assert ensure_punkt() == root and nltk.data.path.count(str(root)) == 1
    tokens = nltk.word_tokenize("Mr. Smith paid $3.50 for it. Didn't he?")
    assert tokens == [
        "Mr.",
        "Smith",
        "paid",
        "$",
        "3.50",
        "for",
        "it",
        ".",
        "Did",
        "n't",
        "he",
        "?",
    ]


@pytest.mark.parametrize("tampered", [False, True])
def test_ensure_punkt_without_a_mirror_installs_the_pinned_tables_not_nltk_download(
    mirror, tampered, monkeypatch, isolated_cache
):
    import zipfile

    import nltk
    import pooch

    tables = mirror / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    seen = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):  # NLTK's zip: every language, English pinned
        seen.append(url)
        archive = Path(path) / fname
        with zipfile.ZipFile(archive, "w") as zipped:
            for table in sorted(tables.iterdir()):
                data = table.read_bytes() + (b"x\n" if tampered and table.name == "abbrev_types.txt" else b"")
                zipped.writestr(f"punkt_tab/english/{table.name}", data)
            zipped.writestr("punkt_tab/german/abbrev_types.txt", "usw\n")
        return str(archive)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    monkeypatch.setattr(nltk, "download", lambda *a, **k: pytest.fail("nltk.download fetches an unpinned package"))
    monkeypatch.setattr(nltk.data, "path", [])  # NLTK finds no tables of its own
    monkeypatch.delenv("XQG_LAB_MIRROR")
    installed = isolated_cache / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    if tampered:
        with pytest.raises(ValueError, match=r"sha256 mismatch for 'nltk.punkt_tab.english.abbrev_types.txt'.*"
                                             r"nothing was installed"):
            ensure_punkt()
        assert not installed.exists() or list(installed.iterdir()) == []
        return
    root = ensure_punkt()
    assert root == isolated_cache / "nltk_data" and seen == [fetch_mod.PUNKT_ZIP_URL]
    assert sorted(p.name for p in installed.iterdir()) == sorted(p.name for p in tables.iterdir())
    assert all((installed / p.name).read_bytes() == p.read_bytes() for p in tables.iterdir())
    assert ensure_punkt() == root and seen == [fetch_mod.PUNKT_ZIP_URL]  # installed once
    assert nltk.word_tokenize("Mr. Smith paid $3.50. Didn't he?")[:2] == ["Mr.", "Smith"]
