"""litellm does none of the per-call work promptlsp does not use (engine/litellm_settings.py):
no cost calculation (promptlsp prices calls itself), no success-logging payload, no redaction
copies — while a program that registers a litellm callback still gets all of it. Counted by
wrapping litellm's own functions, through the real path to the loopback stub."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest


@pytest.fixture
def litellm_work(monkeypatch: pytest.MonkeyPatch, litellm_warm: None) -> Counter:
    """Counts of litellm's cost calculation, logging-payload building and redaction."""
    import litellm
    from litellm.litellm_core_utils import litellm_logging, redact_messages

    calls: Counter = Counter()

    def counted(owner, name):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    counted(litellm, "response_cost_calculator")  # what Logging.response_cost_calculator calls
    counted(litellm_logging.Logging, "_build_standard_logging_payload")
    counted(redact_messages, "perform_redaction")
    return calls


async def _drain_litellm_logging() -> None:
    """Let litellm's background logging worker run what a call queued (if anything)."""
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), 10)
    await asyncio.sleep(0.05)


async def test_a_call_does_no_cost_calculation_logging_payload_or_redaction(real_engine, stub_spec, litellm_work) -> None:
    results = await asyncio.gather(*(real_engine.session().complete(stub_spec, f"q{i}") for i in range(3)))
    await _drain_litellm_logging()
    assert all(r.ok for r in results)
    assert dict(litellm_work) == {}


async def test_a_router_call_does_none_of_it_either(real_engine, stub, stub_spec, litellm_work) -> None:
    spec = dataclasses.replace(stub_spec, deployments=(
        {"model": "openai/other", "api_base": stub.url, "api_key": f"os.environ/{stub_spec.api_key_env}"},))
    results = await asyncio.gather(*(real_engine.session().complete(spec, f"r{i}") for i in range(4)))
    await _drain_litellm_logging()
    assert all(r.ok for r in results)
    assert dict(litellm_work) == {}


async def test_promptlsp_still_prices_the_call_itself(real_engine, stub, stub_spec, litellm_work) -> None:
    spec = dataclasses.replace(stub_spec, model="openai/gpt-4o-mini")  # in litellm's cost map
    result = await real_engine.session().complete(spec, "price me")
    assert result.ok and result.cost_usd is not None and result.cost_usd > 0
    assert litellm_work["response_cost_calculator"] == 0


async def test_a_registered_litellm_callback_still_gets_its_payload(real_engine, stub_spec, litellm_work,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import litellm
    from litellm.integrations.custom_logger import CustomLogger

    payloads: list[dict] = []

    class Listener(CustomLogger):
        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            payloads.append(kwargs.get("standard_logging_object") or {})

    monkeypatch.setattr(litellm, "callbacks", [Listener()])
    result = await real_engine.session().complete(stub_spec, "listened")
    await _drain_litellm_logging()
    assert result.ok
    assert payloads and payloads[-1].get("model")  # (the first may be the engine's mock warm-up call)
    assert litellm_work["_build_standard_logging_payload"] >= 1 and litellm_work["response_cost_calculator"] >= 1


def test_settings_are_applied_once(litellm_warm: None) -> None:
    import litellm
    from litellm.litellm_core_utils.litellm_logging import Logging

    from promptlsp.engine import litellm_settings

    before = Logging.async_success_handler
    litellm_settings.apply(litellm)
    assert Logging.async_success_handler is before  # not wrapped twice
    assert litellm.turn_off_message_logging is False and litellm.telemetry is False


@pytest.fixture
def paths_taken(monkeypatch: pytest.MonkeyPatch, litellm_warm: None) -> Counter:
    """Which of litellm's two paths to an OpenAI-compatible server each call took: its own HTTP
    handler, or the openai SDK."""
    from litellm.llms.custom_httpx.llm_http_handler import BaseLLMHTTPHandler
    from litellm.llms.openai.openai import OpenAIChatCompletion

    taken: Counter = Counter()
    for owner, name, label in ((BaseLLMHTTPHandler, "async_completion", "http handler"),
                               (OpenAIChatCompletion, "acompletion", "openai SDK")):
        original = getattr(owner, name)

        async def counted(*args, _original=original, _label=label, **kwargs):
            taken[_label] += 1
            return await _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
    return taken


async def test_an_openai_compatible_call_goes_through_litellms_http_handler_not_the_openai_sdk(
        real_engine, stub_spec, paths_taken) -> None:
    results = await asyncio.gather(*(real_engine.session().complete(stub_spec, f"h{i}") for i in range(3)))
    assert all(r.ok and r.text for r in results)
    assert dict(paths_taken) == {"http handler": 3}


async def test_a_user_who_switches_litellms_setting_off_keeps_the_openai_sdk(
        monkeypatch: pytest.MonkeyPatch, real_engine, stub_spec, paths_taken) -> None:
    from promptlsp.engine import litellm_settings

    monkeypatch.setenv(litellm_settings.OPENAI_WITHOUT_SDK, "false")
    import litellm

    litellm_settings.apply(litellm)  # a later apply does not overrule the user either
    results = await asyncio.gather(*(real_engine.session().complete(stub_spec, f"s{i}") for i in range(2)))
    assert all(r.ok for r in results)
    assert dict(paths_taken) == {"openai SDK": 2}
