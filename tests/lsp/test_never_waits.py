"""The server never makes a request wait on litellm, and an edit is analysed once, at once.

* Hovers are answered while litellm is loading: the import (replaced by a fake that blocks until
  the test releases it) is started by more concurrent first model calls than asyncio's default
  executor has workers — the server's own work does not queue behind them.
* An edit after a pause is analysed at once; an edit within ``DEBOUNCE_SECONDS`` of the previous
  one (a burst) waits until the edits pause. The server's clock is replaced, and the debounce
  made an hour long, so nothing here depends on timing: a debounced validation never runs.
* A hover after an edit reuses the analysis that edit started (one analysis per version).
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading

import pytest

from promptlsp.engine import ModelSpec
from promptlsp.engine import litellm_backend
from promptlsp.lsp import analyses as lsp_analyses
from promptlsp.lsp import diagnostics as lsp_diagnostics

TEXT = 'task = "t"\n[prompt]\ntemplate = "Hi {{ name }}"\n[[examples]]\nvars = { name = "Ann" }\n'
HOVER_TEMPLATE = {"line": 2, "character": 2}  # on the key "template"
DEFAULT_WORKERS = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default executor


async def _until(predicate, timeout: float = 10.0) -> None:
    async def poll():
        while not predicate():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


def _hover_params(uri: str) -> dict:
    return {"textDocument": {"uri": uri}, "position": HOVER_TEMPLATE}


def _published(server, uri: str) -> list[int]:
    return [m["params"].get("version") for m in server.sent
            if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri]


@pytest.fixture
def blocking_import(monkeypatch):
    """litellm's import replaced by one that blocks until ``release`` is set, then fails."""
    entered, release = threading.Event(), threading.Event()

    def fake():
        entered.set()
        assert release.wait(60), "the test never released the import"
        raise ImportError("litellm is not loaded in this test")

    monkeypatch.setattr(litellm_backend, "_import_litellm", fake)
    monkeypatch.setattr(litellm_backend, "_loading", None, raising=False)
    yield entered, release
    release.set()


async def test_hovers_are_answered_while_litellm_is_loading(inprocess, blocking_import, tmp_path):
    entered, release = blocking_import
    server = inprocess(root_uri=tmp_path.as_uri())
    uri = (tmp_path / "a.prompt.toml").as_uri()
    server.open(uri, TEXT)
    session = server.ls.runs.engine(tmp_path).session()
    spec = ModelSpec(model="openai/never-called", api_base="http://127.0.0.1:9", timeout=5)
    first_calls = [asyncio.ensure_future(session.complete(spec, f"question {i}")) for i in range(DEFAULT_WORKERS + 2)]
    try:
        await _until(entered.is_set)
        await asyncio.sleep(0.1)  # every first call is waiting for litellm now
        for _ in range(3):
            answer = await server.request("textDocument/hover", _hover_params(uri), timeout=15)
            assert "prompt.template" in answer["result"]["contents"]["value"]
        assert not release.is_set() and not any(call.done() for call in first_calls)  # still loading
    finally:
        release.set()
        results = await asyncio.wait_for(asyncio.gather(*first_calls, return_exceptions=True), 30)
    assert all(not r.ok for r in results)  # the fake import failed every call, cleanly


@pytest.fixture
def counted_analyze(monkeypatch):
    """(calls per text, gate): analyze() counts its calls and waits while ``gate`` is clear."""
    calls: collections.Counter[str] = collections.Counter()
    gate = threading.Event()
    gate.set()
    real = lsp_analyses.analyze

    def counting(text, path, root, previous=None):
        calls[text] += 1
        assert gate.wait(30), "the test never opened the gate"
        return real(text, path, root, previous)

    monkeypatch.setattr(lsp_analyses, "analyze", counting)
    monkeypatch.setattr(lsp_diagnostics, "DEBOUNCE_SECONDS", 3600.0)  # a debounced validation never runs
    yield calls, gate
    gate.set()


def _clocked(server) -> list[float]:
    now = [1000.0]
    server.ls.clock = lambda: now[0]
    return now


async def test_the_first_edit_after_a_pause_is_analysed_at_once_a_burst_waits(inprocess, counted_analyze, tmp_path):
    calls, _gate = counted_analyze
    server = inprocess(root_uri=tmp_path.as_uri(), pull=False)
    now = _clocked(server)
    uri = (tmp_path / "a.prompt.toml").as_uri()
    server.open(uri, TEXT)
    await _until(lambda: _published(server, uri) == [1])  # an open is analysed at once too

    server.change(uri, 2, [server.edit((0, 0), (0, 0), "#")])  # the first edit: at once
    await _until(lambda: _published(server, uri) == [1, 2])
    now[0] += 0.01
    server.change(uri, 3, [server.edit((0, 1), (0, 1), "#")])  # 10 ms later: a burst, debounced
    now[0] += 0.01
    server.change(uri, 4, [server.edit((0, 2), (0, 2), "#")])
    await asyncio.sleep(0.3)
    assert _published(server, uri) == [1, 2]
    assert calls["##" + TEXT] == 0 and calls["###" + TEXT] == 0  # nothing analysed mid-burst

    now[0] += 7200.0  # a pause (longer than the debounce)
    server.change(uri, 5, [server.edit((0, 3), (0, 3), "#")])
    await _until(lambda: 5 in _published(server, uri))
    assert _published(server, uri) == [1, 2, 5], _published(server, uri)
    assert calls["####" + TEXT] == 1 and calls["###" + TEXT] == 0


async def test_a_hover_after_an_edit_reuses_the_analysis_the_edit_started(inprocess, counted_analyze, tmp_path):
    calls, gate = counted_analyze
    server = inprocess(root_uri=tmp_path.as_uri(), pull=False)
    _clocked(server)
    uri = (tmp_path / "a.prompt.toml").as_uri()
    server.open(uri, TEXT)
    await _until(lambda: _published(server, uri) == [1])
    gate.clear()  # analyses now wait for the test
    server.change(uri, 2, [server.edit((0, 0), (0, 0), "#")])
    edited = "#" + TEXT
    await _until(lambda: calls[edited] == 1)  # started by the edit, before any hover
    hovers = [server.request_nowait("textDocument/hover", _hover_params(uri)) for _ in range(3)]
    await asyncio.sleep(0.1)
    gate.set()
    await _until(lambda: all(any(m.get("id") == i for m in server.sent) for i in hovers))
    await _until(lambda: _published(server, uri) == [1, 2])
    answers = [m for m in server.sent if m.get("id") in hovers]
    assert all("prompt.template" in m["result"]["contents"]["value"] for m in answers)
    assert calls[edited] == 1  # one analysis of version 2, shared by the validation and the hovers
    again = await server.request("textDocument/hover", _hover_params(uri))
    assert "prompt.template" in again["result"]["contents"]["value"] and calls[edited] == 1
