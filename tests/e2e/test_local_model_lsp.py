"""An optimization through the language server on the real embedded model (no key, no network)."""

import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from test_local_model_optimize import FILE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lsp"))
from lsp_support import session_fixture  # noqa: E402

pytestmark = pytest.mark.local_model

client = session_fixture(types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)))


async def test_optimize_request_on_the_local_model(client: LanguageClient):
    path = client.root / "tiny.prompt.toml"  # type: ignore[attr-defined]
    path.write_text(FILE, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=FILE)))
    summary = await client.protocol.send_request_async("promptlsp/optimize", {"uri": uri, "version": 1})
    assert summary.status in ("finished", "budget-exhausted")
    assert summary.accounting.total.calls > 0
    assert "{{ review }}" in summary.best.template
    assert path.read_text(encoding="utf-8") == FILE  # the server proposes; it never writes the file
    assert client.progress_reports  # progress was reported while it ran
