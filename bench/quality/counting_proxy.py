"""A loopback OpenAI-compatible proxy that counts what every method sends to a model.

Every method of ``bench/quality.py`` — promptlsp in-process, textgrad and DSPy in their own
processes — reaches the task and optimizer models through one of these proxies, so calls and
tokens are counted the same way for everyone: one request that reaches the proxy is one call
(retries, repair rounds and a framework's hidden extra calls included), and tokens are the
``usage`` the upstream server reported. The proxy forwards ``POST /v1/chat/completions`` bodies
unchanged to ``<upstream>/chat/completions`` with the upstream's key (so no client ever holds it)
and returns the upstream's status and body; when the upstream fails (unreachable, disconnects, a
broken answer, the timeout) it answers 502 and counts the call as failed. It listens on
127.0.0.1 only.

Runs are sequential, so a run's figures are the difference of two :meth:`snapshot`s.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import asdict, dataclass

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from promptlsp.testing.background import BackgroundLoop


@dataclass
class Counts:
    calls: int = 0
    failed: int = 0  # non-200 answers and upstream failures (unreachable, disconnected, broken answer, timeout)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def minus(self, other: "Counts") -> "Counts":
        return Counts(self.calls - other.calls, self.failed - other.failed,
                      self.prompt_tokens - other.prompt_tokens, self.completion_tokens - other.completion_tokens)

    def plus(self, other: "Counts") -> "Counts":
        return Counts(self.calls + other.calls, self.failed + other.failed,
                      self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)

    def as_dict(self) -> dict:
        return {**asdict(self), "tokens": self.tokens}


class CountingProxy:
    def __init__(self, upstream: str, api_key: str | None, *, timeout: float = 900.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.port = 0
        self._counts = Counts()
        self._lock = threading.Lock()
        self._background = BackgroundLoop("counting-proxy")
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def snapshot(self) -> Counts:
        with self._lock:
            return Counts(**asdict(self._counts))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self._counts.calls += 1
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        assert self._client is not None
        try:
            async with self._client.post(f"{self.upstream}/chat/completions", data=body, headers=headers) as upstream:
                payload = await upstream.read()
                status = upstream.status
                kept = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "retry-after")}
        except (OSError, asyncio.TimeoutError, ClientError) as exc:
            # ClientError: e.g. ServerDisconnectedError, ClientPayloadError (not OSErrors)
            with self._lock:
                self._counts.failed += 1
            message = {"error": {"message": f"proxy: upstream failed: {type(exc).__name__}: {exc}",
                                 "type": "server_error", "code": "upstream_failed", "param": None}}
            return web.json_response(message, status=502)
        usage = {}
        if status == 200:
            try:
                usage = json.loads(payload).get("usage") or {}
            except (ValueError, AttributeError):
                usage = {}
        with self._lock:
            if status != 200:
                self._counts.failed += 1
            self._counts.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self._counts.completion_tokens += int(usage.get("completion_tokens") or 0)
        return web.Response(body=payload, status=status, headers=kept)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": []})

    async def _start(self) -> None:
        self._client = ClientSession(timeout=ClientTimeout(total=self.timeout))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/chat/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a client that hangs up cancels the upstream request too
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        try:
            if self._runner is not None:
                await self._runner.cleanup()
        finally:
            self._runner = None
            if self._client is not None:
                await self._client.close()

    def start(self) -> "CountingProxy":
        self._background.start(self._start, self._stop)
        return self

    def stop(self) -> None:
        self._background.stop()

    def __enter__(self) -> "CountingProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
