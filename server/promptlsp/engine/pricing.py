"""Prices per token from litellm's local cost map, without importing litellm when possible.

``import litellm`` costs seconds; the CLI and the editor want an estimate before any call. The
cost map is a JSON file shipped inside the litellm package, so it is read directly unless
litellm is already imported (then ``litellm.model_cost`` is used: it includes models that a
caller registered). Local models cost 0; unknown models give ``None``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any, Mapping

from .spec import LOCAL_PREFIX

log = logging.getLogger("promptlsp.engine.pricing")
_COST_MAP_FILE = "model_prices_and_context_window_backup.json"


@functools.lru_cache(maxsize=1)
def _packaged_cost_map() -> Mapping[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / _COST_MAP_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.debug("no litellm cost map at %s: %s", path, exc)
        return {}


def _cost_map() -> Mapping[str, Any]:
    litellm = sys.modules.get("litellm")
    model_cost = getattr(litellm, "model_cost", None) if litellm else None
    return model_cost if isinstance(model_cost, Mapping) and model_cost else _packaged_cost_map()


def token_prices(model: str) -> tuple[float, float] | None:
    """(USD per prompt token, USD per completion token), or None when the map lacks the model."""
    if model.startswith(LOCAL_PREFIX):
        return 0.0, 0.0
    cost_map = _cost_map()
    names = [model]
    if "/" in model:
        names.append(model.split("/", 1)[1])
    for name in names:
        entry = cost_map.get(name)
        if isinstance(entry, Mapping) and "input_cost_per_token" in entry:
            return float(entry["input_cost_per_token"]), float(entry.get("output_cost_per_token", 0.0))
    return None


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Cost of one call, or None when the price is unknown."""
    prices = token_prices(model)
    if prices is None:
        return None
    return prompt_tokens * prices[0] + completion_tokens * prices[1]


def chat_models() -> dict[str, tuple[str, ...]]:
    """litellm's known chat models by provider, as ``provider/name`` ids, from the same cost map
    (read without importing litellm; empty when litellm is not installed)."""
    by_provider: dict[str, list[str]] = {}
    for name, entry in _cost_map().items():
        if not isinstance(entry, Mapping) or entry.get("mode") != "chat":
            continue
        provider = entry.get("litellm_provider")
        if not isinstance(provider, str) or not provider:
            continue
        ident = name if name.startswith(provider + "/") else f"{provider}/{name}"
        by_provider.setdefault(provider, []).append(ident)
    return {p: tuple(sorted(set(ids))) for p, ids in sorted(by_provider.items())}
