"""Inline results over stdio: promptlsp/runExample (by id, by position, as a command; refused,
cancelled), the inlay hints it leaves after each example (only the range asked for, stale when
the example or prompt changed, resolved to the whole output and each check's reason), the refresh
the server asks for, and the server's code lenses — on a CRLF file with emoji and CJK text,
against the loopback stub model."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from lsp_support import STUB_CONFIG, plain, session_fixture
from promptlsp.runs import RunStore
from promptlsp.testing.openai_stub import StubServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from stub_model import review_lines  # noqa: E402

def u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _count_refreshes(client: LanguageClient, _root: Path) -> None:
    client.refreshes = 0  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def refreshed(_params):
        client.refreshes += 1  # type: ignore[attr-defined]


client = session_fixture(types.ClientCapabilities(
    window=types.WindowClientCapabilities(work_done_progress=True),
    workspace=types.WorkspaceClientCapabilities(inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True))),
    config=STUB_CONFIG, before=_count_refreshes)


def _open(client: LanguageClient, text: str, name: str = "review.prompt.toml") -> str:
    path = client.root / name  # type: ignore[attr-defined]
    path.write_bytes(text.encode("utf-8"))
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="prompt-toml", version=1, text=text)))
    return uri


def _file(client: LanguageClient, stub: StubServer) -> tuple[str, list[str]]:
    found = review_lines(stub.url)
    return _open(client, "\r\n".join(found) + "\r\n"), found


async def _run(client: LanguageClient, params: dict, msg_id: str | None = None) -> dict:
    return plain(await client.protocol.send_request_async("promptlsp/runExample", params, msg_id=msg_id))


async def _hints(client: LanguageClient, uri: str, first: int = 0, last: int = 40) -> list[types.InlayHint]:
    found = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=first, character=0), end=types.Position(line=last, character=0))))
    return list(found or [])


def _edit(client: LanguageClient, uri: str, version: int, line: int, start: int, end: int, text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=line, character=start),
                              end=types.Position(line=line, character=end)), text=text)]))


async def test_run_an_example_at_a_position_then_its_hint_and_tooltip(client: LanguageClient, stub: StubServer):
    uri, text = _file(client, stub)
    assert await _hints(client, uri) == []  # a store with no runs: no hints
    # the cursor after the emoji in the vars line of the first example (UTF-16 column)
    column = u16(text[12][: text[12].index("😀") + 1])
    done = await _run(client, {"uri": uri, "position": {"line": 12, "character": column}})
    assert done["exampleId"] == "良い😀"
    result = done["result"]
    assert (result["output"], result["score"], result["passed"], result["cached"]) == ("positive", 1.0, True, False)
    (run,) = RunStore(client.root / ".promptlsp" / "runs.sqlite").runs()  # type: ignore[attr-defined]
    assert (run.id, run.method, run.status) == (done["runId"], "example", "finished")
    assert stub.stats.requests == 1
    await asyncio.sleep(0.3)
    assert client.refreshes >= 1  # type: ignore[attr-defined]

    (hint,) = await _hints(client, uri)
    assert hint.label == "✓ 1.00 · positive"
    assert hint.position == types.Position(line=11, character=u16(text[11]))  # after id = "良い😀"
    resolved = await client.inlay_hint_resolve_async(hint)
    tip = resolved.tooltip.value
    assert "positive" in tip and "label 😀" in tip and "良い😀" in tip and "Stale" not in tip
    # the same again is answered from the engine's cache
    again = await _run(client, {"uri": uri, "example": "良い😀"})
    assert again["result"]["cached"] is True and stub.stats.requests == 1


async def test_hints_of_the_range_asked_for_only_and_an_example_without_an_id(client: LanguageClient,
                                                                               stub: StubServer):
    uri, text = _file(client, stub)
    for example in ("悪い", "#3"):
        await _run(client, {"uri": uri, "example": example})
    hints = await _hints(client, uri)
    assert [(h.position.line, h.label) for h in hints] == [(15, "✗ 0.00 · negative"), (18, "✓ 1.00 · neutral")]
    assert hints[1].position.character == u16(text[18])  # the end of the header line, past its comment
    assert [h.position.line for h in await _hints(client, uri, 16, 19)] == [18]
    assert await _hints(client, uri, 0, 14) == []
    tip = (await client.inlay_hint_resolve_async(hints[0])).tooltip.value
    assert "negative" in tip and "✗ label 😀" in tip  # the failed check with its reason


async def test_a_result_turns_stale_when_its_example_or_the_prompt_changes(client: LanguageClient, stub: StubServer):
    uri, text = _file(client, stub)
    await _run(client, {"uri": uri, "example": "悪い"})
    assert [h.label for h in await _hints(client, uri)] == ["✗ 0.00 · negative"]
    start = text[16].index("awful")
    _edit(client, uri, 2, 16, start, start + len("awful"), "great")  # the vars changed
    (hint,) = await _hints(client, uri)
    assert hint.label == "✗ 0.00 · negative (stale)"
    assert "this example" in (await client.inlay_hint_resolve_async(hint)).tooltip.value
    _edit(client, uri, 3, 16, start, start + len("great"), "awful")  # back as it was: current again
    assert [h.label for h in await _hints(client, uri)] == ["✗ 0.00 · negative"]
    _edit(client, uri, 4, 2, u16(text[2]) - 1, u16(text[2]) - 1, "!")  # the template changed
    (hint,) = await _hints(client, uri)
    assert hint.label.endswith("(stale)")
    assert "the prompt changed" in (await client.inlay_hint_resolve_async(hint)).tooltip.value


async def test_evaluate_records_every_example_for_the_hints(client: LanguageClient, stub: StubServer):
    uri, _text = _file(client, stub)
    report = plain(await client.protocol.send_request_async("promptlsp/evaluate", {"uri": uri}))
    assert report["runId"].startswith("evaluate-")
    assert [h.position.line for h in await _hints(client, uri)] == [11, 15, 18]


async def test_refusals_and_a_cancelled_run(client: LanguageClient, stub: StubServer):
    uri, _text = _file(client, stub)
    with pytest.raises(JsonRpcException, match="no example with id 'nope'"):
        await _run(client, {"uri": uri, "example": "nope"})
    with pytest.raises(JsonRpcException, match="no example at line 1"):
        await _run(client, {"uri": uri, "position": {"line": 0, "character": 3}})
    with pytest.raises(JsonRpcException, match="'example'"):
        await _run(client, {"uri": uri})
    stub.latency = 5.0
    msg_id = str(uuid.uuid4())
    pending = asyncio.ensure_future(_run(client, {"uri": uri, "example": "悪い"}, msg_id=msg_id))
    assert await stub.until(lambda s: s.requests >= 1, timeout=90)  # the first call imports litellm
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(pending, 10)
    (run,) = RunStore(client.root / ".promptlsp" / "runs.sqlite").runs()  # type: ignore[attr-defined]
    assert run.status == "cancelled"


async def test_code_lenses_resolved_and_their_command(client: LanguageClient, stub: StubServer):
    uri, text = _file(client, stub)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    # the example lenses come without their command (5,000 of them are cheap), resolved when shown
    assert [lens.command is None for lens in lenses] == [False, False, True, True, True]
    lenses = [await client.code_lens_resolve_async(lens) if lens.command is None else lens for lens in lenses]
    seen = [(lens.range.start.line, lens.command.title, lens.command.command) for lens in lenses]
    assert seen == [(2, "Evaluate", "promptlsp.evaluate"), (2, "Optimize", "promptlsp.optimize"),
                    (10, "Run example", "promptlsp.evaluateExample"), (14, "Run example", "promptlsp.evaluateExample"),
                    (18, "Run example", "promptlsp.evaluateExample")]
    assert [(lens.range.start.character, lens.range.end.character) for lens in lenses[2:]] == [(0, 0)] * 3
    assert plain(lenses[0].command.arguments) == [{"uri": uri}]
    arguments = plain(lenses[3].command.arguments)
    assert arguments == [{"uri": uri, "example": "悪い"}]
    done = plain(await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="promptlsp.evaluateExample", arguments=arguments)))
    assert done["exampleId"] == "悪い" and done["result"]["output"] == "negative"


async def test_a_half_typed_file_gets_sane_lenses_and_no_hints(client: LanguageClient, stub: StubServer):
    uri, text = _file(client, stub)
    await _run(client, {"uri": uri, "example": "良い😀"})
    _edit(client, uri, 2, 16, 0, 0, 'vars = { review = "half')  # a string never closed
    assert await _hints(client, uri) == []
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    # the blocks that still read keep their lenses: the prompt's and the example with an id (the
    # one without is left out: which #n it is cannot be told while a table before it does not read)
    assert [(lens.range.start.line, lens.command.title if lens.command else lens.data[1]) for lens in lenses] == [
        (2, "Evaluate"), (2, "Optimize"), (10, "良い😀")]
    with pytest.raises(JsonRpcException, match="fix them first"):
        await _run(client, {"uri": uri, "example": "良い😀"})
    broken = _open(client, "[[examples]\r\nid = 😀", name="broken.prompt.toml")
    assert await _hints(client, broken) == []
    assert not await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=broken)))
