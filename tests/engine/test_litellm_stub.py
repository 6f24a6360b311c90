"""The real path: Session -> LiteLLMBackend -> litellm.acompletion -> HTTP -> the loopback stub,
which injects faults. Results must still arrive, retries stay bounded, budgets hold, nothing is
lost, and cancelling a call closes its connection."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import types

import pytest

from promptlsp.engine import Budget, BudgetExhausted, ModelSpec

GOOD = {"answer": "42", "score": 0.5}


def _question(body: dict) -> str:
    """The first line of the last user message (the part before the JSON instruction)."""
    user = [m for m in body["messages"] if m["role"] == "user"][0]
    return user["content"].split("\n")[0]


async def test_answer_usage_and_request_through_litellm(real_engine, stub, stub_spec, capfd) -> None:
    session = real_engine.session()
    result = await session.complete(stub_spec, [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    assert result.ok and json.loads(result.text) == GOOD
    assert result.usage.prompt_tokens == 3 and result.usage.completion_tokens == 4  # the stub counts words
    body = stub.stats.bodies[0]
    assert body["model"] == "stub-model" and body["seed"] == 7 and body["temperature"] == 0
    assert stub.stats.auth_headers[0] == "Bearer sk-stub-not-a-secret-0000"  # key from api_key_env
    assert "response_format" not in body  # litellm does not know this model: instruct mode
    assert result.cost_usd is None and session.accounting.total.cost_unknown_calls == 1
    assert capfd.readouterr().out == ""  # stdout belongs to the language server's JSON-RPC


async def test_rate_limit_retry_after_is_honoured(real_engine, stub, stub_spec) -> None:
    stub.add_rule(fault="rate_limit", times=1, retry_after=1)
    session = real_engine.session()
    result = await session.complete(stub_spec, "q", schema={"type": "object"})
    assert result.ok and result.attempts == 2 and stub.stats.requests == 2
    arrivals = stub.stats.arrivals
    assert arrivals[1] - arrivals[0] >= 0.9  # waited for Retry-After, not the 10 ms backoff
    assert session.accounting.total.retries == 1 and session.accounting.total.calls == 2


async def test_server_errors_are_retried_a_bounded_number_of_times(real_engine, stub, stub_spec) -> None:
    stub.add_rule(fault="server")  # every request
    result = await real_engine.session().complete(stub_spec, "q")
    assert result.failure.kind == "server" and result.failure.status == 500
    assert stub.stats.requests == real_engine.retry.max_attempts == result.failure.attempts


async def test_unavailable_and_dropped_connections_are_retried(real_engine, stub, stub_spec) -> None:
    stub.add_rule(fault="drop", times=1)
    stub.add_rule(fault="unavailable", times=1, retry_after=0)
    result = await real_engine.session().complete(stub_spec, "q")
    assert result.ok and stub.stats.requests == 3 and stub.stats.faults == {"drop": 1, "unavailable": 1}


async def test_a_hang_past_the_timeout_is_cut_and_retried(real_engine, stub, stub_spec) -> None:
    stub.add_rule(fault="hang", times=1, hang_s=30)
    result = await real_engine.session().complete(dataclasses.replace(stub_spec, timeout=1), "q")
    assert result.ok and result.attempts == 2
    assert await stub.until(lambda s: s.disconnects == 1)  # the hung connection was closed


async def test_truncated_json_is_repaired(real_engine, stub, stub_spec, schema) -> None:
    stub.add_rule(fault="truncate", times=1)
    result = await real_engine.session().complete(stub_spec, "q", schema=schema)
    assert result.ok and result.data == GOOD and result.repaired and stub.stats.requests == 2
    assert "could not be used" in stub.stats.bodies[1]["messages"][-1]["content"]


async def test_prose_around_json_is_parsed_without_repair(real_engine, stub, stub_spec, schema) -> None:
    stub.add_rule(fault="prose", times=1)
    result = await real_engine.session().complete(stub_spec, "q", schema=schema)
    assert result.ok and result.data == GOOD and not result.repaired and stub.stats.requests == 1


async def test_many_concurrent_calls_with_faults_lose_nothing(real_engine, stub, stub_spec, schema) -> None:
    stub.answer = lambda body: json.dumps({"answer": _question(body), "score": 1})
    for i, fault in enumerate(["rate_limit", "server", "truncate", "prose", "drop", "hang", "unavailable"]):
        stub.add_rule(match=f"question {i}\n", fault=fault, times=1, retry_after=0, hang_s=30)
    spec = dataclasses.replace(stub_spec, timeout=2, concurrency=4)
    session = real_engine.session()
    results = await asyncio.gather(*(session.complete(spec, f"question {i}", schema=schema) for i in range(24)))
    assert [r.data["answer"] if r.ok else r.failure for r in results] == [f"question {i}" for i in range(24)]
    assert stub.stats.requests == 24 + 6  # one more request per fault (prose needs none), no more
    assert stub.stats.max_in_flight <= 4
    assert session.accounting.total.calls == 30 and session.accounting.total.failures == 0


async def test_budget_holds_against_a_real_endpoint(real_engine, stub, stub_spec) -> None:
    session = real_engine.session(budget=Budget(max_calls=5))
    spec = dataclasses.replace(stub_spec, concurrency=8)
    outcomes = await asyncio.gather(*(session.complete(spec, f"q{i}") for i in range(20)), return_exceptions=True)
    assert sum(isinstance(o, BudgetExhausted) for o in outcomes) == 15
    assert stub.stats.requests == 5 and session.budget_exhausted == "max_calls"


async def test_cancel_closes_the_connection_and_sends_nothing_more(real_engine, stub, stub_spec) -> None:
    stub.add_rule(fault="hang", hang_s=30)
    task = asyncio.create_task(real_engine.session().complete(stub_spec, "q"))
    assert await stub.until(lambda s: s.in_flight == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await stub.until(lambda s: s.disconnects == 1 and s.in_flight == 0)
    await asyncio.sleep(0.2)
    assert stub.stats.requests == 1 and real_engine.limiter(stub_spec).active == 0


async def test_json_schema_mode_and_cost_for_a_model_litellm_knows(real_engine, stub, stub_spec, schema) -> None:
    spec = dataclasses.replace(stub_spec, model="openai/gpt-4o-mini")
    session = real_engine.session()
    result = await session.complete(spec, "q", schema=schema, schema_name="verdict")
    assert result.ok and result.data == GOOD
    response_format = stub.stats.bodies[0]["response_format"]
    assert response_format["type"] == "json_schema" and response_format["json_schema"]["name"] == "verdict"
    assert result.cost_usd > 0 and session.accounting.total.cost_usd == pytest.approx(result.cost_usd)


async def test_a_self_hosted_server_said_to_enforce_json_schemas_gets_them(real_engine, stub, stub_spec, schema) -> None:
    # litellm cannot know what an OpenAI-compatible server behind api_base supports: the file says
    session = real_engine.session()
    unknown = await session.complete(stub_spec, "q1", schema=schema, schema_name="verdict")
    told = await session.complete(dataclasses.replace(stub_spec, json_schema=True), "q2", schema=schema, schema_name="verdict")
    assert unknown.ok and told.ok
    first, second = stub.stats.bodies
    assert first.get("response_format", {}).get("type") != "json_schema"  # asked for in words, parsed tolerantly
    assert second["response_format"]["type"] == "json_schema" and second["response_format"]["json_schema"]["name"] == "verdict"


async def test_router_spreads_over_deployments_within_the_limits(real_engine, stub, stub_spec, monkeypatch) -> None:
    monkeypatch.setenv("PROMPTLSP_TEST_SECOND_KEY", "sk-second-deployment-key")
    spec = dataclasses.replace(
        stub_spec,
        model="openai/deployment-a",
        concurrency=2,
        deployments=({"model": "openai/deployment-b", "api_base": stub.url, "api_key": "os.environ/PROMPTLSP_TEST_SECOND_KEY"},),
    )
    stub.add_rule(fault="rate_limit", times=1, retry_after=0)
    session = real_engine.session(budget=Budget(max_calls=17))
    results = await asyncio.gather(*(session.complete(spec, f"q{i}") for i in range(16)))
    assert all(r.ok for r in results)
    assert {b["model"] for b in stub.stats.bodies} == {"deployment-a", "deployment-b"}
    assert set(stub.stats.auth_headers) == {"Bearer sk-stub-not-a-secret-0000", "Bearer sk-second-deployment-key"}
    assert stub.stats.max_in_flight <= 2 and stub.stats.requests == 17 == session.accounting.total.calls
    with pytest.raises(BudgetExhausted):
        await session.complete(spec, "one too many")


async def test_auth_failure_is_typed_and_not_retried(real_engine, stub, stub_spec) -> None:
    stub.api_key = "sk-the-right-key-1234"
    result = await real_engine.session().complete(stub_spec, "q")
    assert result.failure.kind == "auth" and stub.stats.requests == 1


async def test_a_spent_quota_is_typed_said_plainly_and_not_retried(real_engine, stub, stub_spec) -> None:
    stub.add_rule(fault="quota")
    result = await real_engine.session().complete(stub_spec, "q")
    assert result.failure.kind == "quota" and stub.stats.requests == 1
    assert result.failure.message == ("budget or quota spent at the provider or gateway (HTTP 429), not retried: "
                                      "You exceeded your current quota, please check your plan and billing details.")


async def test_rerun_through_litellm_after_restart_makes_zero_calls(tmp_path, fast_retry, stub, stub_spec) -> None:
    from promptlsp.engine import Engine

    questions = [f"q{i}" for i in range(5)]
    first = Engine(tmp_path / "c.sqlite", retry=fast_retry)
    await asyncio.gather(*(first.session().complete(stub_spec, q) for q in questions))
    first.close()
    second = Engine(tmp_path / "c.sqlite", retry=fast_retry)
    session = second.session()
    results = await asyncio.gather(*(session.complete(stub_spec, q) for q in questions))
    second.close()
    assert all(r.cached for r in results) and stub.stats.requests == 5
    assert session.accounting.total.calls == 0 and session.accounting.total.cache_hits == 5


class _FakeLocalUnavailable(Exception):
    pass


def _fake_local_module(stub_url: str | None) -> types.ModuleType:
    """Stands in for promptlsp.engine.local (written separately): its documented contract."""
    module = types.ModuleType("promptlsp.engine.local")
    module.LocalModelUnavailable = _FakeLocalUnavailable

    def resolve(model_id: str):
        if stub_url is None:
            raise _FakeLocalUnavailable("the local model needs: pip install 'promptlsp[local]'")
        kwargs = {"model": "openai/qwen-local", "api_base": stub_url, "api_key": "local"}
        return types.SimpleNamespace(litellm_kwargs=kwargs, supports_json_schema=True, max_concurrency=1)

    module.resolve = resolve
    return module


async def test_local_models_route_through_the_local_resolver(real_engine, stub, litellm_warm, monkeypatch, schema) -> None:
    monkeypatch.setitem(sys.modules, "promptlsp.engine.local", _fake_local_module(stub.url))
    session = real_engine.session()
    result = await session.complete(ModelSpec(model="local/qwen2.5-coder-0.5b", seed=1), "q", schema=schema)
    assert result.ok and result.data == GOOD and result.cost_usd == 0.0
    body = stub.stats.bodies[0]
    assert body["model"] == "qwen-local" and body["response_format"]["type"] == "json_schema"
    assert session.accounting.total.cost_unknown_calls == 0


async def test_unavailable_local_model_is_a_failed_call_not_a_crash(real_engine, litellm_warm, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "promptlsp.engine.local", _fake_local_module(None))
    result = await real_engine.session().complete(ModelSpec(model="local/qwen2.5-coder-0.5b"), "q")
    assert result.failure.kind == "other" and "pip install 'promptlsp[local]'" in result.failure.message


def test_a_servers_json_error_body_is_reported_in_its_own_words(litellm_warm) -> None:
    import litellm

    from promptlsp.engine.litellm_backend import classify

    body = '{"error": {"message": "Unknown field: tempreature", "type": "invalid_request_error", "param": null}}'
    error = classify(litellm.BadRequestError(message=f"OpenAIException - {body}", model="m", llm_provider="openai"), [])
    assert error.kind == "bad_request" and "Unknown field: tempreature" in error.message
    assert "invalid_request_error" not in error.message and "{" not in error.message


def test_an_error_body_nested_absurdly_deep_is_still_classified(litellm_warm) -> None:
    """Bad input: a server's error text with 100,000 nested arrays (and 10,000 stray braces)
    gets its kind and a bounded message — no RecursionError, no quadratic scan."""
    import litellm

    from promptlsp.engine.litellm_backend import classify

    text = "{" * 10_000 + ' {"error": ' + "[" * 100_000
    error = classify(litellm.InternalServerError(message=text, model="m", llm_provider="openai"), [])
    assert error.kind == "server" and len(error.message) <= 500
