"""What the rename tests share: a client started in a temporary workspace folder, with or
without ``workspace.workspaceEdit.documentChanges`` (``client`` and ``versioned_client``)."""

from __future__ import annotations

from lsprotocol import types

from lsp_support import session_fixture


def _caps(document_changes: bool) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=document_changes)),
        text_document=types.TextDocumentClientCapabilities(rename=types.RenameClientCapabilities(prepare_support=True)),
    )


client = session_fixture(_caps(document_changes=False))
versioned_client = session_fixture(_caps(document_changes=True))
