"""End to end over stdio: promptlsp/optimize, evaluate, runs, candidates and the executeCommand
equivalents, against the real server process and the loopback stub model (real litellm path)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import pytest
import tomlkit
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from lsp_support import STUB_CONFIG, session_fixture
from lsp_support import plain as _plain
from promptlsp.runs import RunStore
from promptlsp.testing.openai_stub import StubServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from stub_model import GOOD_TEMPLATE  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "prompts-spec" / "examples" / "sentiment.prompt.toml"


client = session_fixture(types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
                         config=STUB_CONFIG)


def _write(client: LanguageClient, stub: StubServer, name: str = "sentiment.prompt.toml",
           concurrency: int | None = None) -> tuple[str, str, Path]:
    doc = tomlkit.parse(EXAMPLE.read_text(encoding="utf-8"))
    models = tomlkit.table()
    for role in ("task", "judge", "optimizer"):
        models[role] = {"model": "openai/stub", "api_base": stub.url, "api_key_env": "STUB_KEY", "seed": 7}
        if concurrency is not None:
            models[role]["concurrency"] = concurrency
    doc["models"] = models
    text = tomlkit.dumps(doc)
    path = client.root / name  # type: ignore[attr-defined]
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=text)))
    return uri, text, path


def _store(client: LanguageClient) -> RunStore:
    return RunStore(client.root / ".promptlsp" / "runs.sqlite")  # type: ignore[attr-defined]


async def _request(client: LanguageClient, method: str, params: dict, msg_id: str | None = None):
    return _plain(await client.protocol.send_request_async(method, params, msg_id=msg_id))


async def _command(client: LanguageClient, name: str, params: dict):
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=[params]))
    return _plain(result)


async def _until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _assert_calls_stop(stub: StubServer) -> None:
    """After a cancel, the stub's request counter stops growing within ~1 s."""
    await asyncio.sleep(1.0)
    settled = stub.stats.requests
    await asyncio.sleep(0.8)
    assert stub.stats.requests == settled, "model calls went on after the cancel"


async def _status(client: LanguageClient, expected: str, timeout: float = 5.0) -> None:
    def done():
        runs = _store(client).runs()
        return bool(runs) and runs[0].status == expected
    await _until(done, timeout)


async def test_optimize_returns_the_summary_with_progress(client: LanguageClient, stub: StubServer):
    uri, _text, _path = _write(client, stub)
    summary = await _request(client, "promptlsp/optimize", {"uri": uri, "version": 1, "iterations": 1})
    assert summary["status"] == "finished"
    assert summary["initialScore"] == 0.0 and summary["bestScore"] == 1.0
    assert summary["best"]["template"] == GOOD_TEMPLATE
    assert summary["candidates"] and summary["candidates"][0]["template"] == GOOD_TEMPLATE  # best first
    assert summary["accounting"]["total"]["calls"] > 0
    # one fresh token whose begin carries the estimate, a report per iteration, an end with the outcome
    (reports,) = [r for r in client.progress_reports.values() if r and isinstance(r[0], types.WorkDoneProgressBegin)
                  and "Optimizing" in r[0].title]
    assert "at most" in reports[0].message and "calls" in reports[0].message
    assert any(isinstance(r, types.WorkDoneProgressReport) and r.message.startswith("iteration 1/1") for r in reports)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd) and reports[-1].message.startswith("finished")
    assert any("estimate:" in m.message for m in client.log_messages)
    (run,) = _store(client).runs()
    assert run.id == summary["runId"] and run.status == "finished"


async def test_the_optimize_result_carries_the_proposal(client: LanguageClient, stub: StubServer):
    """The best candidate as the edit of the document's version: the first "Apply rewritten
    prompt" code action's, with its candidate id and scores."""
    uri, text, _path = _write(client, stub)
    summary = await _request(client, "promptlsp/optimize", {"uri": uri, "version": 1, "iterations": 1})
    proposal = summary["proposal"]
    assert (proposal["uri"], proposal["version"], proposal["withdrawn"]) == (uri, 1, None)
    assert proposal["candidateId"] == summary["candidates"][0]["candidateId"]
    assert (proposal["initialScore"], proposal["bestScore"], proposal["scoredOn"]) == (0.0, 1.0, "validation")
    (change,) = proposal["edit"]["documentChanges"]
    assert change["textDocument"] == {"uri": uri, "version": 1}
    assert any(GOOD_TEMPLATE in edit["newText"] for edit in change["edits"])
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(0, 0), end=types.Position(len(text.split("\n")), 0)),
        context=types.CodeActionContext(diagnostics=[])))
    action = _plain(client.protocol._converter.unstructure(actions[0].edit))
    assert action["documentChanges"] == proposal["edit"]["documentChanges"]
    # (pygls's client reads the annotation id, not an identifier, as the namedtuple field "_0")
    assert list(action["changeAnnotations"].values()) == list(proposal["edit"]["changeAnnotations"].values())


