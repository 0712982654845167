"""Pinned downloads of the public data sets, with an offline mirror that can stand in for them.

Every file the toolkit downloads is named in one declarative table, ``registry.tsv`` (shipped
inside this package): ``name -> (url, sha256, mirror_path)``. :func:`fetch` returns a local
path for a name:

1. with a mirror folder (env ``XQG_LAB_MIRROR``; the runner sets it from the config key
   ``data.mirror``) that holds ``mirror_path``: the mirror file itself, after checking its
   sha256 (once per process and file version);
2. otherwise: a ``pooch`` download into ``<cache>/data/`` (cache root: env ``XQG_LAB_CACHE``,
   else the platform user cache folder ``xqg_lab``), verified against the pinned sha256.

The XOR-TyDi DPR corpus (``enwiki_20190201_w100.tsv``, about 18M passages) is not in the
registry; pass its path to :func:`xqg_lab.data.xor_tydi.iter_dpr_corpus`.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from xqg_lab.core.checksums import file_sha256
from xqg_lab.core.errors import DataFormatError

MIRROR_ENV = "XQG_LAB_MIRROR"
"""Environment variable naming the offline mirror folder (see ``shared/data/PROVENANCE.md``)."""

_REGISTRY_RESOURCE = "registry.tsv"
_REGISTRY_COLUMNS = ("name", "url", "sha256", "mirror_path")
_MISSING = "-"
_PUNKT_PREFIX = "nltk.punkt_tab.english."
_PUNKT_RESOURCE = "tokenizers/punkt_tab/english/"
PUNKT_ZIP_URL = (
    "https://raw.githubusercontent.com/nltk/nltk_data/05094b33a8e134c88ff257c25f935424c52c1372/"
    "packages/tokenizers/punkt_tab.zip"
)
"""NLTK's punkt_tab package at a fixed nltk_data commit (what ``nltk.download("punkt_tab")``
fetches from the moving ``gh-pages`` branch); only its English tables are kept, each checked
against the sha256 pinned in ``registry.tsv``."""

# (resolved path, size, mtime_ns) -> sha256 hex digest; lets 224 Tatoeba files be verified once.


@dataclass(frozen=True)
class RemoteFile:
    """One pinned file of the registry.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"xquad.en"``, ``"xor_tydi.dev"``, ``"tatoeba.ara.eng"``.
    url : str or None
        Public download address (None: no single-file download exists).
    sha256 : str or None
        Expected lowercase hex digest (None: not known; fetching warns and reports it).
    mirror_path : str
        POSIX path of the file relative to the mirror folder.
    """

    name: str
    url: str | None
    sha256: str | None
    mirror_path: str


@cache
def registry() -> Mapping[str, RemoteFile]:
    """All pinned files, read once from the package's ``registry.tsv`` (read-only mapping)."""
    from importlib import resources

    resource = resources.files("xqg_lab.data").joinpath(_REGISTRY_RESOURCE)
    text = resource.read_text(encoding="utf-8")
    entries: dict[str, RemoteFile] = {}
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if not header_seen:
            if tuple(fields) != _REGISTRY_COLUMNS:
                raise DataFormatError(
                    str(resource), number, f"expected header {_REGISTRY_COLUMNS}, found {fields}"
                )
            header_seen = True
            continue
        if len(fields) != len(_REGISTRY_COLUMNS):
            raise DataFormatError(
                str(resource), number, f"expected 4 tab-separated fields, found {len(fields)}"
            )
        name, url, sha, mirror_path = fields
        if name in entries:
            raise DataFormatError(str(resource), number, f"duplicate registry name {name!r}")
        entries[name] = RemoteFile(
            name=name,
            url=None if url == _MISSING else url,
            sha256=None if sha == _MISSING else sha.lower(),
            mirror_path=mirror_path,
        )
    return MappingProxyType(entries)


def mirror_dir() -> Path | None:
    """The offline mirror folder from ``$XQG_LAB_MIRROR``, or None when the variable is unset/empty.

    Raises
    ------
    NotADirectoryError
        If the variable names something that is not a folder.
    """
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise NotADirectoryError(
            f"{MIRROR_ENV}={value!r} is not a directory; expected the offline mirror folder "
            f"(holding xquad/, xor-tydi/, tatoeba/, ...); fix the path or unset {MIRROR_ENV} "
            "to download from the public addresses instead"
        )
    return path


