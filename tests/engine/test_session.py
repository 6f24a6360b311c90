"""Session behaviour with the deterministic ScriptedBackend: answers, structured output and
repair, retries, timeouts, cancellation, concurrency, budgets and accounting."""

from __future__ import annotations

import asyncio
import json

import pytest

from promptlsp.engine import (
    Budget,
    BudgetExhausted,
    ModelSpec,
    PermanentError,
    TransientError,
    make_response,
)

SPEC = ModelSpec(model="openai/scripted", seed=1, temperature=0, max_tokens=50, timeout=5, concurrency=2)
GOOD = {"answer": "42", "score": 0.5}
GOOD_JSON = json.dumps(GOOD)


async def test_plain_call_returns_text_usage_and_request_shape(scripted) -> None:
    engine, backend = scripted("hello")
    result = await engine.session().complete(SPEC, "hi", phase="judge", metadata={"example": "#1"})
    assert result.ok and result.text == "hello" and result.data is None
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.attempts == 1 and not result.cached and result.model == SPEC.model
    request = backend.requests[0]
    assert request["messages"] == [{"role": "user", "content": "hi"}]
    assert request["seed"] == 1 and request["max_tokens"] == 50 and request["temperature"] == 0
    assert request["metadata"]["phase"] == "judge" and request["metadata"]["example"] == "#1"


async def test_structured_call_parses_dict_answers(scripted, schema) -> None:
    engine, backend = scripted(GOOD)
    result = await engine.session().complete(SPEC, "q", schema=schema, schema_name="verdict")
    assert result.ok and result.data == GOOD and not result.repaired
    request = backend.requests[0]
    assert request["response_format"] is None and request["metadata"]["mode"] == "instruct"
    assert "`verdict`" in request["messages"][-1]["content"]


async def test_json_schema_mode_sends_response_format(scripted, schema) -> None:
    engine, backend = scripted(GOOD, json_schema=True)
    result = await engine.session().complete(SPEC, "q", schema=schema)
    assert result.ok
    assert backend.requests[0]["response_format"]["json_schema"]["schema"] == schema
    assert backend.requests[0]["metadata"]["mode"] == "json_schema"


async def test_bad_answer_gets_one_repair_round(scripted, schema) -> None:
    engine, backend = scripted(['{"answer": "42", "sco', GOOD])
    session = engine.session()
    result = await session.complete(SPEC, "q", schema=schema)
    assert result.ok and result.data == GOOD and result.repaired and result.attempts == 2
    repair = backend.requests[1]
    assert repair["metadata"]["repair"] is True
    assert repair["messages"][-2] == {"role": "assistant", "content": '{"answer": "42", "sco'}
    assert "could not be used" in repair["messages"][-1]["content"]
    assert session.accounting.total.calls == 2


async def test_still_bad_after_repair_is_a_typed_parse_failure(scripted, schema) -> None:
    engine, backend = scripted(["no json", '{"answer": 1}', "never asked"])
    session = engine.session()
    result = await session.complete(SPEC, "q", schema=schema)
    assert not result.ok and result.failure.kind == "parse"
    assert result.failure.attempts == 2 and backend.calls == 2  # exactly one repair round
    assert result.text == '{"answer": 1}' and result.data is None
    assert session.accounting.total.failures == 1


async def test_invalid_schema_fails_before_any_call(scripted) -> None:
    engine, backend = scripted(GOOD)
    result = await engine.session().complete(SPEC, "q", schema={"type": "no-such-type"})
    assert result.failure.kind == "bad_request" and backend.calls == 0


async def test_transient_errors_are_retried_then_succeed(scripted) -> None:
    engine, backend = scripted([TransientError("rate_limit", "slow down"), TransientError("server", "boom"), "ok"])
    session = engine.session()
    result = await session.complete(SPEC, "q")
    assert result.ok and result.text == "ok" and result.attempts == 3
    assert session.accounting.total.calls == 3 and session.accounting.total.retries == 2
    assert [r["metadata"]["attempt"] for r in backend.requests] == [1, 2, 3]


async def test_retries_are_bounded(scripted) -> None:
    engine, backend = scripted(lambda request: TransientError("server", "always down", status=503))
    result = await engine.session().complete(SPEC, "q")
    assert not result.ok and result.failure.kind == "server" and result.failure.status == 503
    assert backend.calls == engine.retry.max_attempts == result.failure.attempts


