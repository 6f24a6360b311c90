"""litellm is imported once per process, on a thread of its own that every first call waits
for: concurrent first calls start one import, and none of them occupies a worker of asyncio's
default executor meanwhile (a language server's analyses would queue behind them).

``_import_litellm`` is replaced by a fake that blocks until the test releases it, so nothing
here depends on how long the real import takes."""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
import types

import pytest

from promptlsp.engine import ModelSpec
from promptlsp.engine import litellm_backend
from promptlsp.engine.litellm_backend import LiteLLMBackend

estimate = importlib.import_module("promptlsp.engine.estimate")  # the package's "estimate" is a function
SPEC = ModelSpec(model="openai/not-called", api_base="http://127.0.0.1:9", timeout=5)
# asyncio's default executor: min(32, cpus + 4) workers; more first calls than that
DEFAULT_WORKERS = min(32, (os.cpu_count() or 1) + 4)


class FakeImport:
    """Counts imports; each blocks until ``release``; then returns a bare stand-in for litellm
    (or raises, while ``failures`` lasts)."""

    def __init__(self, failures: int = 0) -> None:
        self.calls = 0
        self.failures = failures
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[str] = []

    def __call__(self):
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        assert self.release.wait(30), "the test never released the import"
        if self.failures:
            self.failures -= 1
            raise ImportError("no litellm (test)")
        return types.SimpleNamespace(token_counter=None)  # prepare's warm-up and caps tolerate it


@pytest.fixture
def fake_import(monkeypatch):
    fake = FakeImport()
    monkeypatch.setattr(litellm_backend, "_import_litellm", fake)
    monkeypatch.setattr(litellm_backend, "_loading", None, raising=False)  # a fresh process, as far as loading goes
    yield fake
    fake.release.set()


async def _until(predicate, timeout: float = 10.0) -> None:
    async def poll():
        while not predicate():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


async def test_concurrent_first_calls_import_litellm_once(fake_import) -> None:
    backends = [LiteLLMBackend() for _ in range(2)]  # two engines of one process share it too
    calls = [asyncio.ensure_future(backends[i % 2].prepare(SPEC)) for i in range(8)]
    await _until(fake_import.entered.is_set)
    await asyncio.sleep(0.1)  # room for a second import to start, if one would
    fake_import.release.set()
    caps = await asyncio.wait_for(asyncio.gather(*calls), 30)
    assert len(caps) == 8
    assert fake_import.calls == 1
    assert fake_import.threads == ["promptlsp-litellm-import"]


async def test_first_calls_leave_the_default_executor_free(fake_import) -> None:
    calls = [asyncio.ensure_future(LiteLLMBackend().prepare(SPEC)) for _ in range(DEFAULT_WORKERS + 2)]
    await _until(fake_import.entered.is_set)
    await asyncio.sleep(0.1)
    # other blocking work still gets a worker while litellm loads
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "ran"), 10) == "ran"
    assert not fake_import.release.is_set()
    fake_import.release.set()
    await asyncio.wait_for(asyncio.gather(*calls), 30)


async def test_a_cancelled_first_call_leaves_the_import_to_the_others(fake_import) -> None:
    backend = LiteLLMBackend()
    first = asyncio.ensure_future(backend.prepare(SPEC))
    await _until(fake_import.entered.is_set)
    second = asyncio.ensure_future(LiteLLMBackend().prepare(SPEC))
    first.cancel()
    await asyncio.sleep(0.05)
    fake_import.release.set()
    await asyncio.wait_for(second, 30)
    assert fake_import.calls == 1
    await asyncio.wait_for(backend.prepare(SPEC), 30)  # the cancelled one's backend: no new import
    assert fake_import.calls == 1


async def test_a_failed_import_is_tried_again_by_the_next_call(fake_import) -> None:
    fake_import.failures = 1
    fake_import.release.set()
    with pytest.raises(ImportError):
        await asyncio.wait_for(LiteLLMBackend().prepare(SPEC), 30)
    await asyncio.wait_for(LiteLLMBackend().prepare(SPEC), 30)
    assert fake_import.calls == 2


def test_token_counts_use_litellm_only_once_its_tokenizer_is_loaded(monkeypatch) -> None:
    """Until the loading thread hands over litellm's counter, counts are the heuristic — even
    with litellm (partly) imported — so no caller loads the tokenizer on its own thread."""
    monkeypatch.setattr(estimate, "_litellm_counter", None)
    spec = ModelSpec(model="gpt-4o-mini")
    assert estimate.count_tokens(spec, "x" * 40) == 10
    seen = []
    estimate.use_litellm_counter(lambda **kw: seen.append(kw) or 3)
    assert estimate.count_tokens(spec, "x" * 40) == 3
    assert seen == [{"model": "gpt-4o-mini", "text": "x" * 40}]
