"""The xllamacpp server: one per model per process, started on first use, stopped at exit.

``xllamacpp`` is imported here, lazily (the package is optional: the ``[local]`` extra).
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import importlib
import os
import secrets
import socket
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import LocalModelUnavailable, install_hint


def _env_int(name: str, default: int, lo: int, hi: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LocalModelUnavailable(f"{name}={raw!r} is not an integer") from None
    return max(lo, min(hi, value))


def _default_threads() -> int:
    """One core fewer than this process may use (at least 1, at most 8).

    llama.cpp's worker threads spin while they wait for each other: when every core is given to
    them and anything else runs (the editor, the language server, a test run), one starved thread
    stalls all of them. Measured on a busy 2-core machine (1.5B model): 2 threads generated
    0.7–1.0 tok/s, 1 thread 8.6–9.6 tok/s.
    """
    try:
        n = len(os.sched_getaffinity(0))  # the cores this process may actually use
    except (AttributeError, OSError):
        n = os.cpu_count() or 2
    return max(1, min(n - 1, 8))


@dataclass(frozen=True)
class Settings:
    """Runtime knobs; each can be overridden by an environment variable (see ``from_env``)."""

    threads: int
    slots: int  # parallel sequences decoded together (llama.cpp "n_parallel")
    ctx_per_slot: int  # tokens of context each slot gets (prompt + answer)
    prompt_cache: bool = False  # reuse the KV of a previous prompt's common prefix

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            threads=_env_int("PROMPTLSP_LOCAL_THREADS", _default_threads(), 1, 64),
            slots=_env_int("PROMPTLSP_LOCAL_SLOTS", DEFAULT_SLOTS, 1, 16),
            ctx_per_slot=_env_int("PROMPTLSP_LOCAL_CTX", DEFAULT_CTX_PER_SLOT, 512, 32768),
            prompt_cache=bool(_env_int("PROMPTLSP_LOCAL_PROMPT_CACHE", 0, 0, 1)),
        )


# One slot, no prompt cache: every request is computed alone and from scratch, so its answer
# depends only on its own messages, params and seed. llama.cpp's CPU kernels are not
# batch-invariant: two slots sharing a batch, or a prompt prefix reused from a previous request's
# KV cache, each changed answers for the same seed in our tests. See the package docstring.
DEFAULT_SLOTS = 1
# Qwen2.5-Coder supports 32k; 8192 holds a whole prompt plus optimizer feedback and an answer.
DEFAULT_CTX_PER_SLOT = 8192


def import_runtime() -> Any:
    """``xllamacpp``, or ``LocalModelUnavailable`` naming the install command."""
    try:
        return importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise LocalModelUnavailable(
            f"the local model runtime (xllamacpp) is not installed ({exc}). {install_hint()}"
        ) from None


@dataclass
class RunningModel:
    """A loaded model behind xllamacpp's OpenAI-compatible server on 127.0.0.1."""

    alias: str
    base_url: str  # http://127.0.0.1:PORT/v1
    port: int
    api_key: str  # random per process: other local users cannot borrow the model
    settings: Settings
    pid: int
    server: Any = field(repr=False)

    def stop(self) -> None:
        """Stop the server without hanging, even with requests in flight.

        The C++ destructor stops the decode loop and then joins llama.cpp's HTTP threads, holding
        the GIL. A thread still serving a request only returns once its client disconnects; a
        client in this process (a daemon thread, an abandoned event loop) cannot, being frozen or
        waiting for the GIL, so the join would never end (measured: a hang at exit). Leaking the
        server instead crashed at exit (static destructors race the decode loop: SIGSEGV). So
        first shut down this process's connections to the server's port — each handler notices
        within llama.cpp's 1 s poll — then destroy it, with a faulthandler watchdog that ends the
        process (exit 1, traceback on stderr) should the join still hang.
        """
        server, self.server = self.server, None
        if server is None or self.pid != os.getpid():
            return
        disconnect_local_clients(self.port)
        err = sys.stderr if sys.stderr is not None and hasattr(sys.stderr, "fileno") else sys.__stderr__
        armed = False
        with contextlib.suppress(Exception):  # no usable stderr: stop without the watchdog
            faulthandler.dump_traceback_later(STOP_TIMEOUT, exit=True, file=err)
            armed = True
        try:
            del server  # the last reference: ~Server() runs here
        finally:
            if armed:
                faulthandler.cancel_dump_traceback_later()