async def test_permanent_errors_are_not_retried(scripted) -> None:
    engine, backend = scripted([PermanentError("auth", "bad key"), "never"])
    result = await engine.session().complete(SPEC, "q")
    assert result.failure.kind == "auth" and backend.calls == 1


async def test_unexpected_backend_exception_is_a_failed_result(scripted) -> None:
    engine, _ = scripted(lambda request: RuntimeError("bug in a backend"))
    result = await engine.session().complete(SPEC, "q")
    assert result.failure.kind == "other" and "bug in a backend" in result.failure.message


async def test_retry_after_longer_than_allowed_is_not_waited_for(scripted) -> None:
    engine, backend = scripted([TransientError("rate_limit", "wait an hour", retry_after=3600), "never"])
    result = await engine.session().complete(SPEC, "q")
    assert result.failure.kind == "rate_limit" and backend.calls == 1


async def test_empty_model_answer_is_a_failure_not_a_crash(scripted) -> None:
    response = make_response("x", model="m", prompt_tokens=1, completion_tokens=0)
    response["choices"][0]["message"]["content"] = None
    engine, _ = scripted([response])
    result = await engine.session().complete(SPEC, "q")
    assert result.failure.kind == "other" and "no text" in result.failure.message


async def test_per_call_timeout_is_retried(scripted) -> None:
    answers = iter(["slow", "fast"])

    async def script(request):
        answer = next(answers)
        if answer == "slow":
            await asyncio.sleep(30)
        return answer

    engine, backend = scripted(script)
    result = await engine.session().complete(ModelSpec(model="m", timeout=0.2), "q")
    assert result.ok and result.text == "fast" and backend.calls == 2


async def test_cancellation_stops_the_call_and_starts_no_retry(scripted) -> None:
    engine, backend = scripted("late", latency=30)
    session = engine.session()
    task = asyncio.create_task(session.complete(SPEC, "q"))
    while backend.in_flight == 0:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.in_flight == 0 and backend.calls == 1
    assert engine.limiter(SPEC).active == 0  # the concurrency slot was released
    await asyncio.sleep(0.05)
    assert backend.calls == 1


async def test_concurrency_limit_per_model(scripted) -> None:
    engine, backend = scripted("x", latency=0.02)
    session = engine.session()
    spec = ModelSpec(model="m", concurrency=3)
    results = await asyncio.gather(*(session.complete(spec, f"q{i}") for i in range(12)))
    assert all(r.ok for r in results)
    assert backend.max_in_flight == 3


async def test_concurrency_limit_is_shared_by_sessions_and_follows_the_spec(scripted) -> None:
    engine, backend = scripted("x", latency=0.02)
    one, two = engine.session(), engine.session()
    spec = ModelSpec(model="m", concurrency=2)
    await asyncio.gather(*(s.complete(spec, f"q{i}") for i in range(6) for s in (one, two)))
    assert backend.max_in_flight == 2
    backend.max_in_flight = 0
    wider = ModelSpec(model="m", concurrency=5)
    await asyncio.gather(*(one.complete(wider, f"w{i}") for i in range(10)))
    assert backend.max_in_flight == 5


async def test_max_calls_holds_under_concurrency(scripted) -> None:
    engine, backend = scripted("x", latency=0.01)
    session = engine.session(budget=Budget(max_calls=5))
    outcomes = await asyncio.gather(
        *(session.complete(ModelSpec(model="m", concurrency=8), f"q{i}") for i in range(20)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, BudgetExhausted)]
    assert backend.calls == 5 and len(refused) == 15
    assert all(o.limit == "max_calls" for o in refused)
    assert session.budget_exhausted == "max_calls"
    assert session.accounting.snapshot()["budget_exhausted"] == "max_calls"


async def test_retries_count_against_max_calls(scripted) -> None:
    engine, backend = scripted([TransientError("server", "x"), TransientError("server", "x"), "ok"])
    session = engine.session(budget=Budget(max_calls=2))
    with pytest.raises(BudgetExhausted):
        await session.complete(SPEC, "q")
    assert backend.calls == 2


async def test_token_budget_reserves_before_and_settles_after(scripted) -> None:
    engine, backend = scripted("short answer")
    spec = ModelSpec(model="m", max_tokens=100)
    session = engine.session(budget=Budget(max_tokens=250))
    first = await session.complete(spec, "q")
    assert first.ok
    used = session.accounting.total.tokens
    assert 0 < used < 20  # settled at the real usage, not the 100-token reservation
    await session.complete(spec, "q2")  # still fits: ~10 used + ~104 reserved
    with pytest.raises(BudgetExhausted) as refused:
        await session.complete(ModelSpec(model="m", max_tokens=240), "q3")
    assert refused.value.limit == "max_tokens" and backend.calls == 2