async def test_bad_params_are_invalid_params_and_the_server_lives_on(client: LanguageClient, stub: StubServer):
    uri, _text, _path = _write(client, stub)
    bad = (
        ("promptlsp/optimize", {"uri": uri, "version": "1"}, "expected an integer, got string '1' @ params.version"),
        ("promptlsp/estimate", {"uri": uri, "iterations": -2}, "'iterations' must be a non-negative integer, got -2"),
        ("promptlsp/evaluate", {"uri": uri, "split": 5}, "expected a string, got number 5 @ params.split"),
        ("promptlsp/evaluate", {"uri": uri, "critique": "yes"}, "expected a boolean, got string 'yes' @ params.critique"),
        ("promptlsp/candidates", {"uri": uri, "runId": 5}, "expected a string, got number 5 @ params.runId"),
        ("promptlsp/runs", {"file": uri}, "required field missing @ params.uri"),
        ("promptlsp/runExample", {"uri": uri, "position": {"line": 1}}, "required field missing @ params.position.character"),
        ("promptlsp/optimize", {"uri": uri, "workDoneToken": {"a": 1}}, "expected a number or a string"),
    )
    for method, params, message in bad:
        with pytest.raises(JsonRpcException) as caught:
            await _request(client, method, params)
        assert caught.value.code == -32602 and f"invalid params for {method}: {message}" in caught.value.message
    with pytest.raises(JsonRpcException) as caught:  # a command's argument is read the same way
        await _command(client, "promptlsp.cancel", {"runId": ["x"]})
    assert caught.value.code == -32602 and "@ params.runId" in caught.value.message
    assert stub.stats.requests == 0 and await _request(client, "promptlsp/runs", {"uri": uri}) == []


async def test_over_budget_is_refused_naming_the_limit(client: LanguageClient, stub: StubServer):
    uri, _text, _path = _write(client, stub)
    with pytest.raises(JsonRpcException) as caught:
        await _request(client, "promptlsp/optimize", {"uri": uri, "budgetCalls": 1})
    assert "max_calls" in caught.value.message and "the limit 1" in caught.value.message
    assert stub.stats.requests == 0
    assert _store(client).runs() == []
    # a stale version is refused too, and the server is still alive
    with pytest.raises(JsonRpcException) as caught:
        await _request(client, "promptlsp/optimize", {"uri": uri, "version": 7})
    assert "version" in caught.value.message
    with pytest.raises(JsonRpcException):
        await _request(client, "promptlsp/optimize", {"nonsense": True})


async def test_estimate_says_when_max_usd_cannot_be_enforced(client: LanguageClient, stub: StubServer):
    uri, text, path = _write(client, stub)
    doc = tomlkit.parse(text)
    doc["optimize"]["budget"]["max_usd"] = 0.5  # litellm has no price for openai/stub
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    estimate = await _request(client, "promptlsp/estimate", {"uri": uri})
    assert "max_usd = 0.5 cannot be enforced: litellm has no price for openai/stub" in estimate["summary"]
    assert "unknown (no price for openai/stub)" in estimate["summary"]
    assert stub.stats.requests == 0


async def test_cancel_request_stops_the_run(client: LanguageClient, stub: StubServer):
    stub.latency = 0.5
    uri, _text, _path = _write(client, stub)
    msg_id = str(uuid.uuid4())
    pending = asyncio.ensure_future(_request(client, "promptlsp/optimize", {"uri": uri}, msg_id=msg_id))
    assert await stub.until(lambda s: s.requests >= 3, timeout=20)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(pending, 5)
    await _assert_calls_stop(stub)
    await _status(client, "cancelled")


