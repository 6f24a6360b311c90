"""Keep API keys out of every message the engine produces.

Keys reach the engine only through environment variables (``api_key_env`` or litellm's usual
variables). Provider error texts sometimes echo them, and so can URLs with credentials; every
error message and log line built by the engine passes through :func:`scrub` first.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Mapping

REDACTED = "[REDACTED]"
ENV_REF = "os.environ/"  # litellm's way to name a variable instead of giving a key
# Variables whose values are secrets whatever their length (litellm's usual ones and friends).
KNOWN_SECRET_VARS = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "GEMINI_API_KEY",
    "GOOGLE_API_KEY", "MISTRAL_API_KEY", "COHERE_API_KEY", "GROQ_API_KEY", "TOGETHERAI_API_KEY",
    "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY", "HUGGINGFACE_API_KEY", "HF_TOKEN",
    "FIREWORKS_AI_API_KEY", "PERPLEXITYAI_API_KEY", "REPLICATE_API_KEY", "VOYAGE_API_KEY",
    "LITELLM_API_KEY", "LITELLM_MASTER_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
)
_SECRET_NAME = re.compile(r"(API_KEY|_KEY|_TOKEN|_SECRET|PASSWORD)$", re.IGNORECASE)
_MIN_SECRET_LEN = 8  # shorter values would redact ordinary words
# Shapes of keys that may arrive from elsewhere (a deployment's literal key, a server's echo).
_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)(://)[^/\s:@]+:[^/\s@]+@"),  # user:password@ in URLs
)


def secret_values(extra_env_names: Iterable[str] = ()) -> list[str]:
    """Current values of the secret-looking environment variables, longest first."""
    names = set(KNOWN_SECRET_VARS) | set(extra_env_names)
    names |= {name for name in os.environ if _SECRET_NAME.search(name)}
    values = {os.environ.get(name, "") for name in names}
    return sorted((v for v in values if len(v) >= _MIN_SECRET_LEN), key=len, reverse=True)


_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact ``value`` from now on: for keys that live in no variable (a local model server's
    random per-process key, a literal key in a Router deployment)."""
    if value and len(value) >= _MIN_SECRET_LEN:
        _registered.add(value)


def scrub(text: object, extra_env_names: Iterable[str] = ()) -> str:
    """``text`` with every secret value and key-shaped token replaced by ``[REDACTED]``."""
    out = str(text)
    for value in sorted(_registered, key=len, reverse=True) + secret_values(extra_env_names):
        out = out.replace(value, REDACTED)
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, out)
    return out


def key_env_names(api_key_env: str | None, deployments: Iterable[Mapping[str, Any]] = ()) -> list[str]:
    """The variables a model's keys come from: ``api_key_env`` and every ``os.environ/NAME``
    in its Router deployments."""
    names = [api_key_env] if api_key_env else []
    names += [
        value[len(ENV_REF):]
        for deployment in deployments
        for value in deployment.values()
        if isinstance(value, str) and value.startswith(ENV_REF)
    ]
    return names


def is_secret_param(name: str) -> bool:
    """Parameter names that may carry credentials: kept out of cache keys and records."""
    lowered = name.lower()
    return any(part in lowered for part in ("key", "token", "secret", "password", "authorization", "headers"))
