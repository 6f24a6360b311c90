"""Hovers and pulls reuse the analysis of the current version instead of re-analysing."""

from lsprotocol import types
from pygls.workspace import Workspace

from promptlsp.lsp import analyses as lsp_analyses
from promptlsp.lsp.server import PromptLanguageServer

TEXT = 'task = "t"\n[prompt]\ntemplate = "Hi {{ name }}"\n[[examples]]\nvars = { name = "Ann" }\n'


async def test_analysis_is_reused_until_the_version_changes(monkeypatch, tmp_path):
    calls = []
    real = lsp_analyses.analyze
    monkeypatch.setattr(lsp_analyses, "analyze", lambda *a: calls.append(a) or real(*a))
    ls = PromptLanguageServer()
    ls.protocol._workspace = Workspace(tmp_path.as_uri())
    uri = (tmp_path / "a.prompt.toml").as_uri()
    ls.workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=TEXT))
    first, _ = await ls.analyses.analyse(uri)
    again, _ = await ls.analyses.analyse(uri)
    assert again is first and len(calls) == 1
    ls.workspace.get_text_document(uri).apply_change(types.TextDocumentContentChangeWholeDocument(text=TEXT + "\n"))
    ls.workspace.get_text_document(uri).version = 2
    changed, version = await ls.analyses.analyse(uri)
    assert changed is not first and version == 2 and len(calls) == 2
    ls.analyses.forget(uri)
    assert ls.analyses.latest(uri) is None
