"""Editor settings (``initializationOptions`` and ``workspace/configuration``, section
``promptlsp``) and how they combine with a prompt file.

Precedence: **the file wins** where it says something; editor settings fill in what it leaves
out (e.g. which model to use when the file has no ``[models]`` table, or a team's LiteLLM proxy
as ``apiBase``). Budgets are the exception: an editor budget is a ceiling on every run, so the
stricter of the file's and the editor's limit applies. Unknown or ill-typed settings are
ignored with a log line — a settings typo never breaks the server.

Shape (camelCase, as VS Code settings)::

    {"models": {"task": "openai/gpt-4o-mini", "judge": {...},
                "optimizer": {"model": "openai/qwen", "apiBase": "http://localhost:8080/v1", "jsonSchema": true}},
     "apiBase": "http://proxy:4000", "apiKeyEnv": "TEAM_KEY", "jsonSchema": true, "concurrency": 8,
     "budget": {"maxCalls": 300, "maxTokens": 200000, "maxUsd": 1.5},
     "method": "tgd", "iterations": 3}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..document import Analysis
from ..document.model import PromptFile, build_models
from ..engine import Budget

log = logging.getLogger("promptlsp.lsp.config")

ROLES = ("task", "judge", "optimizer")
_MODEL_KEYS = {"model": str, "temperature": (int, float), "top_p": (int, float), "seed": int,
               "max_tokens": int, "api_base": str, "api_key_env": str, "timeout": (int, float),
               "concurrency": int, "json_schema": bool}
_CAMEL = {"maxTokens": "max_tokens", "topP": "top_p", "apiBase": "api_base", "apiKeyEnv": "api_key_env",
          "jsonSchema": "json_schema"}


def _typed(value: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    return isinstance(value, kind) and not isinstance(value, bool)


@dataclass(frozen=True)
class Settings:
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # role -> model table
    api_base: str | None = None
    api_key_env: str | None = None
    json_schema: bool | None = None
    concurrency: int | None = None
    budget: Budget | None = None
    method: str | None = None
    iterations: int | None = None

    @classmethod
    def from_json(cls, raw: Any) -> "Settings":
        """Settings from a client's JSON (anything that does not fit is logged and ignored)."""
        if not isinstance(raw, Mapping):
            if raw is not None:
                log.warning("ignoring promptlsp settings: expected an object, got %s", type(raw).__name__)
            return cls()
        models: dict[str, dict[str, Any]] = {}
        for role, value in (raw.get("models") or {}).items() if isinstance(raw.get("models"), Mapping) else ():
            if role not in ROLES:
                log.warning("ignoring settings for unknown model role %r", role)
                continue
            table = {"model": value} if isinstance(value, str) else dict(value) if isinstance(value, Mapping) else {}
            clean = {}
            for key, item in table.items():
                key = _CAMEL.get(key, key)
                if key in _MODEL_KEYS and _typed(item, _MODEL_KEYS[key]):
                    clean[key] = item
                else:
                    log.warning("ignoring setting models.%s.%s", role, key)
            if clean:
                models[role] = clean
        budget_raw = raw.get("budget") if isinstance(raw.get("budget"), Mapping) else {}
        limits = {
            "max_calls": budget_raw.get("maxCalls"), "max_tokens": budget_raw.get("maxTokens"),
            "max_usd": budget_raw.get("maxUsd"),
        }
        limits = {k: v for k, v in limits.items() if _typed(v, (int, float)) and v > 0}
        def pick(name: str, kind: Any) -> Any:
            value = raw.get(name)
            return value if _typed(value, kind) else None
        method = pick("method", str)
        return cls(
            models=models,
            api_base=pick("apiBase", str) or None,
            api_key_env=pick("apiKeyEnv", str) or None,
            json_schema=pick("jsonSchema", bool),
            concurrency=pick("concurrency", int) if (pick("concurrency", int) or 0) >= 1 else None,
            budget=Budget(**{k: int(v) if k != "max_usd" else float(v) for k, v in limits.items()}) if limits else None,
            method=method if method in ("gradsum", "tgd") else None,
            iterations=pick("iterations", int) if (pick("iterations", int) or 0) >= 1 else None,
        )


def _stricter(file_limit: float | None, editor_limit: float | None) -> float | None:
    if file_limit is None:
        return editor_limit
    if editor_limit is None:
        return file_limit
    return min(file_limit, editor_limit)


def effective(analysis: Analysis, settings: Settings) -> PromptFile | None:
    """The file's typed prompt with the editor settings applied (None when the file has errors)."""
    prompt = analysis.prompt
    if prompt is None:
        return None
    raw_models = (analysis.data or {}).get("models") or {}
    merged: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        from_file = dict(raw_models.get(role) or {})
        table = {**settings.models.get(role, {}), **from_file}
        names_model = "model" in table and not str(table["model"]).startswith("local/")
        if settings.api_base and names_model and "api_base" not in table:
            table["api_base"] = settings.api_base
        if settings.api_key_env and names_model and "api_key_env" not in table:
            table["api_key_env"] = settings.api_key_env
        if settings.json_schema is not None and names_model and "json_schema" not in table:
            table["json_schema"] = settings.json_schema
        if settings.concurrency and "concurrency" not in from_file:
            table["concurrency"] = settings.concurrency
        if table:
            merged[role] = table
    models = build_models(merged, prompt.optimize.seed)
    file_budget, editor = prompt.optimize.budget, settings.budget or Budget()
    budget = Budget(
        max_calls=_stricter(file_budget.max_calls, editor.max_calls),
        max_tokens=_stricter(file_budget.max_tokens, editor.max_tokens),
        max_usd=_stricter(file_budget.max_usd, editor.max_usd),
    )
    raw_optimize = (analysis.data or {}).get("optimize") or {}
    defaults = {k: v for k, v in (("method", settings.method), ("iterations", settings.iterations))
                if v is not None and k not in raw_optimize}
    return replace(prompt, models=models, optimize=replace(prompt.optimize, budget=budget, **defaults))
