"""Critiques as diagnostics/hovers and candidates as code actions (``promptlsp.lsp.critiques``).

In-process tests of the pure functions, and one end-to-end test of ``textDocument/codeAction``
over stdio with the real server (``register(server)`` then started as ``promptlsp serve`` does).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from promptlsp.document import analyze
from promptlsp.document.edit import rewrite_prompt
from promptlsp.lsp import critiques as cr
from promptlsp.runs.view import CritiqueIndex
from promptlsp.optimize.events import (
    CandidateProposed, CandidateScored, Critique, ExampleScored, PromptText, RunFinished, RunStarted, SummaryWritten,
)
from promptlsp.runs.store import RunStore
from lsp_support import session_fixture

TEMPLATE = "😀 Reply tersely to {{ word }}"
TEMPLATE_LINE = f'template = "{TEMPLATE}"'
TEXT = (
    'version = 1\nname = "demo"\ntask = "Echo the word."\n\n[prompt]\n' + TEMPLATE_LINE + "\n\n"
    '[models]\ntask = { model = "m", temperature = 0.5 }\n\n'
    '[[criteria]]\nname = "eq"\ntype = "equals"\n\n'
    '[[examples]]\nid = "ex1"\nvars = { word = "hi" }\nexpected = "hi"\n'
)
LINE_NO = TEXT.split("\n").index(TEMPLATE_LINE)
QUOTE = "Reply tersely"
BEST = "Reply with exactly {{ word }} and nothing else."
SECOND = "😀 Answer with {{ word }}"
CRITIQUE = "Too vague: it never says to answer with the word alone."
SUGGESTION = "Say 'output only the word'."
REASON = "output 'Hello there!' differs from expected 'hi'"


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _record_run(store_file: Path, prompt_file: Path, run_id: str = "r1", template: str = TEMPLATE) -> dict[str, PromptText]:
    initial, best, second = PromptText(template), PromptText(BEST), PromptText(SECOND)
    with RunStore.open(store_file) as store:
        rec = lambda e: store.record(run_id, e)  # noqa: E731
        rec(RunStarted(run_id, "gradsum", str(prompt_file), initial, {}, {}))
        rec(CandidateProposed(initial.id, None, 0, initial, "initial"))
        rec(ExampleScored(initial.id, "ex1", "validation", 0.0, False, "Hello there!",
                          ({"name": "eq", "type": "equals", "score": 0.0, "passed": False, "weight": 1.0, "reason": REASON},)))
        rec(SummaryWritten(initial.id, "summary", (
            Critique(CRITIQUE, QUOTE, "template", 2, 15, SUGGESTION, ("ex1",)),
            Critique("Quotes words that are not there.", "nowhere in the prompt", "template", None, None, "", ("ex1",)),
        )))
        rec(CandidateProposed(second.id, initial.id, 1, second, "edit"))
        rec(CandidateProposed(best.id, initial.id, 1, best, "edit"))
        rec(CandidateScored(initial.id, "validation", 0.25, 1))
        rec(CandidateScored(second.id, "validation", 0.5, 1))
        rec(CandidateScored(best.id, "validation", 1.0, 1))
        rec(RunFinished("finished", best.id, best, 0.25, 1.0, "validation"))
    return {"initial": initial, "best": best, "second": second}


@pytest.fixture
def ws(tmp_path: Path):
    path = tmp_path / "demo.prompt.toml"
    path.write_text(TEXT, encoding="utf-8")
    _record_run(tmp_path / ".promptlsp" / "runs.sqlite", path)
    return tmp_path, path


def _analysis(ws, text: str = TEXT):
    root, path = ws
    return analyze(text, path, root)


def _diags(ws, text: str = TEXT, index: CritiqueIndex | None = None):
    a = _analysis(ws, text)
    return cr.critique_diagnostics(a, "file:///x", "utf-16", index or CritiqueIndex())


def _range_of(text: str, line_text: str, quote: str) -> types.Range:
    line = text.split("\n").index(line_text)
    start = _u16(line_text[: line_text.index(quote)])
    return types.Range(start=types.Position(line, start), end=types.Position(line, start + _u16(quote)))


# -- diagnostics -------------------------------------------------------------------------------


def test_diagnostic_on_the_quoted_words_utf16(ws):
    (d,) = _diags(ws)  # the critique quoting words not in the prompt is left out
    assert d.range == _range_of(TEXT, TEMPLATE_LINE, QUOTE)
    assert d.range.start.character == _u16('template = "😀 ') == 15  # the emoji is two UTF-16 units
    assert d.severity == types.DiagnosticSeverity.Information
    assert d.source == "promptlsp-critique"
    assert CRITIQUE in d.message and SUGGESTION in d.message


def test_diagnostic_moves_with_inserted_text(ws):
    line = TEMPLATE_LINE.replace("😀 ", "😀 Please, kindly ")
    text = "# a comment\n" + TEXT.replace(TEMPLATE_LINE, line)
    (d,) = _diags(ws, text)
    assert d.range == _range_of(text, line, QUOTE)
    assert d.range.start.line == LINE_NO + 1


def test_diagnostic_found_ignoring_case_and_white_space(ws):
    line = TEMPLATE_LINE.replace(QUOTE, "reply   TERSELY")
    text = TEXT.replace(TEMPLATE_LINE, line)
    (d,) = _diags(ws, text)
    assert d.range == _range_of(text, line, "reply   TERSELY")


def test_diagnostic_disappears_when_the_quote_is_edited(ws):
    assert _diags(ws, TEXT.replace(QUOTE, "Reply briefly")) == []


def test_no_store_no_diagnostics(tmp_path: Path):
    path = tmp_path / "demo.prompt.toml"
    assert cr.critique_diagnostics(analyze(TEXT, path, tmp_path), "file:///x", "utf-16", CritiqueIndex()) == []
    assert not (tmp_path / ".promptlsp").exists()  # looking does not create a store


# -- hover ---------------------------------------------------------------------------------------


def test_hover_lists_critique_examples_and_score(ws):
    a = _analysis(ws)
    offset = TEXT.index(QUOTE) + 3
    hover = cr.critique_hover(a, offset, "utf-16", CritiqueIndex())
    assert hover is not None
    value = hover.contents.value
    for expected in (CRITIQUE, SUGGESTION, "ex1", '"word": "hi"', "Hello there!", REASON, "0.25", "Expected"):
        assert expected in value, (expected, value)
    assert hover.range == _range_of(TEXT, TEMPLATE_LINE, QUOTE)
    assert cr.critique_hover(a, TEXT.index("{{ word }}"), "utf-16", CritiqueIndex()) is None


# -- restart: a fresh index over the same store --------------------------------------------------


def test_fresh_index_restores_critiques_and_candidates(ws):
    first = _diags(ws, index=CritiqueIndex())
    again = _diags(ws, index=CritiqueIndex())
    assert again == first and len(again) == 1
    actions = cr.code_actions(_analysis(ws), "file:///x", 1, "utf-16", CritiqueIndex())
    assert len(actions) == 2 and all(a.disabled is None for a in actions)


def test_fresh_index_after_template_changed(ws):
    gone = TEXT.replace(QUOTE, "Reply briefly")
    assert _diags(ws, gone, index=CritiqueIndex()) == []
    actions = cr.code_actions(_analysis(ws, gone), "file:///x", 1, "utf-16", CritiqueIndex())
    assert len(actions) == 2
    assert all(a.edit is None and a.disabled and "changed since run r1" in a.disabled.reason for a in actions)
    # the quote still there but the template changed: the critique moves, the candidates are withdrawn
    moved = TEXT.replace(QUOTE, "Hi. " + QUOTE)
    assert len(_diags(ws, moved, index=CritiqueIndex())) == 1
    assert all(a.disabled for a in cr.code_actions(_analysis(ws, moved), "file:///x", 1, "utf-16", CritiqueIndex()))


def test_index_sees_a_newer_run_and_refresh(ws):
    root, path = ws
    index = CritiqueIndex()
    assert index.lookup(_analysis(ws)).run.id == "r1"
    _record_run(root / ".promptlsp" / "runs.sqlite", path, run_id="r2")
    assert index.lookup(_analysis(ws)).run.id == "r2"
    index.refresh(path)
    assert index.lookup(_analysis(ws)).run.id == "r2"


# -- code actions (in process) -------------------------------------------------------------------


def _apply(text: str, edits: list) -> str:
    lines = text.split("\n")

    def offset(p: types.Position) -> int:
        before = sum(len(l) + 1 for l in lines[: p.line])
        line, units, i = lines[p.line], 0, 0
        while units < p.character:
            units += _u16(line[i])
            i += 1
        return before + i

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end):]
    return text


def _check_action(action: types.CodeAction, text: str, uri: str, version: int, new_template: str) -> None:
    assert action.disabled is None and action.kind == types.CodeActionKind.RefactorRewrite
    (change,) = action.edit.document_changes
    assert change.text_document == types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    (edit,) = change.edits
    assert isinstance(edit, types.AnnotatedTextEdit)
    annotation = action.edit.change_annotations[edit.annotation_id]
    assert annotation.needs_confirmation is True and annotation.label == action.title
    assert _apply(text, change.edits) == rewrite_prompt(text, {"template": new_template})


def test_code_actions_best_first_and_exact(ws):
    actions = cr.code_actions(_analysis(ws), "file:///x", 3, "utf-16", CritiqueIndex())
    assert [a.title for a in actions] == ["Apply rewritten prompt (score 0.250 → 1.000)", "Apply rewritten prompt (score 0.250 → 0.500)"]
    _check_action(actions[0], TEXT, "file:///x", 3, BEST)
    _check_action(actions[1], TEXT, "file:///x", 3, SECOND)


def test_code_actions_only_on_the_prompt_and_for_rewrite_kinds(ws):
    a = _analysis(ws)
    first_line = types.Range(start=types.Position(0, 0), end=types.Position(0, 3))
    assert cr.code_actions(a, "file:///x", 1, "utf-16", CritiqueIndex(), range=first_line) == []
    on_template = types.Range(start=types.Position(LINE_NO, 16), end=types.Position(LINE_NO, 16))
    assert len(cr.code_actions(a, "file:///x", 1, "utf-16", CritiqueIndex(), range=on_template)) == 2
    assert cr.code_actions(a, "file:///x", 1, "utf-16", CritiqueIndex(), only=[types.CodeActionKind.QuickFix]) == []
    assert len(cr.code_actions(a, "file:///x", 1, "utf-16", CritiqueIndex(), only=[types.CodeActionKind.Refactor])) == 2


# -- end to end: textDocument/codeAction over stdio ------------------------------------------------


def _recorded(_client: LanguageClient, root: Path) -> None:
    path = root / "demo.prompt.toml"
    path.write_text(TEXT, encoding="utf-8")
    _record_run(root / ".promptlsp" / "runs.sqlite", path)


client = session_fixture(before=_recorded)


async def _actions(client: LanguageClient, uri: str, line: int) -> list[types.CodeAction]:
    pos = types.Position(line, 20)
    result = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=pos, end=pos),
        context=types.CodeActionContext(diagnostics=[]),
    ))
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def _change(client: LanguageClient, uri: str, version: int, start: types.Position, end: types.Position, text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=start, end=end), text=text)],
    ))


async def test_code_actions_over_stdio_rebased_then_withdrawn(client: LanguageClient):
    uri = (client.root / "demo.prompt.toml").as_uri()  # type: ignore[attr-defined]
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=TEXT)))

    actions = await _actions(client, uri, LINE_NO)
    assert [a.title for a in actions] == ["Apply rewritten prompt (score 0.250 → 1.000)", "Apply rewritten prompt (score 0.250 → 0.500)"]
    _check_action(actions[0], TEXT, uri, 1, BEST)
    _check_action(actions[1], TEXT, uri, 1, SECOND)
    first_range = actions[0].edit.document_changes[0].edits[0].range

    # an edit elsewhere: the action is rebased onto the new text and version
    top = types.Position(0, 0)
    _change(client, uri, 2, top, top, "# tuned by promptlsp\n")
    text2 = "# tuned by promptlsp\n" + TEXT
    actions = await _actions(client, uri, LINE_NO + 1)
    assert len(actions) == 2
    _check_action(actions[0], text2, uri, 2, BEST)
    assert actions[0].edit.document_changes[0].edits[0].range.start.line == first_range.start.line + 1

    # an edit inside the template: withdrawn, saying why
    at = types.Position(LINE_NO + 1, _u16('template = "😀 '))
    _change(client, uri, 3, at, at, "Please ")
    actions = await _actions(client, uri, LINE_NO + 1)
    assert len(actions) == 2
    for a in actions:
        assert a.edit is None and a.disabled is not None
        assert "prompt.template changed since run r1" in a.disabled.reason


async def test_critique_diagnostics_and_hover_over_stdio(client: LanguageClient):
    """The server publishes the last run's critiques on the quoted words and hovers them."""
    uri = (client.root / "demo.prompt.toml").as_uri()  # type: ignore[attr-defined]
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=TEXT)))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    found = [d for d in client.diagnostics[uri] if d.source == "promptlsp-critique"]
    assert [d.range for d in found] == [_range_of(TEXT, TEMPLATE_LINE, QUOTE)]
    assert CRITIQUE in found[0].message
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=found[0].range.start))
    assert hover is not None and CRITIQUE in hover.contents.value and REASON in hover.contents.value
