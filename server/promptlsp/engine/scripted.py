"""A deterministic backend for unit tests of the engine and of the layers above it.

Answers come from a *script*: a function ``(request) -> answer`` (sync or async), a list of
answers consumed in order, or a single answer given every time. An answer is a string (the model's text), a dict or list (sent as
its JSON text — handy for structured calls), a full OpenAI-shaped response (a dict with
``"choices"``), or an exception to raise (e.g. ``TransientError("rate_limit", "slow down")``).
Scripts can be routed per phase, so an optimizer test can script its task model, judge and
optimizer separately::

    backend = ScriptedBackend(
        routes={"judge": lambda req: {"score": 1.0}, "optimize": ["<prompt>better</prompt>"]},
        default="plain answer",
    )
    engine = Engine(cache_path=None, backend=backend)
    ...
    assert backend.calls_by_phase["judge"] == 8
    assert "better" in backend.requests_for("task")[-1]["messages"][-1]["content"]
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections import Counter
from typing import Any, Awaitable, Callable, Iterator, Mapping, Sequence, Union

from .backend import BackendCaps, make_response
from .errors import PermanentError
from .estimate import heuristic_tokens
from .messages import last_user_text
from .spec import ModelSpec

Answer = Union[str, dict, list, BaseException]
ScriptFn = Callable[[dict], Union[Answer, Awaitable[Answer]]]
Script = Union[ScriptFn, Sequence[Answer], str]


class ScriptedBackend:
    """See the module docstring. ``latency`` (seconds) makes each call take time, for
    concurrency and cancellation tests; ``json_schema`` pretends the model enforces schemas;
    ``route_by`` names the request-metadata key that selects a route (default: the phase; a
    caller's own ``metadata={"role": "critic"}`` works too)."""

    def __init__(
        self,
        script: Script | None = None,
        *,
        routes: Mapping[str, Script] | None = None,
        default: Script | None = None,
        json_schema: bool = False,
        latency: float = 0.0,
        route_by: str = "phase",
    ) -> None:
        self._routes: dict[str | None, Any] = {phase: self._compile(s) for phase, s in (routes or {}).items()}
        fallback = script if script is not None else default
        if fallback is not None:
            self._routes[None] = self._compile(fallback)
        self.json_schema = json_schema
        self.route_by = route_by
        self.latency = latency
        self.requests: list[dict] = []
        self.calls_by_phase: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    @staticmethod
    def _compile(script: Script) -> Callable[[dict], Any] | Iterator[Answer]:
        if callable(script):
            return script
        if isinstance(script, (str, dict, BaseException)):
            return lambda request: script
        return iter(list(script))

    @property
    def calls(self) -> int:
        return len(self.requests)

    def requests_for(self, phase: str) -> list[dict]:
        return [r for r in self.requests if r["metadata"].get("phase") == phase]

    @staticmethod
    def last_user(request: dict) -> str:
        """Text of the request's last user message (what most scripts look at)."""
        return last_user_text(request["messages"])

    async def prepare(self, spec: ModelSpec) -> BackendCaps:
        return BackendCaps(json_schema=self.json_schema)

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        metadata = request.get("metadata", {})
        phase = metadata.get("phase")
        self.requests.append(copy.deepcopy(request))
        self.calls_by_phase[phase] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            answer = await self._answer(metadata.get(self.route_by), request)
        finally:
            self.in_flight -= 1
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, dict) and "choices" in answer:
            return answer
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        return make_response(
            text,
            model=request["model"],
            prompt_tokens=heuristic_tokens(request["messages"]),  # deterministic in every process
            completion_tokens=heuristic_tokens(text),
        )

    async def _answer(self, route: str | None, request: dict) -> Answer:
        script = self._routes.get(route, self._routes.get(None))
        if script is None:
            raise PermanentError("other", f"scripted backend: no script for {self.route_by} {route!r}")
        if callable(script):
            answer = script(request)
            return await answer if inspect.isawaitable(answer) else answer
        try:
            return next(script)
        except StopIteration:
            raise PermanentError("other", f"scripted backend: script for {self.route_by} {route!r} is used up") from None