async def test_usd_budget_uses_the_cost_map(scripted) -> None:
    priced = ModelSpec(model="openai/gpt-4o-mini", max_tokens=1000)
    engine, backend = scripted("word " * 900)  # ~1100 tokens out: ~$0.00068
    session = engine.session(budget=Budget(max_usd=0.001))  # reserves 1000 tokens out: ~$0.0006
    assert (await session.complete(priced, "q")).cost_usd > 0
    with pytest.raises(BudgetExhausted) as refused:
        await session.complete(priced, "q2")
    assert refused.value.limit == "max_usd" and backend.calls == 1
    assert session.accounting.total.cost_usd > 0


async def test_a_usd_only_budget_refuses_a_model_without_a_price(scripted) -> None:
    engine, backend = scripted("answer")
    session = engine.session(budget=Budget(max_usd=1.0))
    for _ in range(2):  # refused for good, with the reason every time
        with pytest.raises(BudgetExhausted, match="no price for openai/unknown-xyz") as refused:
            await session.complete(ModelSpec(model="openai/unknown-xyz"), "q")
        assert refused.value.limit == "max_usd" and backend.calls == 0
    assert session.accounting.snapshot()["budget_exhausted_reason"].startswith("max_usd = 1 cannot be enforced")
    free = engine.session(budget=Budget(max_usd=1.0))
    assert (await free.complete(ModelSpec(model="local/qwen2.5-coder-0.5b"), "q")).ok  # priced at 0


async def test_with_another_limit_an_unpriced_model_is_called_and_counted(scripted, caplog) -> None:
    engine, backend = scripted("answer")
    session = engine.session(budget=Budget(max_usd=1.0, max_calls=5))
    for q in ("q1", "q2"):
        assert (await session.complete(ModelSpec(model="openai/unknown-xyz"), q)).ok
    assert session.accounting.total.cost_unknown_calls == 2 and backend.calls == 2
    warnings = [r.getMessage() for r in caplog.records if "cannot be enforced" in r.getMessage()]
    assert len(warnings) == 1 and "the other budget limits still apply" in warnings[0]


async def test_exhausted_budget_still_serves_cache_hits(scripted, tmp_path) -> None:
    engine, backend = scripted("x", cache_path=tmp_path / "c.sqlite")
    await engine.session().complete(SPEC, "cached question")
    session = engine.session(budget=Budget(max_calls=0))
    hit = await session.complete(SPEC, "cached question")
    assert hit.ok and hit.cached and backend.calls == 1
    with pytest.raises(BudgetExhausted):
        await session.complete(SPEC, "new question")
    assert session.accounting.total.cache_hits == 1 and session.accounting.total.calls == 0


async def test_accounting_per_phase_and_snapshot_is_json(scripted, schema) -> None:
    engine, _ = scripted(routes={"task": "answer", "judge": [GOOD, GOOD]})
    session = engine.session(budget=Budget(max_calls=10))
    await asyncio.gather(session.complete(SPEC, "a"), session.complete(SPEC, "b"))
    await session.complete(SPEC, "c", schema=schema, phase="judge")
    snapshot = json.loads(json.dumps(session.accounting.snapshot()))
    assert snapshot["total"]["calls"] == 3
    assert snapshot["by_phase"]["task"]["calls"] == 2 and snapshot["by_phase"]["judge"]["calls"] == 1
    assert snapshot["total"]["tokens"] == snapshot["total"]["prompt_tokens"] + snapshot["total"]["completion_tokens"]
    assert snapshot["total"]["wall_s"] > 0 and snapshot["budget"]["max_calls"] == 10
    assert snapshot["total"]["cost_unknown_calls"] == 3  # "openai/scripted" has no price


async def test_samples_get_distinct_seeds_and_cache_entries(scripted, tmp_path) -> None:
    engine, backend = scripted(lambda request: f"seed {request['seed']}", cache_path=tmp_path / "c.sqlite")
    session = engine.session()
    texts = [(await session.complete(SPEC, "same", sample=i)).text for i in range(3)]
    assert texts == ["seed 1", "seed 2", "seed 3"]
    again = [(await session.complete(SPEC, "same", sample=i)).text for i in range(3)]
    assert again == texts and backend.calls == 3


