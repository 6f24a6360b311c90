"""The server holds exactly the text the client holds (LSP line rules, all position encodings).

LSP lines end only at ``\\n``, ``\\r\\n`` and ``\\r`` — not at U+2028, U+2029, U+0085, ``\\x0b``,
``\\x0c``, ``\\x1c``–``\\x1e`` as ``str.splitlines`` has it; a character past a line's end is the
line's end; a line past the last line is the end of the document.
"""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import session_fixture

from promptlsp.document.edit import rewrite_prompt
from promptlsp.optimize.events import CandidateProposed, CandidateScored, PromptText, RunFinished, RunStarted
from promptlsp.runs.store import RunStore

ENCODINGS = ["utf-16", "utf-8", "utf-32"]
URI = "file:///tmp/sync/a.prompt.toml"

# -- an independent reference model of LSP document sync -------------------------------------


def ref_lines(text: str) -> list[tuple[str, str]]:
    """(content, line break) of each line; breaks are \\r\\n, \\r, \\n and nothing else."""
    lines, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\r" and text[i + 1:i + 2] == "\n":
            lines.append((text[start:i], "\r\n"))
            i += 2
            start = i
        elif text[i] in "\r\n":
            lines.append((text[start:i], text[i]))
            i += 1
            start = i
        else:
            i += 1
    lines.append((text[start:], ""))
    return lines


def units(ch: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(ch.encode("utf-8"))
    if encoding == "utf-16":
        return len(ch.encode("utf-16-le")) // 2
    return 1


def ref_offset(text: str, line: int, character: int, encoding: str) -> int:
    """Index into ``text`` of an LSP position (past the line end: the line end; a position
    inside a character: that character's start; past the last line: the end)."""
    lines = ref_lines(text)
    if line >= len(lines):
        return len(text)
    offset = sum(len(content) + len(brk) for content, brk in lines[:line])
    used = 0
    for ch in lines[line][0]:
        if used + units(ch, encoding) > character:
            break
        used += units(ch, encoding)
        offset += 1
    return offset


def ref_apply(text: str, change: dict, encoding: str) -> str:
    if "range" not in change:
        return change["text"]
    r = change["range"]
    start = ref_offset(text, r["start"]["line"], r["start"]["character"], encoding)
    end = ref_offset(text, r["end"]["line"], r["end"]["character"], encoding)
    return text[:start] + change["text"] + text[end:]


def test_reference_model_sanity():
    assert ref_lines("a\u2028b\r\nc\rd\n") == [("a\u2028b", "\r\n"), ("c", "\r"), ("d", "\n"), ("", "")]
    assert ref_offset("ab\ncd", 0, 9, "utf-16") == 2 and ref_offset("ab\ncd", 7, 0, "utf-16") == 5
    assert ref_offset("😀x", 0, 2, "utf-16") == 1 and ref_offset("😀x", 0, 4, "utf-8") == 1


# -- targeted cases ----------------------------------------------------------------------------

U2028_TEXT = (
    'task = "Translate.\u2028Keep names."\n'
    "[prompt]\n"
    "# the template\n"
    'template = "Translate {{ text }}"\n'
)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_u2028_does_not_break_a_line(inprocess, encoding):
    """Inserting '#' at line 2 comments out the comment line, not [prompt]."""
    server = inprocess(encoding)
    server.open(URI, U2028_TEXT)
    server.change(URI, 2, [server.edit((2, 0), (2, 0), "#")])
    assert server.text(URI) == U2028_TEXT.replace("# the", "## the")


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_character_past_the_line_end_clamps_to_it(inprocess, encoding):
    server = inprocess(encoding)
    text = "ab\r\ncd\nlast"
    server.open(URI, text)
    server.change(URI, 2, [server.edit((0, 2), (0, 2), "1")])  # exactly the end
    server.change(URI, 3, [server.edit((1, 3), (1, 3), "2")])  # one past
    server.change(URI, 4, [server.edit((2, 99), (2, 99), "3")])  # far past, last line
    server.change(URI, 5, [server.edit((9, 0), (12, 4), "4")])  # lines past the end: the document end
    assert server.text(URI) == "ab1\r\ncd2\nlast34"


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_range_ending_past_a_line_end_keeps_the_break(inprocess, encoding):
    server = inprocess(encoding)
    server.open(URI, "x = 1\ny = 2\n")
    server.change(URI, 2, [server.edit((0, 4), (0, 40), "3")])
    assert server.text(URI) == "x = 3\ny = 2\n"


def test_document_lines_follow_lsp(inprocess):
    server = inprocess()
    server.open(URI, "a\u2028b\x0cc\r\nd\re\n\x85")
    assert server.ls.workspace.text_documents[URI].lines == ("a\u2028b\x0cc\r\n", "d\r", "e\n", "\x85")


# -- the rewrite action after an edit on a line holding U+2028 ---------------------------------

TEMPLATE = "😀 Reply tersely to {{ word }}"
BEST = "Reply with exactly {{ word }} and nothing else."
REWRITE_TEXT = (
    'version = 1\nname = "demo"\ntask = "Echo the word.\u2028Nothing else."\n'
    "# joined onto the task line\n\n"
    f'[prompt]\ntemplate = "{TEMPLATE}"\n\n'
    '[models]\ntask = { model = "m", temperature = 0.5 }\n\n'
    '[[criteria]]\nname = "eq"\ntype = "equals"\n\n'
    '[[examples]]\nid = "ex1"\nvars = { word = "hi" }\nexpected = "hi"\n'
)


def _record_run(store_file: Path, prompt_file: Path) -> None:
    initial, best = PromptText(TEMPLATE), PromptText(BEST)
    with RunStore.open(store_file) as store:
        for event in (
            RunStarted("r1", "gradsum", str(prompt_file), initial, {}, {}),
            CandidateProposed(initial.id, None, 0, initial, "initial"),
            CandidateProposed(best.id, initial.id, 1, best, "edit"),
            CandidateScored(initial.id, "validation", 0.25, 1),
            CandidateScored(best.id, "validation", 1.0, 1),
            RunFinished("finished", best.id, best, 0.25, 1.0, "validation"),
        ):
            store.record("r1", event)


def _apply_edits(text: str, edits: list[dict], encoding: str) -> str:
    for e in sorted(edits, key=lambda e: (e["range"]["start"]["line"], e["range"]["start"]["character"]), reverse=True):
        text = ref_apply(text, {"range": e["range"], "text": e["newText"]}, encoding)
    return text


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_rewrite_action_after_joining_the_u2028_line_is_valid_toml(inprocess, tmp_path, encoding):
    path = tmp_path / "demo.prompt.toml"
    path.write_text(REWRITE_TEXT, encoding="utf-8")
    _record_run(tmp_path / ".promptlsp" / "runs.sqlite", path)
    uri = path.as_uri()
    server = inprocess(encoding, tmp_path.as_uri())
    server.open(uri, REWRITE_TEXT)
    task_line = ref_lines(REWRITE_TEXT)[2][0]
    end_of_task = sum(units(ch, encoding) for ch in task_line)
    join = server.edit((2, end_of_task), (3, 0), " ")  # join the task line with the comment after it
    server.change(uri, 2, [join])
    client_text = ref_apply(REWRITE_TEXT, join, encoding)

    whole = {"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}}
    answer = await server.request("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": whole, "context": {"diagnostics": []}})
    (action,) = answer["result"]
    assert "disabled" not in action
    (change,) = action["edit"]["documentChanges"]
    assert change["textDocument"] == {"uri": uri, "version": 2}
    rewritten = _apply_edits(client_text, change["edits"], encoding)
    assert tomllib.loads(rewritten)["prompt"]["template"] == BEST
    assert rewritten == rewrite_prompt(client_text, {"template": BEST})
    assert server.text(uri) == client_text


# -- the same over stdio -----------------------------------------------------------------------


client = session_fixture(types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
    diagnostic=types.DiagnosticClientCapabilities())), folders=False)