def start(model_path: Path, alias: str, settings: Settings) -> RunningModel:
    """Load ``model_path`` into a new xllamacpp server (blocking, ~2 s for 0.5B on 2 cores)."""
    xllamacpp = import_runtime()
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.model_alias = {alias}  # the name the OpenAI route sends as "model"
    params.n_parallel = settings.slots
    params.kv_unified = False
    params.cache_prompt = settings.prompt_cache
    params.n_ctx = settings.ctx_per_slot * settings.slots  # split evenly between the slots
    params.cpuparams.n_threads = settings.threads
    params.cpuparams_batch.n_threads = settings.threads
    params.verbosity = 0  # errors only, and llama.cpp logs to stderr: stdout stays silent
    params.hostnames = ["127.0.0.1"]  # loopback only
    params.port = 0  # any free port
    key = secrets.token_urlsafe(24)
    params.api_keys = [key]
    params.ui = False
    params.endpoint_metrics = False
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:
        raise RuntimeError(f"xllamacpp could not load {model_path}: {exc}") from exc
    address = str(server.listening_address).rstrip("/")
    if not address.startswith("http"):
        address = "http://" + address
    port = urlsplit(address).port
    if port is None:
        raise RuntimeError(f"xllamacpp reported no port: {address!r}")
    return RunningModel(alias=alias, base_url=address + "/v1", port=port, api_key=key, settings=settings,
                        pid=os.getpid(), server=server)


STOP_TIMEOUT = 20.0  # seconds before the exit watchdog gives up on a clean stop
_LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def _fds() -> list[int]:
    for fd_dir in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return [int(name) for name in os.listdir(fd_dir) if name.isdigit()]
    return []


def disconnect_local_clients(port: int) -> int:
    """Shut down this process's TCP connections on 127.0.0.1:``port`` (both ends); a count.

    Only sockets whose local or remote end is the model server's loopback port are touched; the
    listening socket (no peer) is left to the server. Works where open descriptors can be listed
    (/proc/self/fd on Linux, /dev/fd on macOS); elsewhere it does nothing.
    """
    closed = 0
    for fd in _fds():
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))  # a duplicate: closing it leaves fd open
        except OSError:
            continue
        with sock:
            try:
                if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
                    continue
                local, peer = sock.getsockname(), sock.getpeername()
            except OSError:  # not connected (e.g. the listening socket)
                continue
            ends = {(local[0], local[1]), (peer[0], peer[1])}
            if any(host in _LOOPBACK and p == port for host, p in ends):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    closed += 1
    return closed


_lock = threading.Lock()
_running: dict[str, RunningModel] = {}
_atexit_registered = False


def get_or_start(model_id: str, alias: str, model_path_fn: Any) -> RunningModel:
    """The running model for ``model_id``; the first caller loads it, concurrent callers wait.

    ``model_path_fn()`` returns the verified weights (it may assemble them first). Runs under one
    process-wide lock, so a model is loaded at most once per process; a failed load is not
    cached (the next call tries again, e.g. after the extra was installed). After ``fork`` the
    child cannot use the parent's server threads, so it loads its own.
    """
    global _atexit_registered
    with _lock:
        running = _running.get(model_id)
        if running is not None and running.pid == os.getpid() and running.server is not None:
            return running
        import_runtime()  # a missing runtime is reported before any weight assembly
        settings = Settings.from_env()
        running = start(model_path_fn(), alias, settings)
        _running[model_id] = running
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return running


def shutdown() -> None:
    """Stop every model this process started (atexit; also usable by tests)."""
    with _lock:
        models = [m for m in _running.values() if m.pid == os.getpid()]
        _running.clear()
    for model in models:
        model.stop()