async def test_progress_cancel_stops_the_run(client: LanguageClient, stub: StubServer):
    stub.latency = 0.5
    uri, _text, _path = _write(client, stub)
    pending = asyncio.ensure_future(_request(client, "promptlsp/optimize", {"uri": uri}))
    assert await stub.until(lambda s: s.requests >= 3, timeout=20)
    (token,) = list(client.progress_reports)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    summary = await asyncio.wait_for(pending, 5)
    assert summary["status"] == "cancelled"
    await _assert_calls_stop(stub)
    await _status(client, "cancelled")


async def test_hover_answers_while_an_optimization_runs(client: LanguageClient, stub: StubServer):
    stub.latency = 0.5
    uri, text, _path = _write(client, stub)
    pending = asyncio.ensure_future(_request(client, "promptlsp/optimize", {"uri": uri}))
    assert await stub.until(lambda s: s.requests >= 2, timeout=20)
    lines = text.split("\n")
    line = next(i for i, l in enumerate(lines) if l.startswith("iterations"))
    started = time.monotonic()
    hover = await asyncio.wait_for(client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=2))), 2)
    assert time.monotonic() - started < 1.0
    assert hover is not None and "iteration" in hover.contents.value.lower()
    assert not pending.done(), "the optimization should still be running"
    assert (await _command(client, "promptlsp.cancel", {"uri": uri}))["cancelled"]
    assert (await asyncio.wait_for(pending, 5))["status"] == "cancelled"


async def test_execute_command_optimize_and_cancel(client: LanguageClient, stub: StubServer):
    stub.latency = 0.5
    uri, _text, _path = _write(client, stub)
    pending = asyncio.ensure_future(_command(client, "promptlsp.optimize", {"uri": uri}))
    assert await stub.until(lambda s: s.requests >= 3, timeout=20)
    (run,) = _store(client).runs()
    cancelled = await _command(client, "promptlsp.cancel", {"runId": run.id})
    assert cancelled == {"cancelled": [run.id]}
    summary = await asyncio.wait_for(pending, 5)
    assert summary["status"] == "cancelled" and summary["runId"] == run.id
    await _assert_calls_stop(stub)
    await _status(client, "cancelled")
    assert (await _command(client, "promptlsp.cancel", {"uri": uri})) == {"cancelled": []}


async def test_runs_candidates_and_evaluate_after_a_run(client: LanguageClient, stub: StubServer):
    uri, _text, _path = _write(client, stub)
    with pytest.raises(JsonRpcException) as caught:
        await _request(client, "promptlsp/candidates", {"uri": uri})
    assert "no recorded runs" in caught.value.message
    first = await _command(client, "promptlsp.optimize", {"uri": uri, "iterations": 1})
    second = await _request(client, "promptlsp/optimize", {"uri": uri, "iterations": 1, "method": "tgd"})
    runs = await _request(client, "promptlsp/runs", {"uri": uri})
    assert [r["id"] for r in runs] == [second["runId"], first["runId"]]  # newest first
    assert runs[0]["method"] == "tgd" and runs[1]["status"] == "finished"
    assert (await _command(client, "promptlsp.runs", {"uri": uri})) == runs

    latest = await _request(client, "promptlsp/candidates", {"uri": uri})
    assert latest["runId"] == second["runId"]
    older = await _command(client, "promptlsp.candidates", {"uri": uri, "runId": first["runId"]})
    scores = [c["validationScore"] for c in older["candidates"] if c["validationScore"] is not None]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0
    assert older["candidates"][0]["template"] == GOOD_TEMPLATE

    report = await _request(client, "promptlsp/evaluate", {"uri": uri, "split": "validation"})
    assert report["score"] == 0.0 and len(report["examples"]) == 4