async def test_u2028_comment_line_over_stdio(client: LanguageClient):
    """The client's text stays valid; the server must not see [prompt] commented out."""
    uri = (client.root / "t.prompt.toml").as_uri()  # type: ignore[attr-defined]
    text = U2028_TEXT + '\n[[examples]]\nvars = { text = "x" }\n'
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=text)))
    at = types.Position(line=2, character=0)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text="#")]))
    report = await client.text_document_diagnostic_async(types.DocumentDiagnosticParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    errors = [d for d in report.items if d.severity == types.DiagnosticSeverity.Error]
    assert errors == []
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=3, character=2)))
    assert hover is not None and "prompt.template" in hover.contents.value


# -- property: random incremental edits, server == reference -------------------------------------

PIECES = ["a", "Z", " ", "=", '"', "\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d",
          "\x1e", "😀", "🎉", "日本", "é", "ß"]
texts = st.lists(st.sampled_from(PIECES), max_size=24).map("".join)
_servers: dict[str, object] = {}
_uris = itertools.count()


def _server(inprocess_cls, encoding: str):
    if encoding not in _servers:
        _servers[encoding] = inprocess_cls(encoding)
    return _servers[encoding]


@st.composite
def position(draw, text: str, encoding: str) -> dict:
    lines = ref_lines(text)
    line = draw(st.integers(0, len(lines) + 1))
    width = sum(units(ch, encoding) for ch in lines[line][0]) if line < len(lines) else 0
    character = draw(st.one_of(st.integers(0, width), st.integers(width, width + 6), st.integers(0, 2**31 - 1)))
    return {"line": line, "character": character}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(encoding=st.sampled_from(ENCODINGS), initial=texts, data=st.data())
def test_random_incremental_edits_match_the_reference(inprocess, encoding, initial, data):
    server = _server(inprocess, encoding)
    uri = f"file:///tmp/sync/p{next(_uris)}.prompt.toml"
    server.open(uri, initial)
    expected, version = initial, 1
    for _message in range(data.draw(st.integers(1, 4))):
        changes = []
        for _change in range(data.draw(st.integers(1, 3))):
            if data.draw(st.integers(0, 15)) == 0:
                change = {"text": data.draw(texts)}  # the whole document
            else:
                a, b = data.draw(position(expected, encoding)), data.draw(position(expected, encoding))
                a, b = sorted((a, b), key=lambda p: (p["line"], p["character"]))
                change = {"range": {"start": a, "end": b}, "text": data.draw(texts)}
            changes.append(change)
            expected = ref_apply(expected, change, encoding)  # changes apply in order, each to the result
        version += 1
        server.change(uri, version, changes)
        assert server.text(uri) == expected
    document = server.ls.workspace.text_documents[uri]
    assert "".join(document.lines) == expected
    assert [c + b for c, b in ref_lines(expected) if c + b] == list(document.lines)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


async def test_percent_encoded_uri_is_found(inprocess):
    """pygls keys documents by the decoded uri; the server must find one the client percent-encodes."""
    server = inprocess()
    uri = "file:///tmp/sync/J%C3%BCrgen%20notes/x.prompt.toml"
    server.open(uri, 'task = "t"\n[prompt]\ntemplate = 5\n')
    answer = await server.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
    assert "prompt.template must be a string, not an integer" in [d["message"] for d in answer["result"]["items"]]
