"""The server passes each document's last analysis to the next (which then re-reads only the
examples an edit touched), and gives memory back when a document is closed."""

from lsprotocol import types
from pygls.workspace import Workspace

from promptlsp.document import memory
from promptlsp.lsp import analyses as lsp_analyses
from promptlsp.lsp.diagnostics import Diagnostics
from promptlsp.lsp.factory import create_server

EXAMPLE = '\n[[examples]]\nvars = {{ name = "{}" }}\nexpected = "Hi"\n'
TEXT = 'task = "t"\n[prompt]\ntemplate = "Hi {{ name }}"\n' + "".join(EXAMPLE.format(n) for n in ("Ann", "Bo", "Cy"))


def _server(tmp_path, monkeypatch):
    calls = []
    real = lsp_analyses.analyze
    monkeypatch.setattr(lsp_analyses, "analyze", lambda *a: calls.append(a) or real(*a))
    ls = create_server()
    ls.protocol._workspace = Workspace(tmp_path.as_uri())
    return ls, calls


async def test_each_analysis_gets_the_documents_previous_one(monkeypatch, tmp_path):
    ls, calls = _server(tmp_path, monkeypatch)
    uri = (tmp_path / "a.prompt.toml").as_uri()
    ls.workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=TEXT))
    first, _ = await ls.analyses.analyse(uri)
    assert calls[0][3].text == "" and first.units is not None  # read in pieces from the start
    document = ls.workspace.get_text_document(uri)
    document.apply_change(types.TextDocumentContentChangeWholeDocument(text=TEXT.replace("Bo", "Bob")))
    document.version = 2
    second, _ = await ls.analyses.analyse(uri)
    assert calls[1][3] is first
    assert second.units[0] is first.units[0] and second.units[2] is first.units[2]  # not re-read
    assert second.units[1] is not first.units[1]


def test_closing_a_document_releases_its_analysis_and_memory(monkeypatch, tmp_path):
    ls, _ = _server(tmp_path, monkeypatch)
    released = []
    monkeypatch.setattr(memory, "release", lambda: released.append(True))
    uri = (tmp_path / "a.prompt.toml").as_uri()
    ls.analyses._latest[uri] = (1, object())
    ls.pull_diagnostics = True
    Diagnostics(ls).did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert ls.analyses.latest(uri) is None and released == [True]


def test_release_collects_and_trims():
    memory.release()  # runs (glibc: malloc_trim; elsewhere only the collection)