async def test_run_report_is_the_clis_page(client: LanguageClient, stub: StubServer):
    uri, _text, _path = _write(client, stub)
    first = await _request(client, "promptlsp/optimize", {"uri": uri, "iterations": 1})
    report = await _request(client, "promptlsp/runReport", {"uri": uri, "runId": first["runId"][:8]})
    assert report["runId"] == first["runId"]
    assert report["html"].startswith("<!DOCTYPE html>") and "<svg" in report["html"] and "<script" not in report["html"]
    assert (await _command(client, "promptlsp.runReport", {"uri": uri, "runId": first["runId"]}))["runId"] == first["runId"]
    for params, message in (({"uri": uri, "runId": "zz"}, "no run 'zz'"), ({"uri": uri}, "required field missing @ params.runId")):
        with pytest.raises(JsonRpcException) as caught:
            await _request(client, "promptlsp/runReport", params)
        assert message in caught.value.message


SETTINGS_FILE = """task = "Classify the sentiment of a product review."
[prompt]
template = "Review: {{ review }}\\nWhat is the sentiment?"
[[criteria]]
type = "equals"
[[examples]]
vars = { review = "I love it" }
expected = "positive"
split = "validation"
[[examples]]
vars = { review = "Awful smell" }
expected = "negative"
split = "validation"
[[examples]]
vars = { review = "Broke in a day" }
expected = "negative"
"""


def _stub_settings(request: pytest.FixtureRequest) -> dict:
    """initializationOptions naming the model (the file has no [models]) and a budget."""
    stub = request.getfixturevalue("stub")
    return {"promptlsp": {"models": {"task": "openai/stub"}, "apiBase": stub.url, "apiKeyEnv": "STUB_KEY",
                          "budget": {"maxCalls": 1}}}


configured = session_fixture(config=STUB_CONFIG, init_options=_stub_settings)


async def test_settings_apply_and_change_without_a_restart(configured: LanguageClient, stub: StubServer):
    client = configured
    path = client.root / "plain.prompt.toml"  # type: ignore[attr-defined]
    path.write_text(SETTINGS_FILE, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=SETTINGS_FILE)))
    # the editor's budget caps every run
    with pytest.raises(JsonRpcException) as caught:
        await _request(client, "promptlsp/optimize", {"uri": uri})
    assert "max_calls" in caught.value.message and "the limit 1" in caught.value.message
    # the editor's model (and api base, key variable) serve a file without [models]
    report = await _request(client, "promptlsp/evaluate", {"uri": uri})
    assert stub.stats.requests >= 3 and len(report["examples"]) == 3
    # a new budget takes effect without a restart
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"promptlsp": {"models": {"task": "openai/stub"}, "apiBase": stub.url, "apiKeyEnv": "STUB_KEY",
                                "budget": {"maxCalls": 500}, "iterations": 1}}))
    summary = await _request(client, "promptlsp/optimize", {"uri": uri})
    assert summary["status"] == "finished" and summary["bestScore"] == 1.0


async def test_critiques_of_a_finished_run_are_published_on_the_open_document(client: LanguageClient, stub: StubServer):
    uri, text, _path = _write(client, stub)
    await _request(client, "promptlsp/optimize", {"uri": uri, "iterations": 1})

    def critiques():
        return [d for d in client.diagnostics.get(uri, ()) if d.source == "promptlsp-critique"]

    await _until(lambda: bool(critiques()))
    (found,) = critiques()
    line = text.split("\n")[found.range.start.line]
    assert line[found.range.start.character:found.range.end.character] == "What is the sentiment?"


async def test_several_files_optimize_at_once_under_one_limit(client: LanguageClient, stub: StubServer):
    first, _, _ = _write(client, stub, "a.prompt.toml", concurrency=4)
    second, _, _ = _write(client, stub, "b.prompt.toml", concurrency=4)
    stub.latency = 0.05  # long enough for the two runs to overlap
    results = await asyncio.gather(
        _request(client, "promptlsp/optimize", {"uri": first, "iterations": 1}),
        _request(client, "promptlsp/optimize", {"uri": second, "iterations": 1}),
    )
    assert [r["status"] for r in results] == ["finished", "finished"]
    assert results[0]["runId"] != results[1]["runId"]
    runs = _store(client).runs()
    assert len({run.file for run in runs}) == 2
    a, b = runs
    assert a.started_at < b.ended_at and b.started_at < a.ended_at  # the two runs overlapped
    assert stub.stats.max_in_flight <= 4  # yet the per-model limit (both files say 4) held


