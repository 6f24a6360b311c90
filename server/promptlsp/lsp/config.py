"""Editor settings (``initializationOptions`` and ``workspace/configuration``, section
``promptlsp``) and how they combine with a prompt file.

Precedence: **the file wins** where it says something; editor settings fill in what it leaves
out (e.g. which model to use when the file has no ``[models]`` table, or a team's LiteLLM proxy
as ``apiBase``). Budgets are the exception: an editor budget is a ceiling on every run, so the
stricter of the file's and the editor's limit applies. The settings are attrs classes
(:class:`Settings`, :class:`ModelSettings`, :class:`BudgetSettings`) structured by
:func:`settings_converter`, one setting at a time: an ill-typed or out-of-range one is logged as a
WARNING naming it and keeps its default, the others apply — a settings typo never breaks the
server. Keys it does not know at the top (the extension's own settings) are passed over.

Shape (camelCase, as VS Code settings)::

    {"models": {"task": "openai/gpt-4o-mini", "judge": {...},
                "optimizer": {"model": "openai/qwen", "apiBase": "http://localhost:8080/v1", "jsonSchema": true}},
     "apiBase": "http://proxy:4000", "apiKeyEnv": "TEAM_KEY", "jsonSchema": true, "concurrency": 8,
     "budget": {"maxCalls": 300, "maxTokens": 200000, "maxUsd": 1.5},
     "method": "tgd", "iterations": 3}
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from typing import Any, Callable, Mapping, TypeVar

import attrs
import cattrs

from ..document import Analysis
from ..document.model import PromptFile, build_models
from ..engine import Budget
from .custom_protocol import camel_case, wire

log = logging.getLogger("promptlsp.lsp.config")

ROLES = ("task", "judge", "optimizer")
METHODS = ("gradsum", "tgd")
S = TypeVar("S")


def _positive(_instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"must be positive, got {value!r}")


def _one_of(*allowed: str) -> Callable[[Any, attrs.Attribute, Any], None]:
    def check(_instance: Any, _attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
    return check


@attrs.define(frozen=True)
class ModelSettings:
    """One role's model, as the editor names it (a string is its ``model``)."""

    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    timeout: float | None = None
    concurrency: int | None = None
    json_schema: bool | None = None

    def table(self) -> dict[str, Any]:
        """The settings given, as a ``[models.<role>]`` table of the file format."""
        return {name: value for name, value in attrs.asdict(self).items() if value is not None}


@attrs.define(frozen=True)
class BudgetSettings:
    max_calls: int | None = attrs.field(default=None, validator=_positive)
    max_tokens: int | None = attrs.field(default=None, validator=_positive)
    max_usd: float | None = attrs.field(default=None, validator=_positive)

    def budget(self) -> Budget | None:
        limits = {k: v for k, v in attrs.asdict(self).items() if v is not None}
        return Budget(**limits) if limits else None


@attrs.define(frozen=True)
class Settings:
    models: dict[str, ModelSettings] = attrs.Factory(dict)  # role -> its model
    api_base: str | None = None
    api_key_env: str | None = None
    json_schema: bool | None = None
    concurrency: int | None = attrs.field(default=None, validator=_positive)
    budget: Budget | None = None
    method: str | None = attrs.field(default=None, validator=_one_of(*METHODS))
    iterations: int | None = attrs.field(default=None, validator=_positive)

    @classmethod
    def from_json(cls, raw: Any) -> "Settings":
        """Settings from a client's JSON: each setting that does not fit (a wrong type, a value
        out of range, an unknown model role or key) is logged as a warning and left at its
        default; the others apply. Keys the server does not know (the extension's own) are
        passed over in silence."""
        return settings_converter().structure(raw, cls)


def _fields(cls: type[S], raw: Mapping[str, Any], where: str, *, known_only: bool, snake_too: bool = False,
            skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of ``cls`` that ``raw`` gives right (camelCase keys; with ``snake_too`` the file
    format's snake_case as well), each checked alone; the others are logged and left out. A null
    or an empty string is an unset setting (an editor's empty field), left out in silence."""
    fields = {key: f for f in attrs.fields(attrs.resolve_types(cls)) if f.name not in skip
              for key in ((camel_case(f.name), f.name) if snake_too else (camel_case(f.name),))}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        field = fields.get(key)
        if value is None or value == "":
            continue
        if field is None:
            if known_only:
                log.warning("ignoring setting %s%s: not a setting", where, key)
            continue
        try:
            typed = wire().structure(value, field.type)
            if field.validator is not None:
                field.validator(None, field, typed)
        except (TypeError, ValueError) as exc:
            log.warning("ignoring setting %s%s: %s", where, key, exc)
            continue
        values[field.name] = typed
    return values


@functools.cache
def settings_converter() -> cattrs.Converter:
    """Structures :class:`Settings` from a client's JSON, tolerantly (see ``Settings.from_json``)."""
    converter = cattrs.Converter()

    def model(raw: Any, role: str) -> ModelSettings | None:
        if isinstance(raw, str):
            raw = {"model": raw}
        if not isinstance(raw, Mapping):
            log.warning("ignoring setting models.%s: expected a model name or an object, got %r", role, raw)
            return None
        return ModelSettings(**_fields(ModelSettings, raw, f"models.{role}.", known_only=True, snake_too=True))

    def settings(raw: Any, _type: Any) -> Settings:
        if not isinstance(raw, Mapping):
            if raw is not None:
                log.warning("ignoring promptlsp settings: expected an object, got %s", type(raw).__name__)
            return Settings()
        values = _fields(Settings, raw, "", known_only=False, skip=("models", "budget"))
        models = raw.get("models")
        if models is not None and not isinstance(models, Mapping):
            log.warning("ignoring setting models: expected an object, got %r", models)
        for role, table in (models or {}).items() if isinstance(models, Mapping) else ():
            if role not in ROLES:
                log.warning("ignoring settings for unknown model role %r", role)
                continue
            chosen = model(table, role)
            if chosen is not None and chosen.table():
                values.setdefault("models", {})[role] = chosen
        budget = raw.get("budget")
        if budget is not None and not isinstance(budget, Mapping):
            log.warning("ignoring setting budget: expected an object, got %r", budget)
        elif budget is not None:
            values["budget"] = BudgetSettings(**_fields(BudgetSettings, budget, "budget.", known_only=True)).budget()
        return Settings(**values)

    converter.register_structure_hook(Settings, settings)
    return converter


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
        editor = settings.models.get(role)
        table = {**(editor.table() if editor is not None else {}), **from_file}
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
