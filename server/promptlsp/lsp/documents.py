"""The server's copy of each open document, kept identical to the client's.

pygls's :class:`~pygls.workspace.TextDocument` applies incremental changes on
``str.splitlines()`` lines, which also break at U+2028, U+2029, U+0085, ``\\x0b``, ``\\x0c`` and
``\\x1c``–``\\x1e``, and it can move a position past a line's end over the line break. LSP lines
end only at ``\\n``, ``\\r\\n`` and ``\\r``; a character past a line's end means the line's end, a
line past the last one means the end of the document. :class:`LspTextDocument` applies changes
with exactly those rules, converting positions with :meth:`SourceText.offset` in the negotiated
position encoding — the same conversion every request handler uses — and :class:`LspWorkspace`
creates only such documents.
"""

from __future__ import annotations

import re
from typing import Sequence

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from ..document.source import Position, SourceText
from .positions import encoding_of

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def apply_change(text: str, change_range: types.Range, new_text: str, encoding: object) -> str:
    """``text`` with ``change_range`` (LSP positions in ``encoding``) replaced by ``new_text``."""
    source = SourceText(text)
    enc = encoding_of(encoding)
    start = source.offset(Position(change_range.start.line, change_range.start.character), enc)
    end = source.offset(Position(change_range.end.line, change_range.end.character), enc)
    start, end = min(start, end), max(start, end)
    return text[:start] + new_text + text[end:]


class LspTextDocument(TextDocument):
    """A :class:`TextDocument` whose lines and incremental changes follow the LSP rules."""

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        self._source = apply_change(self.source, change.range, change.text, self.position_codec.encoding)

    @property
    def lines(self) -> Sequence[str]:
        """The lines with their breaks, split only at ``\\n``, ``\\r\\n`` and ``\\r``."""
        return tuple(_LINE.findall(self.source))


class LspWorkspace(Workspace):
    """A :class:`Workspace` of :class:`LspTextDocument`."""

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self.position_codec,
        )

    @classmethod
    def adopt(cls, workspace: Workspace) -> "LspWorkspace":
        """The same workspace (root, folders, encoding, sync kind, open documents) as ``workspace``."""
        if isinstance(workspace, cls):
            return workspace
        new = cls(
            workspace.root_uri,
            workspace._sync_kind,
            list(workspace.folders.values()),
            workspace.position_encoding,
        )
        for uri, doc in workspace.text_documents.items():
            new.text_documents[uri] = new._create_text_document(
                doc.uri, source=doc.source, version=doc.version, language_id=doc.language_id)
        return new
