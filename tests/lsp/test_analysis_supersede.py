"""Analyses of superseded versions do not pile up; requests for the running version share it.

``analyze`` is replaced by a fake that records each call and blocks until the test releases it,
so the counts do not depend on timing.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from promptlsp.lsp import analyses as lsp_analyses

TEXT = 'task = "t"\n[prompt]\ntemplate = "Hi {{ name }}"\n[[examples]]\nvars = { name = "Ann" }\n'


@pytest.fixture
def blocked_analyze(monkeypatch):
    """(calls, release): every analyze() call waits for ``release``; calls record (text, concurrency)."""
    release = threading.Event()
    calls: list[tuple[str, int]] = []
    lock = threading.Lock()
    active = [0]
    real = lsp_analyses.analyze

    def slow(text, path, root, previous=None):
        with lock:
            active[0] += 1
            calls.append((text, active[0]))
        try:
            assert release.wait(30), "the test never released the analysis"
            return real(text, path, root, previous)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(lsp_analyses, "analyze", slow)
    yield calls, release
    release.set()


async def _until(predicate, timeout: float = 20.0) -> None:
    async def poll():
        while not predicate():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


def _hover(server, uri: str) -> int:
    return server.request_nowait("textDocument/hover", {"textDocument": {"uri": uri},
                                                        "position": {"line": 2, "character": 2}})


async def test_rapid_changes_with_hovers_run_two_analyses_not_one_per_version(inprocess, blocked_analyze, tmp_path):
    calls, release = blocked_analyze
    server = inprocess(root_uri=tmp_path.as_uri(), pull=False)  # push: debounced validation as well
    uri = (tmp_path / "a.prompt.toml").as_uri()
    server.open(uri, TEXT)
    text, ids = TEXT, []
    for version in range(2, 12):
        server.change(uri, version, [server.edit((0, 0), (0, 0), "#\n")])
        text = "#\n" + text
        ids.append(_hover(server, uri))
        await asyncio.sleep(0.01)  # let the hover start (and block) its analysis
    await _until(lambda: len(calls) >= 1)
    release.set()
    await _until(lambda: all(any(m.get("id") == i for m in server.sent) for i in ids))
    await _until(lambda: any(m.get("method") == "textDocument/publishDiagnostics" for m in server.sent))
    await asyncio.sleep(0.3)  # nothing else may be published meanwhile

    assert [c[1] for c in calls] == [1] * len(calls), "analyses of one document ran at once"
    assert len(calls) <= 2 and calls[-1][0] == text
    published = [m["params"] for m in server.sent if m.get("method") == "textDocument/publishDiagnostics"]
    assert [p["version"] for p in published] == [11]
    assert server.ls.analyses.latest(uri)[0] == 11


async def test_hover_shares_the_running_analysis_of_its_version(inprocess, blocked_analyze, tmp_path):
    calls, release = blocked_analyze
    server = inprocess(root_uri=tmp_path.as_uri(), pull=False)
    uri = (tmp_path / "a.prompt.toml").as_uri()
    server.open(uri, TEXT)
    await _until(lambda: len(calls) == 1)  # the debounced validation is analysing version 1
    first = _hover(server, uri)
    second = _hover(server, uri)
    await asyncio.sleep(0.2)
    release.set()
    await _until(lambda: all(any(m.get("id") == i for m in server.sent) for i in (first, second)))
    assert len(calls) == 1
    hovers = [m for m in server.sent if m.get("id") in (first, second)]
    assert all("prompt.template" in m["result"]["contents"]["value"] for m in hovers)


async def test_a_superseded_result_is_not_cached(inprocess, blocked_analyze, tmp_path):
    calls, release = blocked_analyze
    server = inprocess(root_uri=tmp_path.as_uri())
    uri = (tmp_path / "a.prompt.toml").as_uri()
    server.open(uri, TEXT)
    pending = asyncio.ensure_future(server.ls.analyses.analyse(uri))
    await _until(lambda: len(calls) == 1)
    server.change(uri, 2, [server.edit((0, 0), (0, 0), "#\n")])
    release.set()
    analysis, version = await pending
    assert version == 1 and analysis.text == TEXT  # the caller gets what it asked for
    assert server.ls.analyses.latest(uri) is None  # but version 1 is not kept: the document is at 2
