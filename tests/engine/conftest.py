"""Fixtures for engine tests: a loopback stub server, fast retries, a scripted engine.

Nothing here reaches the network: the stub listens on 127.0.0.1 and litellm is told to use its
packaged cost map.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from promptlsp.engine import Engine, ModelSpec, RetryPolicy, ScriptedBackend  # noqa: E402
from promptlsp.testing.openai_stub import StubServer  # noqa: E402

STUB_KEY_ENV = "PROMPTLSP_TEST_STUB_KEY"
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"type": "number"}},
    "required": ["answer", "score"],
}
GOOD_JSON = '{"answer": "42", "score": 0.5}'


@pytest.fixture
def schema() -> dict:
    return SCHEMA


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(STUB_KEY_ENV, "sk-stub-not-a-secret-0000")
    with StubServer(latency=0.005, answer=lambda body: GOOD_JSON) as server:
        yield server


@pytest.fixture(scope="session")
def litellm_warm() -> None:
    """Pay litellm's import and its first call's lazy imports (seconds) once, outside any test's
    timeouts, so no test depends on running after another."""
    import asyncio

    async def one_call() -> None:
        with StubServer() as server:
            spec = ModelSpec(model="openai/warm-up", api_base=server.url, api_key_env=STUB_KEY_ENV)
            result = await Engine(None).session().complete(spec, "warm up")
            assert result.ok, result.failure

    previous = os.environ.get(STUB_KEY_ENV)
    os.environ[STUB_KEY_ENV] = "sk-warm-up-not-a-secret"
    try:
        asyncio.run(one_call())
    finally:
        if previous is None:
            del os.environ[STUB_KEY_ENV]
        else:
            os.environ[STUB_KEY_ENV] = previous


@pytest.fixture
def stub_spec(stub: StubServer, litellm_warm: None) -> ModelSpec:
    """A model served by the stub through litellm's OpenAI-compatible path."""
    return ModelSpec(model="openai/stub-model", api_base=stub.url, api_key_env=STUB_KEY_ENV, seed=7,
                     temperature=0, timeout=5, concurrency=4)


@pytest.fixture
def real_engine(tmp_path, fast_retry):
    engine = Engine(cache_path=tmp_path / "cache.sqlite", retry=fast_retry)
    yield engine
    engine.close()


@pytest.fixture
def scripted():
    """``scripted(script, cache_path=None, **backend_kwargs) -> (engine, backend)``."""
    engines: list[Engine] = []

    def make(script=None, *, cache_path=None, **kwargs) -> tuple[Engine, ScriptedBackend]:
        backend = ScriptedBackend(script, **kwargs)
        engine = Engine(cache_path=cache_path, backend=backend, retry=RetryPolicy(base_delay=0.001, max_delay=0.005))
        engines.append(engine)
        return engine, backend

    yield make
    for engine in engines:
        engine.close()