def fetch(name: str) -> Path:
    """Local path of the registry file ``name``: the verified mirror copy, or a pinned download.

    Parameters
    ----------
    name : str
        A key of :func:`registry`, e.g. ``"xquad.en"``, ``"xor_tydi.dev"``, ``"mkqa.sample"``,
        ``"tatoeba.tel.eng"``.

    Returns
    -------
    Path
        The mirror file itself (never copied) or the file in ``<cache>/data/``.

    Raises
    ------
    ValueError
        Unknown ``name``; or the file's sha256 differs from the pinned one
        (:class:`~xqg_lab.core.errors.DataFormatError` naming file, expected and found hash).
    FileNotFoundError
        The file is neither in the mirror nor downloadable (offline); the message names the
        mirror path looked at and the URL tried.
    """
    entry = _entry(name)
    mirror = mirror_dir()
    if mirror is None:
        return _download(entry, looked_at=None)
    candidate = mirror / entry.mirror_path
    if candidate.is_file():
        _verify(candidate, entry)
        return candidate
    return _download(entry, looked_at=candidate)


def resolve_source(source: str | os.PathLike[str], names: tuple[str, ...], *, prefix: str, kind: str,
                   file: str) -> Path:
    """``fetch(f"{prefix}.{source}")`` for a name of ``names``, else ``source`` as an existing file.

    ``kind`` names what ``names`` are ("split") and ``file`` what a path must hold ("an
    XOR-Retrieve JSONL file"), for the error messages.
    """
    if isinstance(source, str) and source in names:
        return fetch(f"{prefix}.{source}")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(
                f"no such file: {path}; expected a {kind} name ({', '.join(names)}) or the path of {file}"
            )
        return path
    raise TypeError(f"expected source as a {kind} name ({', '.join(names)}) or a path, found {type(source).__name__}")


def ensure_punkt() -> Path:
    """Make ``nltk.word_tokenize`` work offline; return the ``nltk_data`` folder that serves it.

    Order: the mirror's ``nltk_data/``; else English punkt_tab tables NLTK already finds; else
    the tables installed earlier in ``<cache>/nltk_data``; else a download of
    :data:`PUNKT_ZIP_URL` (a fixed commit) whose English tables are installed there. In every
    case the four English tables must match the sha256 pinned in ``registry.tsv`` (tables
    that NLTK finds but that differ are passed over); the folder is appended to
    ``nltk.data.path``. Idempotent.

    Raises
    ------
    FileNotFoundError
        Nothing found and the download failed (offline without a mirror).
    DataFormatError
        A mirror table, or a downloaded one, differs from its pinned sha256.
    """
    import nltk

    entries = {e.mirror_path.rsplit("/", 1)[1]: e for n, e in registry().items() if n.startswith(_PUNKT_PREFIX)}
    mirror = mirror_dir()
    looked_at = None
    if mirror is not None:
        root = mirror / "nltk_data"
        if all((root / _PUNKT_RESOURCE / name).is_file() for name in entries):
            for name, e in entries.items():
                _verify(root / _PUNKT_RESOURCE / name, e)
            _add_nltk_path(nltk, root)
            return root
        looked_at = root / _PUNKT_RESOURCE
    try:
        found = Path(str(nltk.data.find(_PUNKT_RESOURCE))).parents[2]
    except LookupError:
        pass
    else:
        if _pinned_tables(found, entries):
            return found
    target = _cache_root() / "nltk_data"
    if not _pinned_tables(target, entries):
        _download_punkt(target, entries, looked_at=looked_at)
    _add_nltk_path(nltk, target)
    return target


def _pinned_tables(root: Path, entries: Mapping[str, RemoteFile]) -> bool:
    """Whether ``root`` holds the English punkt_tab tables with their pinned hashes."""
    folder = root / _PUNKT_RESOURCE
    return all((folder / name).is_file() and file_sha256(folder / name) == e.sha256 for name, e in entries.items())


