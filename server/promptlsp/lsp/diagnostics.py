"""Diagnostics: document sync in, validation and critique diagnostics out (pulled or pushed).

Pulled (``textDocument/diagnostic``) when the client supports it, else pushed with the analysed
``version``. A pull answers with a ``resultId`` (a digest of the diagnostics); when the client's
``previousResultId`` is that digest, the answer is "unchanged". A pushed result for a version
that changed meanwhile (or a document closed meanwhile) is dropped, never published. An edit
after a pause is analysed at once; only an edit that follows the previous one within
``DEBOUNCE_SECONDS`` (typing) waits until the edits pause for that long, so a burst costs one
analysis, not one per keystroke.

A document's analysis is kept by :class:`~.analyses.Analyses`; :meth:`Diagnostics.did_close`
is where a closed document's analysis (and whatever an incremental analysis keeps) is let go.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Iterable

from lsprotocol import types
from lsprotocol.converters import get_converter

from ..document import Analysis, memory
from ..document import Diagnostic as CoreDiagnostic
from ..document.source import Encoding
from . import critiques
from .features import Handler
from .positions import to_lsp_range
from .server import PromptLanguageServer

log = logging.getLogger("promptlsp.lsp")

SOURCE = "promptlsp"
DEBOUNCE_SECONDS = 0.15  # an edit this soon after the previous one is part of a burst

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}
_CONVERTER = get_converter()


# -- core diagnostics → LSP diagnostics ---------------------------------------------------------


def _file_uri(path: Path) -> str:
    return path.resolve().as_uri()


def to_lsp(analysis: Analysis, uri: str, encoding: Encoding) -> list[types.Diagnostic]:
    return [_one(analysis, d, uri, encoding) for d in analysis.diagnostics]


def _one(analysis: Analysis, d: CoreDiagnostic, uri: str, encoding: Encoding) -> types.Diagnostic:
    related: list[types.DiagnosticRelatedInformation] = []
    for rel in d.related:
        if rel.file is not None:
            line = max((rel.line or 1) - 1, 0)
            pos = types.Position(line=line, character=0)
            location = types.Location(uri=_file_uri(rel.file), range=types.Range(start=pos, end=pos))
        elif rel.span is not None:
            location = types.Location(uri=uri, range=to_lsp_range(analysis.source, rel.span, encoding))
        else:
            continue
        related.append(types.DiagnosticRelatedInformation(location=location, message=rel.message))
    return types.Diagnostic(
        range=to_lsp_range(analysis.source, d.span, encoding),
        message=d.message,
        severity=_SEVERITY.get(d.severity, types.DiagnosticSeverity.Error),
        code=d.code,
        source=SOURCE,
        related_information=related or None,
    )


def result_id(items: list[types.Diagnostic]) -> str:
    """A digest of ``items``: equal diagnostics, equal result id."""
    body = json.dumps(_CONVERTER.unstructure(items, list[types.Diagnostic]), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


# -- the feature ---------------------------------------------------------------------------------


class Diagnostics:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server
        self._pending: dict[str, asyncio.Task] = {}
        self._last_edit: dict[str, float] = {}  # uri -> server.clock() at its last didChange

    def handlers(self) -> Iterable[Handler]:
        return (
            Handler(types.TEXT_DOCUMENT_DID_OPEN, self.did_open),
            Handler(types.TEXT_DOCUMENT_DID_CHANGE, self.did_change),
            Handler(types.TEXT_DOCUMENT_DID_CLOSE, self.did_close),
            Handler(types.TEXT_DOCUMENT_DIAGNOSTIC, self.pull, types.DiagnosticOptions(
                identifier="promptlsp", inter_file_dependencies=True, workspace_diagnostics=False)),
        )

    # -- document sync -------------------------------------------------------------------
    def did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self.schedule(params.text_document.uri)

    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        self.schedule(params.text_document.uri, edited=True)

    def did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        """No pending validation, no kept analysis; a pushed document's diagnostics cleared."""
        uri = params.text_document.uri
        self.cancel_pending(uri)
        self._last_edit.pop(uri, None)
        self.server.analyses.forget(uri)
        memory.release()  # give the closed document's memory back to the system
        if not self.server.pull_diagnostics:
            self.server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # -- pull ----------------------------------------------------------------------------
    async def pull(self, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        uri = params.text_document.uri
        outcome = await self.server.analyses.analyse(uri)
        items = [] if outcome is None else await self.diagnostics_for(outcome[0], uri)
        digest = result_id(items)
        if params.previous_result_id == digest:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=digest)
        return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=digest)

    async def diagnostics_for(self, analysis: Analysis, uri: str) -> list[types.Diagnostic]:
        """Validation diagnostics plus the critiques of the file's last run (read off the loop)."""
        server = self.server
        view = await server.off_loop(server.critiques.lookup, analysis)
        return to_lsp(analysis, uri, server.encoding) + critiques.critique_diagnostics(
            analysis, uri, server.encoding, lambda _analysis: view)

    # -- push ----------------------------------------------------------------------------
    def schedule(self, uri: str, *, edited: bool = False) -> None:
        """Validate and push (push mode only): at once, unless ``edited`` (a didChange) within
        ``DEBOUNCE_SECONDS`` of the document's previous edit — then once the edits pause."""
        if self.server.pull_diagnostics:
            return
        delay = 0.0
        if edited:
            now = self.server.clock()
            last = self._last_edit.get(uri)
            self._last_edit[uri] = now
            if last is not None and now - last < DEBOUNCE_SECONDS:
                delay = DEBOUNCE_SECONDS
        self.cancel_pending(uri)
        self._pending[uri] = asyncio.ensure_future(self._validate_later(uri, delay))

    def revalidate(self, uri: str) -> None:
        """A file the analysis of ``uri`` read changed: analyse again and push."""
        self.server.analyses.forget(uri)
        self.schedule(uri)

    def cancel_pending(self, uri: str) -> None:
        task = self._pending.pop(uri, None)
        if task is not None:
            task.cancel()

    async def _validate_later(self, uri: str, delay: float) -> None:
        server = self.server
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            outcome = await server.analyses.analyse(uri)
            if outcome is None:
                return
            analysis, version = outcome
            current = server.open_document(uri)
            if current is None or current.version != version:
                log.debug("dropping diagnostics for %s v%s (now v%s)", uri, version, current and current.version)
                return
            items = await self.diagnostics_for(analysis, uri)
            current = server.open_document(uri)
            if current is None or current.version != version:
                return
            server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=items)
            )
        except asyncio.CancelledError:
            pass
        except Exception:  # never take the session down
            log.exception("validation of %s failed", uri)
        finally:
            if self._pending.get(uri) is asyncio.current_task():
                del self._pending[uri]
