"""Concurrent first calls to one endpoint set share one warm-up, and none of them sends its
request before that warm-up has finished (else its timeout pays litellm's setup). A warm-up
that fails lets the calls proceed and is tried again by the next call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from promptlsp.engine import Engine, ModelSpec
from promptlsp.engine.litellm_backend import LiteLLMBackend

STUB_KEY_ENV = "PROMPTLSP_TEST_STUB_KEY"  # set by the stub fixture (conftest)

CALLS = 6


class Recording(LiteLLMBackend):
    """Records warm-ups and requests in order. The warm-up holds until a request has started
    (a hang guard ends that wait when none may start): a call that does not wait for the
    warm-up then shows up as a request started before the warm-up ended."""

    def __init__(self, fail_warm_ups: int = 0) -> None:
        super().__init__()
        self.events: list[str] = []
        self.fail_warm_ups = fail_warm_ups
        self.request_started = asyncio.Event()

    async def _send(self, request: dict[str, Any], **extra: Any) -> Any:
        if "mock_response" not in extra:
            self.events.append("request")
            self.request_started.set()
            return await super()._send(request, **extra)
        self.events.append("warm-up started")
        try:
            await asyncio.wait_for(self.request_started.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
        try:
            if self.fail_warm_ups:
                self.fail_warm_ups -= 1
                raise RuntimeError("warm-up failed")
            return await super()._send(request, **extra)
        finally:
            self.events.append("warm-up ended")


def _spec(url: str, deployments: bool) -> ModelSpec:
    extra = ({"model": "openai/stub-model", "api_base": url, "api_key": f"os.environ/{STUB_KEY_ENV}"},)
    return ModelSpec(model="openai/stub-model", api_base=url, api_key_env=STUB_KEY_ENV, timeout=30,
                     deployments=extra if deployments else ())


@pytest.mark.parametrize("deployments", [False, True], ids=["direct", "router"])
async def test_concurrent_first_calls_wait_for_one_warm_up(stub, litellm_warm, deployments) -> None:
    backend = Recording()
    session = Engine(None, backend).session()
    spec = _spec(stub.url, deployments)
    results = await asyncio.wait_for(
        asyncio.gather(*(session.complete(spec, f"question {i}") for i in range(CALLS))), 60)
    assert all(r.ok for r in results), [r.failure for r in results]
    assert backend.events.count("warm-up started") == 1
    assert backend.events[:2] == ["warm-up started", "warm-up ended"], backend.events
    assert backend.events[2:] == ["request"] * CALLS


async def test_a_failed_warm_up_lets_the_calls_proceed_and_is_tried_again(stub, litellm_warm) -> None:
    backend = Recording(fail_warm_ups=1)
    session = Engine(None, backend).session()
    spec = _spec(stub.url, deployments=False)
    results = await asyncio.wait_for(
        asyncio.gather(*(session.complete(spec, f"question {i}") for i in range(3))), 60)
    assert all(r.ok for r in results), [r.failure for r in results]
    assert backend.events[:2] == ["warm-up started", "warm-up ended"], backend.events
    assert backend.events.count("warm-up started") == 1
    later = await asyncio.wait_for(session.complete(spec, "later"), 60)
    assert later.ok
    assert backend.events.count("warm-up started") == 2  # tried again, and now done
    await asyncio.wait_for(session.complete(spec, "once more"), 60)
    assert backend.events.count("warm-up started") == 2


async def test_a_cancelled_first_call_does_not_cancel_the_shared_warm_up(stub, litellm_warm) -> None:
    backend = Recording()
    session = Engine(None, backend).session()
    spec = _spec(stub.url, deployments=False)
    first = asyncio.ensure_future(session.complete(spec, "cancelled"))
    while "warm-up started" not in backend.events:
        await asyncio.sleep(0.01)
    second = asyncio.ensure_future(session.complete(spec, "kept"))
    first.cancel()
    result = await asyncio.wait_for(second, 60)
    assert result.ok, result.failure
    assert backend.events.count("warm-up started") == 1
    assert backend.events.index("warm-up ended") < backend.events.index("request")
