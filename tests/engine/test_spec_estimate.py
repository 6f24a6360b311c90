"""ModelSpec/Budget data, token counting, pricing and run estimates."""

from __future__ import annotations

import os
import subprocess
import importlib
import sys
import types

import pytest

from promptlsp.engine import Budget, ModelSpec, PlannedCalls, count_tokens, estimate
from promptlsp.engine.pricing import cost_usd, token_prices


def test_spec_defaults_and_validation() -> None:
    spec = ModelSpec()
    assert spec.model == "local/qwen2.5-coder-0.5b" and spec.is_local and spec.timeout == 120 and spec.concurrency is None
    for bad in ({"concurrency": 0}, {"timeout": 0}, {"api_key_env": "sk-live-123 key"}, {"model": ""}):
        with pytest.raises(ValueError):
            ModelSpec(**bad)
    with pytest.raises(ValueError):
        Budget(max_calls=-1)


def test_spec_is_frozen_hashable_and_plain() -> None:
    params = {"stop": ["x"]}
    spec = ModelSpec(model="openai/m", params=params, deployments=({"model": "openai/n"},))
    params["stop"].append("y")  # the caller's dict does not leak into the spec
    assert spec.params["stop"] == ("x",)
    with pytest.raises(TypeError):
        spec.params["new"] = 1  # type: ignore[index]
    assert hash(spec) == hash(ModelSpec(model="openai/m", params={"stop": ["x"]}, deployments=({"model": "openai/n"},)))
    assert spec.as_dict()["params"] == {"stop": ["x"]} and spec.as_dict()["deployments"] == [{"model": "openai/n"}]


def test_spec_from_mapping() -> None:
    spec = ModelSpec.from_mapping({"model": "openai/m", "temperature": 0.7, "deployments": [{"model": "openai/n"}]})
    assert spec.temperature == 0.7 and len(spec.deployments) == 1
    with pytest.raises(ValueError, match="unknown model settings: colour"):
        ModelSpec.from_mapping({"colour": "blue"})


def test_count_tokens_heuristic_for_local_models() -> None:
    spec = ModelSpec()
    assert count_tokens(spec, "x" * 40) == 10
    assert count_tokens(spec, [{"role": "user", "content": "x" * 40}, {"role": "system", "content": ""}]) == 18


def test_plans_are_the_same_whether_or_not_litellm_is_loaded(monkeypatch) -> None:
    """A plan decides what an optimizer does next: it must not change once a call has imported
    litellm (a cached rerun, which never imports it, would decide differently), and planning
    must never load litellm's tokenizer. A real call still counts with litellm when loaded."""
    task = ModelSpec(model="openai/gpt-4o-mini")
    messages = [{"role": "user", "content": "x" * 40}]
    before = PlannedCalls.for_messages(task, 1, messages)
    counted = []

    def token_counter(**kwargs):
        counted.append(kwargs)
        return 999

    estimate = importlib.import_module("promptlsp.engine.estimate")  # the module (the package exports a function of that name)

    monkeypatch.setitem(sys.modules, "litellm", types.SimpleNamespace(token_counter=token_counter))
    monkeypatch.setattr(estimate, "_litellm_counter", token_counter)  # as the loading thread leaves it
    assert PlannedCalls.for_messages(task, 1, messages) == before and before.prompt_tokens == 14
    assert counted == []
    assert count_tokens(task, messages) == 999  # the session's count for a call being made


def test_prices_from_the_packaged_map() -> None:
    assert token_prices("local/anything") == (0.0, 0.0)
    assert token_prices("openai/no-such-model-xyz") is None
    input_price, output_price = token_prices("openai/gpt-4o-mini")
    assert 0 < input_price < output_price
    assert cost_usd("gpt-4o-mini", 1000, 0) == pytest.approx(1000 * input_price)


def test_estimate_sums_calls_tokens_and_cost_per_phase() -> None:
    task, judge = ModelSpec(model="openai/gpt-4o-mini", max_tokens=100), ModelSpec()
    result = estimate([
        PlannedCalls(task, calls=10, prompt_tokens=200, completion_tokens=100, phase="task"),
        PlannedCalls(judge, calls=10, prompt_tokens=300, completion_tokens=50, phase="judge"),
        PlannedCalls.for_messages(task, 2, "x" * 400, phase="task"),
    ])
    assert result.calls == 22 and result.by_phase["task"].calls == 12 and result.by_phase["judge"].calls == 10
    assert result.prompt_tokens == 2000 + 3000 + 2 * 100  # plans count ~4 characters a token
    assert result.completion_tokens == 1000 + 500 + 200
    assert result.by_phase["judge"].cost_usd == 0.0 and result.cost_usd == pytest.approx(result.by_phase["task"].cost_usd)
    assert result.cost_usd > 0
    assert result.exceeds(Budget(max_calls=21)) == "max_calls" and result.exceeds(Budget(max_calls=22)) is None
    assert result.exceeds(Budget(max_tokens=100)) == "max_tokens"
    assert result.exceeds(Budget(max_usd=0.0)) == "max_usd"
    assert result.as_dict()["by_phase"]["task"]["calls"] == 12


def test_unknown_price_makes_the_cost_unknown_and_a_usd_only_budget_unenforceable() -> None:
    result = estimate([PlannedCalls(ModelSpec(model="openai/unknown-xyz"), 3, 10, 10),
                       PlannedCalls(ModelSpec(), 3, 10, 10, "judge")])  # the local model is free
    assert result.cost_usd is None and result.unpriced == ["openai/unknown-xyz"]
    assert result.as_dict()["unpriced_models"] == ["openai/unknown-xyz"]
    assert result.usd_unenforced(Budget(max_usd=5)) == \
        "max_usd = 5 cannot be enforced: litellm has no price for openai/unknown-xyz"
    assert result.exceeds(Budget(max_usd=5)) == "max_usd"  # nothing else would stop the run
    assert result.exceeds(Budget(max_usd=5, max_calls=10)) is None  # the call cap does
    assert result.usd_unenforced(Budget(max_calls=10)) is None


def test_the_local_model_is_priced_at_zero() -> None:
    result = estimate([PlannedCalls(ModelSpec(model="local/qwen2.5-coder-0.5b"), 3, 10, 10)])
    assert result.cost_usd == 0.0 and result.unpriced == [] and result.exceeds(Budget(max_usd=0)) is None


def test_estimating_does_not_import_litellm() -> None:
    code = (
        "import sys\n"
        "from promptlsp.engine import Engine, ModelSpec, PlannedCalls, estimate\n"
        "e = estimate([PlannedCalls(ModelSpec(model='openai/gpt-4o-mini'), 5, 100, 100)])\n"
        "Engine(None)\n"
        "assert e.cost_usd > 0, e\n"
        "assert 'litellm' not in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
