"""What a call returns: a :class:`CallResult`, failed or not — never an exception."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .accounting import Usage
from .errors import FailureKind


@dataclass(frozen=True)
class CallFailure:
    """Why a call produced no usable answer. ``message`` is scrubbed of secrets."""

    kind: FailureKind
    message: str
    attempts: int = 1
    status: int | None = None


@dataclass(frozen=True)
class CallResult:
    """One logical call (with its retries and repair round).

    ``data`` is the parsed JSON when a schema was given. ``usage``/``cost_usd`` are what the
    answer took to produce; when ``cached`` is True it came from the cache and cost nothing now
    (the session's accounting is the authority on what a run spent). ``cost_usd`` is None when
    litellm does not know the model's price. ``text`` is the last raw answer, even when it
    failed to parse (worth recording).
    """

    ok: bool
    text: str | None = None
    data: Any = None
    failure: CallFailure | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    cached: bool = False
    latency_s: float = 0.0
    attempts: int = 0  # provider requests made (retries and repair included; 0 = all cached)
    repaired: bool = False  # a repair round was needed
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
