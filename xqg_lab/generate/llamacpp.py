"""llama.cpp as the decoding engine of GGUF causal LMs, in process (PyPI wheel ``xllamacpp``).

Why: the transformers GGUF path dequantises the weights to float32 (1.1 GB for Gemma 3 270M,
about 45 s to load) and recomputes the few-shot prefix of every prompt. llama.cpp runs the
4-bit weights as they are, loads in seconds, and keeps its KV cache between
requests, so the instruction and examples shared by all prompts of one language (about half
of each prompt) are computed once per language run, and every further sample of one prompt costs
only its own decoding.

How: ``xllamacpp`` (prebuilt CPU wheels, no compiler needed) embeds llama.cpp's native
server: :class:`LlamaCppEngine` creates it with the model, answers completion requests by
direct calls (no network), and stops it in :meth:`LlamaCppEngine.close`. The server also
opens an HTTP listener that cannot be switched off; it is bound to the loopback address
``127.0.0.1`` on a random free port and requires an API key drawn at random per engine
(never stored), and it lives exactly as long as the engine.

Prompts are sent as token ids (tokenised by the generator's own tokenizer), so the model
sees exactly the prompt the transformers path would see. Each query is drawn with its own
seed (the low 32 bits of :func:`~xqg_lab.generate.base.row_seed`) by llama.cpp's sampler
chain ``top_k -> top_p -> temperature -> draw``, the same distribution as
``generate(do_sample=True, top_k=k, top_p=p, temperature=T)``; texts are therefore not
identical to the transformers engine's (another random stream).

One slot, one query at a time: several slots decoded together change the floating-point
results with the batch's shape (5 of 12 texts equal with 3 slots) and were not faster here.
Known limitation: the reused prefix was computed inside an earlier prompt, so its KV values
(and rarely a sampled token) can differ by float noise with the order in which prompts are
sent: the same call repeated gives the same texts, but another passage order or shard split
can change a few of them (seen on the real model: 4 of 4 Chinese samples changed when 2 of 4
paragraphs were re-sent alone). A resumed store therefore matches an uninterrupted one only up
to such differences; ``cache_prompt=False`` would remove them at about half the speed.
Queries are sent language by language, so consecutive prompts share the few-shot prefix.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

XLLAMACPP_PACKAGE = "xllamacpp"
LOOPBACK = "127.0.0.1"


def llamacpp_available() -> bool:
    """Whether the ``xllamacpp`` package (llama.cpp's Python wheel) can be imported."""
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        return False
    return True


def llamacpp_version() -> str:
    """Version of the installed ``xllamacpp`` package (embeds a llama.cpp build)."""
    from importlib.metadata import version

    return version(XLLAMACPP_PACKAGE)


def llama_seed(seed: int) -> int:
    """A 32-bit llama.cpp sampler seed from a row seed (``0xFFFFFFFF`` means 'random' there)."""
    value = int(seed) & 0xFFFFFFFF
    return value if value != 0xFFFFFFFF else 0


class LlamaCppEngine:
    """An in-process llama.cpp server for one GGUF file, one slot; :meth:`complete_many` does the work.

    Parameters
    ----------
    model_path : path
        The GGUF file.
    n_ctx : int
        Tokens of context (prompt + generated); a longer request is refused.
    n_threads : int
        CPU threads of llama.cpp (1 is fastest on a machine shared with other jobs).
    kv_float32 : bool
        Keep the KV cache in float32 instead of llama.cpp's float16 (tests compare greedy
        decoding with transformers on tiny random models, whose logits nearly tie).
    """

    def __init__(self, model_path: str | os.PathLike, *, n_ctx: int, n_threads: int, kv_float32: bool = False):
        self.model_path = Path(model_path)
        self.kv_float32 = bool(kv_float32)
        self.n_ctx = int(n_ctx)
        self.n_threads = int(n_threads)
        self.server_ = None
        self.address_ = None

    def start(self) -> LlamaCppEngine:
        """Load the model and start the server (loopback, random port and key); returns self."""
        if self.server_ is not None:
            return self
        try:
            import xllamacpp as xlc
        except ImportError:
            raise ImportError(
                f"the llama.cpp engine needs the PyPI package {XLLAMACPP_PACKAGE!r}: "
                f"pip install {XLLAMACPP_PACKAGE} (or pass engine='transformers')"
            ) from None
        if not self.model_path.is_file():
            raise FileNotFoundError(f"expected a GGUF file at {self.model_path}, found none")
        params = xlc.CommonParams()
        params.model.path = str(self.model_path)
        params.n_parallel = 1
        params.n_ctx = self.n_ctx
        params.n_batch = 512
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        params.swa_full = True  # full-size sliding-window KV, so a cached prefix can be reused
        params.cache_prompt = True
        if self.kv_float32:
            params.cache_type_k = params.cache_type_v = xlc.ggml_type.GGML_TYPE_F32
        params.cache_ram_mib = 0  # the slot's own KV cache suffices; no host-memory copies
        params.warmup = False
        params.verbosity = -1
        # the HTTP listener llama.cpp's server always opens: loopback, random port, random key
        params.hostnames = [LOOPBACK]
        params.port = 0
        params.api_keys = [secrets.token_urlsafe(32)]
        params.endpoint_metrics = False
        params.endpoint_slots = False
        params.endpoint_props = False
        main_thread = threading.current_thread() is threading.main_thread()
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
        try:
            server = xlc.Server(params)
        finally:
            # llama.cpp installs its own SIGINT/SIGTERM handlers; give Ctrl-C back to Python
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
        address = str(server.listening_address)
        if LOOPBACK not in address:
            del server
            raise RuntimeError(f"expected the llama.cpp server on {LOOPBACK}, found it on {address!r}")
        self.server_ = server
        self.address_ = address
        return self

    def close(self) -> None:
        """Stop the server and free the model (a later :meth:`start` loads it again)."""
        server, self.server_, self.address_ = self.server_, None, None
        del server  # the server's destructor ends its loop and HTTP threads and joins them

    def complete(self, token_ids: Sequence[int], *, seed: int, sampling: dict[str, Any]) -> str:
        """The continuation of one prompt (token ids); ``sampling``: fields of llama.cpp's request."""
        if self.server_ is None:
            raise RuntimeError("the llama.cpp engine is not started; call start() first")
        max_tokens = int(sampling["max_tokens"])
        if len(token_ids) + max_tokens > self.n_ctx:
            raise ValueError(
                f"expected prompt + max_new_tokens <= {self.n_ctx} tokens (n_ctx), "
                f"found {len(token_ids)} + {max_tokens}; lower max_passage_tokens"
            )
        request = {
            "prompt": [int(t) for t in token_ids],
            "seed": llama_seed(seed),
            "cache_prompt": True,
            **sampling,
        }
        result = self.server_.handle_completions(request)
        if "choices" not in result:
            raise RuntimeError(f"llama.cpp completion failed: {str(result)[:300]}")
        return result["choices"][0]["text"]

    def complete_many(
        self,
        prompts: Sequence[Sequence[int]],
        seeds: Sequence[int],
        *,
        sampling: dict[str, Any],
        on_done: Callable[[int], Any] | None = None,
    ) -> list[str]:
        """Continuations of ``prompts[i]`` drawn with ``seeds[i]``, in order; ``on_done(1)`` after each."""
        if len(prompts) != len(seeds):
            raise ValueError(f"expected one seed per prompt, found {len(seeds)} for {len(prompts)}")
        self.start()
        texts = []
        for prompt, seed in zip(prompts, seeds):
            texts.append(self.complete(prompt, seed=seed, sampling=sampling))
            if on_done is not None:
                on_done(1)
        return texts
