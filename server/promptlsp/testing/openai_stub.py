"""A loopback OpenAI-compatible ``/v1/chat/completions`` server with fault injection.

Why it exists: the engine must be tested through litellm's real HTTP code path (client
construction, error mapping, timeouts, connection handling) without any network. This server
listens on 127.0.0.1 only and answers like an OpenAI-compatible provider, with a fixed latency,
scripted answers and per-request faults:

========== ===================================================================================
fault      what the client sees
========== ===================================================================================
rate_limit 429 with ``Retry-After`` (seconds)
quota      429 ``insufficient_quota`` (OpenAI's answer when the account's quota is spent)
unavailable 503 with ``Retry-After``
server     500
hang       nothing for ``hang_s`` seconds (past the client's timeout), then a normal answer
truncate   200, but the answer text is cut in half (broken JSON)
prose      200, the answer wrapped in chatty prose and a code fence
drop       the connection is closed without a response
auth       401, whose message echoes the presented key (a careless server: tests scrubbing)
bad_request 400
========== ===================================================================================

Use it from sync code, async code (it runs its own loop in a thread) or a shell::

    with StubServer(latency=0.01, answer=lambda body: '{"ok": true}') as stub:
        stub.add_rule(fault="rate_limit", times=1, retry_after=1)
        ...  # point litellm at stub.url with model "openai/<anything>"
        assert stub.stats.requests == 2

    python -m promptlsp.testing.openai_stub --port 0 --script rules.json   # prints the address
    python -m promptlsp.testing.openai_stub --port 0 --answer tests/cli/stub_model.py:answer --latency 0.2

A script file is JSON: ``{"latency": 0.05, "api_key": null, "default_reply": "...",
"rules": [{"match": "substring", "reply": "...", "fault": "prose", "times": 1}]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from promptlsp.engine.messages import last_user_text, message_text
from promptlsp.testing.background import BackgroundLoop

FAULTS = frozenset(
    {"rate_limit", "quota", "unavailable", "server", "hang", "truncate", "prose", "drop", "auth", "bad_request"}
)
PROSE_BEFORE = "Sure! Here is the JSON you asked for:\n```json\n"
PROSE_AFTER = "\n```\nLet me know if you need anything else."

AnswerFn = Callable[[dict], str]


@dataclass
class Rule:
    """One scripted behaviour: applies to requests whose last user message contains ``match``
    (``None`` = every request), at most ``times`` times (``None`` = forever). The first rule
    that applies wins; ``reply`` overrides the answer text, ``fault`` injects a failure."""

    match: str | None = None
    reply: str | None = None
    fault: str | None = None
    times: int | None = None
    retry_after: float = 1.0
    hang_s: float = 30.0

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {sorted(FAULTS)}")


@dataclass
class StubStats:
    """Counters the tests assert on (updated from the server thread under ``lock``)."""

    requests: int = 0  # requests received (including faulted ones)
    answered: int = 0  # 200 responses sent
    in_flight: int = 0
    max_in_flight: int = 0
    disconnects: int = 0  # clients that went away before their answer
    faults: dict[str, int] = field(default_factory=dict)
    bodies: list[dict] = field(default_factory=list)  # every request body, in arrival order
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each arrival
    auth_headers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def default_answer(body: dict) -> str:
    """Deterministic default: echo the last user message."""
    return "echo: " + last_user_text(body.get("messages") or [])


def _words(text: str) -> int:
    return max(1, len(text.split()))


class StubServer:
    """The server; ``start()`` runs it on a private event loop in a daemon thread."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        answer: AnswerFn | None = None,
        rules: list[Rule] | None = None,
        api_key: str | None = None,
        port: int = 0,
    ) -> None:
        self.latency = latency
        self.answer = answer or default_answer
        self.rules: list[Rule] = list(rules or [])
        self.api_key = api_key
        self.port = port
        self.stats = StubStats()
        self._runner: web.AppRunner | None = None
        self._background = BackgroundLoop("openai-stub")
        self._stopping = False
        self._rules_lock = threading.Lock()

    # -- scripting -----------------------------------------------------------------------------
    def add_rule(self, **kwargs: Any) -> Rule:
        """Append a :class:`Rule` (keyword arguments as its fields) and return it."""
        rule = Rule(**kwargs)
        with self._rules_lock:
            self.rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self._rules_lock:
            self.rules.clear()

    def _take_rule(self, body: dict) -> Rule | None:
        text = last_user_text(body.get("messages") or [])
        with self._rules_lock:
            for rule in self.rules:
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.match is not None and rule.match not in text:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The ``api_base`` to give an OpenAI-compatible client."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/chat/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start_async(self) -> None:
        """Start on the running loop (the CLI uses this; tests use :meth:`start`)."""
        self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop_async(self) -> None:
        self._stopping = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> "StubServer":
        """Start in a daemon thread with its own loop; returns when it is listening."""
        self._background.start(self.start_async, self.stop_async)
        return self

    def stop(self) -> None:
        self._stopping = True
        self._background.stop()

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check(self, predicate: Callable[[StubStats], bool]) -> bool:
        with self.stats.lock:
            return predicate(self.stats)

    def wait_until(self, predicate: Callable[[StubStats], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate(stats)`` until true or ``timeout`` passes (a liveness bound)."""
        deadline = time.monotonic() + timeout
        while not self.check(predicate):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    async def until(self, predicate: Callable[[StubStats], bool], timeout: float = 5.0) -> bool:
        """:meth:`wait_until` for async tests (does not block their loop)."""
        deadline = time.monotonic() + timeout
        while not self.check(predicate):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- request handling ----------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "stub", "object": "model"}]})

    async def _sleep_unless_gone(self, request: web.Request, seconds: float) -> bool:
        """Sleep up to ``seconds``; False as soon as the client has closed the connection."""
        deadline = time.monotonic() + seconds
        while True:
            transport = request.transport
            if transport is None or transport.is_closing():
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping:
                return True
            await asyncio.sleep(min(0.01, remaining))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        stats = self.stats
        with stats.lock:
            stats.requests += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            stats.bodies.append(body)
            stats.arrivals.append(time.monotonic())
            stats.auth_headers.append(request.headers.get("Authorization", ""))
        try:
            return await self._respond(request, body)
        finally:
            with stats.lock:
                stats.in_flight -= 1

    def _count_fault(self, kind: str) -> None:
        with self.stats.lock:
            self.stats.faults[kind] = self.stats.faults.get(kind, 0) + 1

    async def _respond(self, request: web.Request, body: dict) -> web.StreamResponse:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        rule = self._take_rule(body)
        fault = rule.fault if rule else None
        if self.api_key is not None and presented != self.api_key:
            fault = "auth"
        if body.get("stream"):
            return _error(400, "streaming is not supported by the stub", "invalid_request_error")
        if fault:
            self._count_fault(fault)
        if fault == "rate_limit":
            return _error(429, "Rate limit reached", "rate_limit_exceeded", rule.retry_after if rule else 1)
        if fault == "quota":
            return _error(429, "You exceeded your current quota, please check your plan and billing details.",
                          "insufficient_quota")
        if fault == "unavailable":
            return _error(503, "Service unavailable", "server_error", rule.retry_after if rule else 1)
        if fault == "server":
            return _error(500, "Internal server error", "server_error")
        if fault == "bad_request":
            return _error(400, "Bad request", "invalid_request_error")
        if fault == "auth":
            return _error(401, f"Incorrect API key provided: {presented}", "invalid_api_key")
        if fault == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client
        wait = self.latency + (rule.hang_s if fault == "hang" else 0.0)
        if not await self._sleep_unless_gone(request, wait):
            with self.stats.lock:
                self.stats.disconnects += 1
            return web.Response(status=499)
        text = rule.reply if rule and rule.reply is not None else self.answer(body)
        if fault == "truncate":
            text = text[: max(1, len(text) // 2)]
        elif fault == "prose":
            text = PROSE_BEFORE + text + PROSE_AFTER
        with self.stats.lock:
            self.stats.answered += 1
            number = self.stats.answered
        return web.json_response(_completion(body, text, number))


def _error(status: int, message: str, code: str, retry_after: float | None = None) -> web.Response:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
    payload = {"error": {"message": message, "type": code, "code": code, "param": None}}
    return web.json_response(payload, status=status, headers=headers)


def _completion(body: dict, text: str, number: int) -> dict:
    prompt_tokens = sum(_words(message_text(m)) for m in body.get("messages") or [])
    completion_tokens = _words(text)
    return {
        "id": f"chatcmpl-stub-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def from_script(path: Path, *, port: int = 0, latency: float | None = None) -> StubServer:
    """Build a server from a JSON script file (see the module docstring)."""
    script = json.loads(Path(path).read_text(encoding="utf-8"))
    default_reply = script.get("default_reply")
    answer = (lambda body: default_reply) if default_reply is not None else None
    return StubServer(
        latency=script.get("latency", 0.0) if latency is None else latency,
        answer=answer,
        rules=[Rule(**rule) for rule in script.get("rules", [])],
        api_key=script.get("api_key"),
        port=port,
    )


def load_answer(spec: str) -> AnswerFn:
    """``MODULE:FUNCTION`` -> the function. MODULE is a dotted module name importable from
    ``sys.path``, or the path of a ``.py`` file (loaded as a module of its own, its folder put on
    ``sys.path`` so its own imports resolve)."""
    module_name, sep, function_name = spec.rpartition(":")
    if not sep or not module_name or not function_name:
        raise ValueError("expected MODULE:FUNCTION")
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        path = Path(module_name).resolve()
        if not path.is_file():
            raise ImportError(f"no such file: {path}")
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules.setdefault(path.stem, module)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    if not callable(function):
        raise TypeError(f"{function_name} in {module_name} is not callable")
    return function


async def _serve(server: StubServer) -> None:
    await server.start_async()
    print(server.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not on this platform
            pass
    await stop.wait()
    await server.stop_async()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible stub server")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free one)")
    parser.add_argument("--script", type=Path, help="JSON script of rules (see the module docstring)")
    parser.add_argument("--latency", type=float, default=None, help="seconds before every answer")
    parser.add_argument(
        "--answer", metavar="MODULE:FUNCTION",
        help="answer with FUNCTION(request body) -> str from MODULE (a dotted module name or a .py "
        "file path); overrides a --script's default_reply, its rules still apply",
    )
    args = parser.parse_args(argv)
    try:
        answer = load_answer(args.answer) if args.answer else None
    except (ImportError, AttributeError, TypeError, ValueError, OSError) as exc:
        parser.error(f"--answer {args.answer}: {exc}")
    if args.script:
        server = from_script(args.script, port=args.port, latency=args.latency)
        if answer is not None:
            server.answer = answer
    else:
        server = StubServer(latency=args.latency or 0.0, port=args.port, answer=answer)
    asyncio.run(_serve(server))


if __name__ == "__main__":
    main()
