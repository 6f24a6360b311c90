"""What a caller asks of a model: plain, frozen data (no litellm import).

``ModelSpec`` mirrors a ``[models.<role>]`` table of the .prompt.toml format; ``Budget`` mirrors
``[optimize.budget]``. Both are built by the document layer and handed to the engine, which is
the only place that turns them into provider calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Mapping

DEFAULT_MODEL = "local/qwen2.5-coder-0.5b"
LOCAL_PREFIX = "local/"
# Calls at once to a model whose ``concurrency`` is not set, by route: a local server serves as
# many as it has slots (the backend says how many: the embedded server has 1 by default); a
# hosted provider or proxy serves many — 16 to start with, within the request rate limits of a
# typical API tier. An optimizer's widest rounds are wider (GRAD-SUM scores every candidate on
# the minibatch at once: (beam + beam x candidates) x minibatch, ~100 calls with the defaults,
# plus the judge calls of the first answers), so a provider litellm reaches by itself (no
# ``api_base``: not a proxy, not a self-hosted server, whose capacity nobody knows) gets one
# more call at once per answer it gives, up to HOSTED_CEILING; a rate-limit answer stops the
# growth and halves the limit (``limiter.Limiter``).
HOSTED_CONCURRENCY = 16
HOSTED_CEILING = 128
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _freeze(value: Any) -> Any:
    """Read-only copies of nested mappings/lists, so a frozen spec really cannot change."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def to_plain(value: Any) -> Any:
    """The JSON-shaped twin of a frozen value (mapping proxies -> dicts, tuples -> lists)."""
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class ModelSpec:
    """One litellm model and how to call it.

    ``api_key_env`` names the environment variable holding the key — never the key itself.
    ``deployments`` are extra litellm Router deployments (``litellm_params`` dicts) serving the
    same model name: other keys, regions, a local server. Keys inside them are referenced as
    ``"os.environ/NAME"``, which litellm resolves at call time.
    """

    model: str = DEFAULT_MODEL
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    timeout: float = 120.0
    concurrency: int | None = None  # None: the route's default (see :meth:`calls_at_once`)
    params: Mapping[str, Any] = field(default_factory=dict)
    deployments: tuple[Mapping[str, Any], ...] = ()
    # Whether the server enforces ``response_format`` JSON schemas. None: ask litellm's model map
    # (which cannot know what a self-hosted OpenAI-compatible server — llama.cpp, vLLM, Ollama —
    # behind ``openai/<alias>`` + ``api_base`` supports); True/False: the user says so.
    json_schema: bool | None = None

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model must be a non-empty litellm model id")
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.api_key_env is not None and not _ENV_NAME.match(self.api_key_env):
            raise ValueError("api_key_env must be an environment variable NAME, not a key")
        object.__setattr__(self, "params", _freeze(self.params))
        object.__setattr__(self, "deployments", tuple(_freeze(d) for d in self.deployments))

    def __hash__(self) -> int:  # params are mappings: hash the canonical form instead
        return hash(json.dumps(self.as_dict(), sort_keys=True, default=str))

    def cut_off(self, completion_tokens: int) -> bool:
        """Whether an answer of ``completion_tokens`` used the whole ``max_tokens`` allowance
        (it was cut off, whatever the provider's finish reason said)."""
        return self.max_tokens is not None and completion_tokens >= self.max_tokens

    def calls_at_once(self, slots: int | None = None) -> int:
        """How many calls to this model may run at once: ``concurrency`` when set, else the
        route's default — the ``slots`` of a local server (what it serves at once, as the
        backend reports it: the embedded ``local/`` models), :data:`HOSTED_CONCURRENCY` for a
        route without slots (a hosted provider, a proxy); never more than ``slots``."""
        wanted = self.concurrency if self.concurrency is not None else slots or HOSTED_CONCURRENCY
        return max(1, min(wanted, slots)) if slots is not None else wanted

    def concurrency_ceiling(self, slots: int | None = None) -> int | None:
        """How far the limit of :meth:`calls_at_once` may grow while the provider keeps up, or
        None when it stays put: ``concurrency`` set, a local server's slots, or an ``api_base``
        (a proxy or self-hosted server: a queue there only eats the calls' timeouts)."""
        if self.concurrency is not None or slots is not None or self.api_base or self.is_local:
            return None
        return HOSTED_CEILING

    @property
    def is_local(self) -> bool:
        """True for the embedded offline model (``local/...`` ids)."""
        return self.model.startswith(LOCAL_PREFIX)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-shaped dict of every field (it holds no secret: keys are env names)."""
        return {f.name: to_plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> "ModelSpec":
        """Build from a ``[models.<role>]``-shaped mapping; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(unknown)}")
        values = dict(table)
        if "deployments" in values:
            values["deployments"] = tuple(values["deployments"])
        return cls(**values)


@dataclass(frozen=True)
class Budget:
    """Hard caps for one run; ``None`` = no cap. Cache hits are free."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_tokens", "max_usd"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
