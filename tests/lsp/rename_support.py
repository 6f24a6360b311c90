"""What the rename tests share: a client started in a temporary workspace folder, with or
without ``workspace.workspaceEdit.documentChanges`` (``client`` and ``versioned_client``)."""

from __future__ import annotations

from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient
from lsp_support import CONFIG


def _caps(document_changes: bool) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=document_changes)),
        text_document=types.TextDocumentClientCapabilities(rename=types.RenameClientCapabilities(prepare_support=True)),
    )


async def _start(client: LanguageClient, root: Path, document_changes: bool) -> None:
    client.root = root  # type: ignore[attr-defined]
    await client.initialize_session(types.InitializeParams(
        capabilities=_caps(document_changes), root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")]))


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, tmp_path: Path):
    await _start(lsp_client, tmp_path, document_changes=False)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def versioned_client(lsp_client: LanguageClient, tmp_path: Path):
    await _start(lsp_client, tmp_path, document_changes=True)
    yield
    await lsp_client.shutdown_session()