async def test_prepare_failure_is_a_failed_result(scripted) -> None:
    engine, backend = scripted("x")

    async def unavailable(spec):
        raise PermanentError("other", "install it with: pip install 'promptlsp[local]'")

    backend.prepare = unavailable
    result = await engine.session().complete(SPEC, "q")
    assert result.failure.kind == "other" and "pip install" in result.failure.message
    assert backend.calls == 0


async def test_scripted_backend_routes_and_errors_when_used_up(scripted) -> None:
    engine, backend = scripted(routes={"critic": ["c1"]}, default="d", route_by="role")
    session = engine.session()
    assert (await session.complete(SPEC, "a", metadata={"role": "critic"})).text == "c1"
    assert (await session.complete(SPEC, "b")).text == "d"
    used_up = await session.complete(SPEC, "c", metadata={"role": "critic"})
    assert used_up.failure.kind == "other" and "used up" in used_up.failure.message
    assert backend.calls_by_phase["task"] == 3 and len(backend.requests_for("task")) == 3


async def test_a_backend_serving_fewer_requests_at_once_caps_the_limiter():
    """Requests beyond a model's slots wait in the engine, before their timeout starts."""
    from promptlsp.engine import BackendCaps, Engine, ModelSpec, ScriptedBackend

    class OneSlot(ScriptedBackend):
        async def prepare(self, spec):
            return BackendCaps(json_schema=False, max_concurrency=1)

    backend = OneSlot("ok", latency=0.05)
    session = Engine(cache_path=None, backend=backend).session()
    spec = ModelSpec(model="scripted/x", concurrency=4, timeout=0.12)
    results = await asyncio.gather(*(session.complete(spec, f"q{i}") for i in range(5)))
    assert backend.max_in_flight == 1
    assert all(r.ok for r in results)  # 5 × 50 ms in a row, yet none waited past its 120 ms timeout


async def test_engines_sharing_limiters_share_one_limit_per_model():
    """A language server keeps one engine per workspace root and one concurrency limit per model."""
    from promptlsp.engine import Engine, ModelSpec, ScriptedBackend

    backend = ScriptedBackend("ok", latency=0.03)
    first = Engine(cache_path=None, backend=backend)
    second = Engine(cache_path=None, backend=backend, limiters=first.limiters)
    spec = ModelSpec(model="scripted/x", concurrency=2)
    calls = [engine.session().complete(spec, f"q{i}") for i in range(4) for engine in (first, second)]
    await asyncio.gather(*calls)
    assert backend.max_in_flight == 2 and second.limiters is first.limiters


async def test_the_default_concurrency_depends_on_the_route():
    """Without ``concurrency``: a hosted model starts at 16 calls at once and gets one more per
    answer (up to HOSTED_CEILING); a proxy or self-hosted server (``api_base``) keeps 16, a local server
    its slots; an explicit setting wins, but never beyond the slots."""
    from promptlsp.engine import BackendCaps, Engine, ModelSpec, ScriptedBackend
    from promptlsp.engine.spec import HOSTED_CEILING

    class Slots(ScriptedBackend):
        async def prepare(self, spec):
            return BackendCaps(json_schema=False, max_concurrency=2 if spec.is_local else None)

    backend = Slots("ok", latency=0.03)
    engine = Engine(cache_path=None, backend=backend)
    session = engine.session()

    async def widest(spec: ModelSpec, calls: int = 24) -> int:
        backend.max_in_flight = 0
        await asyncio.gather(*(session.complete(spec, f"{spec.model} {spec.concurrency} q{i}") for i in range(calls)))
        return backend.max_in_flight

    assert 16 < await widest(ModelSpec(model="openai/gpt-4o-mini"), 100) <= HOSTED_CEILING  # grew while calls waited
    assert 2 * 16 <= engine.limiters["openai/gpt-4o-mini"].capacity <= HOSTED_CEILING  # doubled in a round
    assert await widest(ModelSpec(model="openai/gpt-4o-mini", concurrency=16), 100) == 16
    assert await widest(ModelSpec(model="openai/team", api_base="http://proxy:4000"), 100) == 16
    assert await widest(ModelSpec(model="local/qwen2.5-coder-0.5b")) == 2  # the server's slots
    assert await widest(ModelSpec(model="openai/gpt-4o-mini", concurrency=3)) == 3
    assert await widest(ModelSpec(model="local/qwen2.5-coder-0.5b", concurrency=8)) == 2