async def test_evaluate_with_critiques_publishes_them(client: LanguageClient, stub: StubServer):
    uri, text, _path = _write(client, stub)
    summary = await _request(client, "promptlsp/evaluate", {"uri": uri, "critique": True})
    assert summary["status"] == "finished" and summary["best"]["template"] == tomlkit.parse(text)["prompt"]["template"]
    (run,) = _store(client).runs()
    assert run.method == "critique" and run.best_score == run.initial_score

    def critiques():
        return [d for d in client.diagnostics.get(uri, ()) if d.source == "promptlsp-critique"]

    await _until(lambda: bool(critiques()))
    line = text.split("\n")[critiques()[0].range.start.line]
    found = critiques()[0].range
    assert line[found.start.character:found.end.character] == "What is the sentiment?"
    # the summary carries the per-example results of the critic's evaluation (for a results view)
    examples = summary["examples"]
    scores = [e["score"] for e in examples if e["score"] is not None]
    assert summary["score"] == pytest.approx(sum(scores) / len(scores))  # over the rows it returns
    assert len(examples) == len({e["exampleId"] for e in examples}) > 0  # one row per example
    assert all(e["split"] != "test" for e in examples)
    first = examples[0]
    assert first["vars"].get("review") and first["output"] and first["checks"]
    assert first["checks"][0]["reason"] and first["score"] == 0.0 and first["passed"] is False
    begin = next(r[0] for r in client.progress_reports.values() if "Critiquing" in r[0].title)
    assert begin.message.startswith("critique on ") and "iterations" not in begin.message  # one evaluation


async def test_estimate_without_running(client: LanguageClient, stub: StubServer):
    uri, _text, _path = _write(client, stub)
    estimate = await _request(client, "promptlsp/estimate", {"uri": uri, "version": 1, "iterations": 2})
    assert estimate["method"] == "gradsum" and estimate["iterations"] == 2
    assert estimate["calls"] > 0 and estimate["tokens"] > 0 and estimate["overBudget"] is None
    assert "at most" in estimate["summary"]
    tighter = await _command(client, "promptlsp.estimate", {"uri": uri, "budgetCalls": 1})
    assert "max_calls" in tighter["overBudget"] and "the limit 1" in tighter["overBudget"]
    more = await _request(client, "promptlsp/estimate", {"uri": uri, "iterations": 4})
    assert more["calls"] > estimate["calls"]
    assert stub.stats.requests == 0 and _store(client).runs() == []  # nothing ran
    with pytest.raises(JsonRpcException) as caught:  # bad input: an answer, not a crash
        await _request(client, "promptlsp/estimate", {"uri": uri, "method": "annealing"})
    assert "annealing" in caught.value.message


async def test_progress_on_the_clients_own_token_and_its_cancel(client: LanguageClient, stub: StubServer):
    uri, _text, _path = _write(client, stub)
    token = f"client-{uuid.uuid4()}"
    summary = await _request(client, "promptlsp/optimize", {"uri": uri, "iterations": 1, "workDoneToken": token})
    assert summary["status"] == "finished"
    assert list(client.progress_reports) == [token]  # the server created no token of its own
    reports = client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
    assert any(isinstance(r, types.WorkDoneProgressReport) and r.message.startswith("iteration 1/1") for r in reports)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    # cancelling the client's token stops a run too
    stub.latency = 0.5
    second = f"client-{uuid.uuid4()}"
    pending = asyncio.ensure_future(_request(client, "promptlsp/optimize", {"uri": uri, "iterations": 3, "workDoneToken": second}))
    await _until(lambda: second in client.progress_reports)
    assert await stub.until(lambda s: s.requests >= summary["accounting"]["total"]["calls"] + 3, timeout=20)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=second))
    assert (await asyncio.wait_for(pending, 5))["status"] == "cancelled"
    await _assert_calls_stop(stub)


async def test_critic_run_whose_every_call_fails_reports_no_score(client: LanguageClient, stub: StubServer):
    """Bad answers everywhere: the critic run still answers, each example says why it has no score."""
    stub.add_rule(fault="bad_request", times=10_000)
    uri, _text, _path = _write(client, stub)
    summary = await _request(client, "promptlsp/evaluate", {"uri": uri, "critique": True})
    assert summary["score"] is None
    assert summary["examples"] and all(e["score"] is None and e["error"] for e in summary["examples"])