def _download_punkt(target: Path, entries: Mapping[str, RemoteFile], *, looked_at: Path | None) -> None:
    """Install the English tables of :data:`PUNKT_ZIP_URL` under ``target`` after checking
    every one against its pinned sha256 (nothing is installed when one differs)."""
    import hashlib
    import tempfile
    import zipfile

    import pooch

    from xqg_lab.core.atomic import write_atomic

    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        try:
            archive = pooch.retrieve(PUNKT_ZIP_URL, known_hash=None, fname="punkt_tab.zip", path=scratch,
                                     progressbar=False)
        except OSError as exc:  # requests' network errors are OSErrors too
            where = f"looked in the mirror at {looked_at}; " if looked_at else f"no mirror set (${MIRROR_ENV}); "
            raise FileNotFoundError(
                f"NLTK punkt_tab English tables not found: {where}the pinned download from {PUNKT_ZIP_URL} failed "
                f"({type(exc).__name__}: {exc}); expected {_PUNKT_RESOURCE} under one of nltk.data.path; fix: "
                f"point ${MIRROR_ENV} at the mirror, or connect to the internet"
            ) from exc
        tables = {}
        with zipfile.ZipFile(archive) as zipped:
            for name, e in entries.items():
                member = f"punkt_tab/english/{name}"
                try:
                    data = zipped.read(member)
                except KeyError:
                    raise DataFormatError(archive, None, f"expected {member} in {PUNKT_ZIP_URL}, found none") from None
                found = hashlib.sha256(data).hexdigest()
                if found != e.sha256:
                    raise DataFormatError(
                        archive, None, f"sha256 mismatch for {e.name!r} ({member} of {PUNKT_ZIP_URL}): expected "
                        f"{e.sha256}, found {found}; nothing was installed"
                    )
                tables[name] = data
    folder = target / _PUNKT_RESOURCE
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in tables.items():
        write_atomic(folder / name, data)


def _add_nltk_path(nltk, root: Path) -> None:
    if str(root) not in [str(p) for p in nltk.data.path]:
        nltk.data.path.append(str(root))


def _entry(name: str) -> RemoteFile:
    reg = registry()
    if name not in reg:
        close = difflib.get_close_matches(name, list(reg), n=5)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else ("see xqg_lab.data.fetch.registry() for the valid names")
        )
        raise ValueError(f"unknown data file {name!r}; expected a registry name; {hint}")
    return reg[name]


def _verify(path: Path, entry: RemoteFile) -> None:
    found = file_sha256(path)
    if entry.sha256 is None:
        warnings.warn(
            f"{entry.name}: no pinned sha256 in the registry, so {path} is NOT verified; "
            f"its sha256 is {found} -- check it against the source and record it in "
            "xqg_lab/data/registry.tsv",
            UserWarning,
            stacklevel=3,
        )
    elif found != entry.sha256:
        raise DataFormatError(
            path,
            None,
            f"sha256 mismatch for {entry.name!r}: expected {entry.sha256}, found {found}; the "
            "file is corrupt, truncated or a different version -- replace it with an unmodified "
            f"copy of {entry.url or 'the upstream file'}",
        )


def _cache_root() -> Path:
    from xqg_lab.core.paths import cache_dir

    return cache_dir()


def _download(entry: RemoteFile, *, looked_at: Path | None) -> Path:
    where = (
        f"not in the mirror (looked at {looked_at})"
        if looked_at is not None
        else f"no mirror set (${MIRROR_ENV})"
    )
    if entry.url is None:
        raise FileNotFoundError(
            f"{entry.name}: {where}, and it has no download URL; expected the file at "
            f"<mirror>/{entry.mirror_path}; fix: set ${MIRROR_ENV} to a mirror holding it"
        )
    import pooch

    mirror_path = Path(entry.mirror_path)
    folder = _cache_root() / "data" / mirror_path.parent
    known_hash = f"sha256:{entry.sha256}" if entry.sha256 else None
    try:
        path = pooch.retrieve(
            entry.url, known_hash=known_hash, fname=mirror_path.name, path=folder, progressbar=False
        )
    except OSError as exc:  # requests' network errors are OSErrors too
        raise FileNotFoundError(
            f"{entry.name}: {where}, and the download from {entry.url} failed "
            f"({type(exc).__name__}: {exc}); fix: connect to the internet, or set ${MIRROR_ENV} "
            f"to a mirror holding {entry.mirror_path}"
        ) from exc
    path = Path(path)
    if entry.sha256 is None:
        _verify(path, entry)  # warns with the computed hash
    return path
