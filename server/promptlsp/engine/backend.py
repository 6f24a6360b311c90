"""The seam between the engine and whatever answers: the ``Backend`` protocol.

A backend gets a *normalized request* (a plain dict, built by the session) and returns an
OpenAI-shaped response dict, or raises :class:`~.errors.TransientError` /
:class:`~.errors.PermanentError`. Retries, timeouts, caching, budgets and accounting live in
the session, so every backend — litellm, scripted, future ones — gets them for free.

Request keys: ``model``, ``messages``, ``temperature``, ``top_p``, ``seed``, ``max_tokens``,
``timeout``, ``api_base``, ``api_key_env`` (a variable NAME), ``params`` (extra litellm
parameters), ``deployments`` (Router deployments), ``response_format`` (or None), and
``metadata``: ``phase``, ``schema_name``, ``schema``, ``mode`` ("json_schema" | "instruct" |
None), ``repair`` (True on the repair round), ``attempt`` (1-based), ``sample``, plus whatever
the caller passed as ``metadata=``.

Response: ``{"choices": [{"message": {"content": str}, "finish_reason": ...}], "usage":
{"prompt_tokens": int, "completion_tokens": int}, "model": str}`` and optionally ``cost_usd``
(None = unknown price; absent = let the engine price it from litellm's cost map).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .accounting import Usage
from .spec import ModelSpec


@dataclass(frozen=True)
class BackendCaps:
    """What a backend can do for one model."""

    json_schema: bool = False  # enforces ``response_format={"type": "json_schema", ...}``
    # Requests the model serves at once (a local server's slots). The engine admits no more, so
    # a request waits in the engine's queue — not inside the server, where the per-call timeout
    # would already be running.
    max_concurrency: int | None = None


@runtime_checkable
class Backend(Protocol):
    async def prepare(self, spec: ModelSpec) -> BackendCaps:
        """Get ready to call ``spec.model`` (import clients, start a local model) and say what
        it supports. Called before every call, outside the per-call timeout: memoize it.
        Raises :class:`~.errors.PermanentError` when the model cannot be used at all."""
        ...

    async def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        """One provider call, no retries of its own."""
        ...


def response_text(response: dict[str, Any]) -> str | None:
    """The first choice's text, or None when the model gave none."""
    choices = response.get("choices") or []
    if not choices:
        return None
    message = choices[0].get("message") or {}
    content = message.get("content")
    return content if isinstance(content, str) else None


def finish_reason(response: dict[str, Any]) -> str | None:
    choices = response.get("choices") or []
    return choices[0].get("finish_reason") if choices else None


def response_usage(response: dict[str, Any]) -> Usage | None:
    """Token usage as the provider reported it, or None when it reported none."""
    usage = response.get("usage")
    if not isinstance(usage, dict) or usage.get("prompt_tokens") is None:
        return None
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def make_response(
    text: str, *, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float | None = None
) -> dict[str, Any]:
    """A minimal OpenAI-shaped response (for scripted and test backends)."""
    response: dict[str, Any] = {
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    if cost_usd is not None:
        response["cost_usd"] = cost_usd
    return response