async def test_a_hosted_default_that_meets_rate_limits_stops_growing_and_every_call_gets_its_answer(scripted):
    """A provider that answers 429 beyond 24 calls at once: the limit grows from 16, meets it,
    halves and grows no more; the refused calls are retried and every call is answered."""
    from promptlsp.engine import TransientError
    from promptlsp.engine.spec import HOSTED_CONCURRENCY

    limited = []

    def answer(request):
        if backend.in_flight > 24:
            limited.append(1)
            return TransientError("rate_limit", "429: too many requests at once", status=429)
        return "ok"

    engine, backend = scripted(answer, latency=0.02)
    session = engine.session()
    spec = ModelSpec(model="openai/gpt-4o-mini")
    results = await asyncio.gather(*(session.complete(spec, f"q{i}") for i in range(120)))
    assert all(r.ok for r in results) and limited
    limiter = engine.limiters[spec.model]
    assert limiter.ceiling is None and HOSTED_CONCURRENCY <= limiter.capacity <= 24


def test_a_file_without_concurrency_leaves_it_to_the_route():
    from promptlsp.document import analyze
    from promptlsp.engine.spec import HOSTED_CONCURRENCY, ModelSpec

    text = ('task = "t"\n[prompt]\ntemplate = "Say {{ x }}"\n[[examples]]\nvars = { x = "hi" }\nsplit = "validation"\n'
            '[models.task]\nmodel = "anthropic/claude-3-5-haiku-latest"\n')
    task = analyze(text).prompt.models.task
    assert task.concurrency is None and task.calls_at_once() == HOSTED_CONCURRENCY == 16
    assert ModelSpec(model="local/qwen2.5-coder-0.5b").calls_at_once(slots=1) == 1  # the embedded server's slot
    assert ModelSpec(model="local/qwen2.5-coder-0.5b").calls_at_once(slots=4) == 4
    assert ModelSpec(model="openai/x", api_base="http://127.0.0.1:8080/v1", concurrency=2).calls_at_once() == 2


async def test_a_cached_answer_is_served_without_preparing_the_backend(tmp_path, schema) -> None:
    """prepare() may import litellm or start a local model: a cache hit must not need it."""
    from promptlsp.engine import Engine, ModelSpec, ScriptedBackend

    spec = ModelSpec(model="scripted/x", seed=1)
    filler = Engine(cache_path=tmp_path / "c.sqlite", backend=ScriptedBackend(GOOD_JSON, json_schema=True))
    assert (await filler.session().complete(spec, "plain")).ok
    assert (await filler.session().complete(spec, "structured", schema=schema)).ok
    filler.close()

    class Unprepared(ScriptedBackend):
        prepared = 0

        async def prepare(self, spec):
            self.prepared += 1
            raise PermanentError("other", "prepare must not run for a cached answer")

    backend = Unprepared("never asked")
    engine = Engine(cache_path=tmp_path / "c.sqlite", backend=backend)
    session = engine.session()
    plain = await session.complete(spec, "plain")
    structured_answer = await session.complete(spec, "structured", schema=schema)  # mode: the one cached
    assert plain.ok and plain.cached and structured_answer.ok and structured_answer.data == GOOD
    assert backend.prepared == 0 and backend.calls == 0
    missing = await session.complete(spec, "not cached")
    assert missing.failure.message == "prepare must not run for a cached answer" and backend.prepared == 1
    engine.close()


async def test_when_both_modes_are_cached_the_backend_decides(tmp_path, schema) -> None:
    from promptlsp.engine import Engine, ModelSpec, ScriptedBackend

    spec = ModelSpec(model="scripted/x", seed=1)
    for json_schema, answer in ((True, GOOD_JSON), (False, '{"answer": "instructed", "score": 1}')):
        filler = Engine(cache_path=tmp_path / "c.sqlite", backend=ScriptedBackend(answer, json_schema=json_schema))
        assert (await filler.session(use_cache=False).complete(spec, "q", schema=schema)).ok
        filler.close()
    for json_schema, expected in ((True, "42"), (False, "instructed")):
        backend = ScriptedBackend("never asked", json_schema=json_schema)
        engine = Engine(cache_path=tmp_path / "c.sqlite", backend=backend)
        result = await engine.session().complete(spec, "q", schema=schema)
        assert result.cached and result.data["answer"] == expected and backend.calls == 0
        engine.close()
