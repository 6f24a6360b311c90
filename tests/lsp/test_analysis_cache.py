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


async def test_the_outline_of_a_version_is_built_once_and_goes_with_its_analysis(monkeypatch, tmp_path):
    """Editors ask for the outline of one version several times (outline view, breadcrumbs,
    sticky scroll): at 5,000 examples building it is most of each answer."""
    import asyncio
    import gc

    from promptlsp.lsp import outline as lsp_outline

    built = []
    real = lsp_outline.document_symbols
    monkeypatch.setattr(lsp_outline, "document_symbols", lambda *a: built.append(len(a)) or real(*a))
    ls = PromptLanguageServer()
    ls.protocol._workspace = Workspace(tmp_path.as_uri())
    outline = lsp_outline.Outline(ls)
    uri = (tmp_path / "a.prompt.toml").as_uri()
    ls.workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=TEXT))
    params = types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    first = await outline.symbols(params)
    assert await outline.symbols(params) == first and len(built) == 1 and first
    ls.workspace.get_text_document(uri).apply_change(
        types.TextDocumentContentChangeWholeDocument(text=TEXT.replace("Ann", "Bo")))
    ls.workspace.get_text_document(uri).version = 2
    changed = await outline.symbols(params)
    assert len(built) == 2 and changed != first  # a new version: built again
    ls.analyses.forget(uri)
    for _ in range(3):  # the loop's pending wake-ups of the finished analysis run
        await asyncio.sleep(0)
    gc.collect()
    assert uri not in outline._symbols  # gone with the analysis: nothing held for a closed file
