"""An optimization through the language server on the real embedded model (no key, no network)."""

import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from test_local_model_optimize import FILE

pytestmark = pytest.mark.local_model


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "promptlsp", "serve"]))
async def client(lsp_client: LanguageClient, tmp_path: Path):
    lsp_client.root = tmp_path  # type: ignore[attr-defined]
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
        root_uri=tmp_path.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="ws")],
    ))
    yield
    await lsp_client.shutdown_session()


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
