"""The pygls 2 language server: document sync, validation, pull/push diagnostics, hover.

Positions: pygls negotiates ``general.positionEncodings`` (UTF-16 unless the client offers
UTF-8 or UTF-32); every range sent is computed by :meth:`SourceText.range` in that encoding and
every incoming position is converted with :meth:`SourceText.offset`.

Diagnostics: pulled (``textDocument/diagnostic``) when the client supports it, else pushed with
the analysed ``version``; a result for a version that changed meanwhile (or a document closed
meanwhile) is dropped, never published. An edit after a pause is analysed at once; only an edit
that follows the previous one within ``DEBOUNCE_SECONDS`` (typing) waits until the edits pause
for that long, so a burst costs one analysis, not one per keystroke.

Nothing a request waits for shares a thread pool with runs or model calls: analyses, critique
look-ups and hovers run on the server's own small executor (:attr:`PromptLanguageServer.executor`),
never on asyncio's default one, where the engine's cache reads and a run's other blocking work
go (and, before litellm's import had a thread of its own, a run's first calls could occupy every
worker for seconds).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from lsprotocol import types
from pygls.exceptions import JsonRpcParseError
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from ..document import Analysis, analyze, memory
from ..document.source import Encoding
from . import critiques
from .config import Settings
from . import diagnostics as lsp_diagnostics
from .hover import hover_markdown
from .positions import encoding_of, to_lsp_range, to_offset
from .protocol import PromptProtocol
from .watch import WorkspaceWatcher

log = logging.getLogger("promptlsp.lsp")

DEBOUNCE_SECONDS = 0.15  # an edit this soon after the previous one is part of a burst
# Analyses of different documents at once, plus a critique look-up or a hover beside them.
EXECUTOR_WORKERS = 3
T = TypeVar("T")


def uri_to_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(url2pathname(unquote(parsed.path)))


@dataclass(frozen=True)
class _Running:
    """An analysis under way: of which version and text, and the task computing it."""

    version: int | None
    text: str
    task: asyncio.Future


class PromptLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("promptlsp", "0.1.0", text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=PromptProtocol)
        self.pull_diagnostics = False
        self._pending: dict[str, asyncio.Task] = {}
        self._last_edit: dict[str, float] = {}  # uri -> clock() at its last didChange
        self.clock: Callable[[], float] = time.monotonic
        self.executor = ThreadPoolExecutor(EXECUTOR_WORKERS, thread_name_prefix="promptlsp-lsp")
        # uri -> (version, analysis of that version): hovers and pulls reuse the latest analysis
        self._analyses: dict[str, tuple[int | None, Analysis]] = {}
        self._running: dict[str, _Running] = {}  # uri -> the analysis running for it (one at most)
        self.watcher = WorkspaceWatcher(self)
        self.settings = Settings()  # from initializationOptions, then workspace/configuration

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A message that is not JSON gets JSON-RPC's parse error (-32700, ``"id": null``)."""
        if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
            self.protocol.send_error(None, JsonRpcParseError(message=f"parse error: {error}"))
            return
        super().report_server_error(error, source)

    # -- helpers -------------------------------------------------------------------------
    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the server's executor (see the module docstring)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(function, *args))

    @property
    def encoding(self) -> Encoding:
        return encoding_of(self.workspace.position_encoding)

    def open_document(self, uri: str) -> TextDocument | None:
        """The open document ``uri`` (pygls keys documents by the percent-decoded uri), or None."""
        return self.workspace.text_documents.get(unquote(uri))

    def root_for(self, path: Path | None) -> Path | None:
        """The innermost workspace folder holding ``path``, else the file's folder."""
        if path is None:
            return None
        best: Path | None = None
        for folder in self.workspace_folders():
            try:
                path.resolve().relative_to(folder.resolve())
            except ValueError:
                continue
            if best is None or len(folder.parts) > len(best.parts):
                best = folder
        return best or path.parent

    async def analyse(self, uri: str) -> tuple[Analysis, int | None] | None:
        """Analyse the current text of ``uri`` off the event loop; (analysis, version analysed).

        At most one analysis per document runs at a time. A caller wanting the version being
        analysed shares that analysis; one wanting a newer version waits for the superseded
        analysis to end (a thread cannot be stopped) and then analyses the text current at that
        moment, which every other waiter shares: N rapid edits cost two analyses, not N. The
        result of a superseded analysis is not cached.
        """
        while True:
            document = self.open_document(uri)
            if document is None:
                return None
            text, version = document.source, document.version
            cached = self._analyses.get(uri)
            if cached is not None and cached[0] == version and cached[1].text == text:
                return cached[1], version
            running = self._running.get(uri)
            if running is None:
                running = self._start_analysis(uri, text, version)
            elif running.version != version or running.text != text:
                await asyncio.wait({running.task})  # superseded: let it end, then analyse the latest text
                continue
            return await asyncio.shield(running.task), version

    def _start_analysis(self, uri: str, text: str, version: int | None) -> _Running:
        path = uri_to_path(uri)
        # the last analysis of this document: analyze re-reads only what changed since
        previous = self._analyses[uri][1] if uri in self._analyses else Analysis.blank()
        running = _Running(version, text, asyncio.ensure_future(
            self.off_loop(analyze, text, path, self.root_for(path), previous)))
        self._running[uri] = running

        def finished(task: asyncio.Future) -> None:
            if self._running.get(uri) is not running:
                return  # detached by forget(): the document closed or a file it read changed
            del self._running[uri]
            if task.cancelled() or task.exception() is not None:
                return
            current = self.open_document(uri)
            if current is not None and current.version == version and current.source == text:
                self._analyses[uri] = (version, task.result())

        running.task.add_done_callback(finished)
        return running

    def schedule(self, uri: str, *, edited: bool = False) -> None:
        """Validate and push (push mode only): at once, unless ``edited`` (a didChange) within
        ``DEBOUNCE_SECONDS`` of the document's previous edit — then once the edits pause."""
        if self.pull_diagnostics:
            return
        delay = 0.0
        if edited:
            now = self.clock()
            last = self._last_edit.get(uri)
            self._last_edit[uri] = now
            if last is not None and now - last < DEBOUNCE_SECONDS:
                delay = DEBOUNCE_SECONDS
        self.cancel_pending(uri)
        self._pending[uri] = asyncio.ensure_future(self._validate_later(uri, delay))

    async def diagnostics_for(self, analysis: Analysis, uri: str) -> list[types.Diagnostic]:
        """Validation diagnostics plus the critiques of the file's last run (read off the loop)."""
        view = await self.off_loop(critiques.index_for(self).lookup, analysis)
        return lsp_diagnostics.to_lsp(analysis, uri, self.encoding) + critiques.critique_diagnostics(
            analysis, uri, self.encoding, lambda _analysis: view)

    def forget(self, uri: str) -> None:
        """A closed document: no pending validation, no cached analysis."""
        self.cancel_pending(uri)
        self._last_edit.pop(uri, None)
        self.forget_analysis(uri)

    def forget_analysis(self, uri: str) -> None:
        """Drop the cached analysis (a file it read changed on disk) and detach a running one."""
        self._analyses.pop(uri, None)
        self._running.pop(uri, None)

    def cached_analysis(self, uri: str) -> Analysis | None:
        cached = self._analyses.get(uri)
        return cached[1] if cached else None

    def workspace_folders(self) -> list[Path]:
        uris = [f.uri for f in self.workspace.folders.values()] or ([self.workspace.root_uri] if self.workspace.root_uri else [])
        return [p for p in (uri_to_path(u) for u in uris) if p is not None]

    def cancel_pending(self, uri: str) -> None:
        task = self._pending.pop(uri, None)
        if task is not None:
            task.cancel()

    async def _validate_later(self, uri: str, delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            outcome = await self.analyse(uri)
            if outcome is None:
                return
            analysis, version = outcome
            current = self.open_document(uri)
            if current is None or current.version != version:
                log.debug("dropping diagnostics for %s v%s (now v%s)", uri, version, current and current.version)
                return
            items = await self.diagnostics_for(analysis, uri)
            current = self.open_document(uri)
            if current is None or current.version != version:
                return
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=items)
            )
        except asyncio.CancelledError:
            pass
        except Exception:  # never take the session down
            log.exception("validation of %s failed", uri)
        finally:
            if self._pending.get(uri) is asyncio.current_task():
                del self._pending[uri]


def on_initialize(ls: PromptLanguageServer, params: types.InitializeParams) -> None:
    caps = params.capabilities
    ls.pull_diagnostics = bool(caps.text_document and caps.text_document.diagnostic)
    options = params.initialization_options
    if isinstance(options, dict) and isinstance(options.get("promptlsp"), dict):
        options = options["promptlsp"]  # accept the section or its content
    ls.settings = Settings.from_json(options)
    log.info("promptlsp: %s diagnostics", "pull" if ls.pull_diagnostics else "push")


def on_initialized(ls: PromptLanguageServer, params: types.InitializedParams) -> None:
    ls.watcher.start(ls.workspace_folders())


def on_shutdown(ls: PromptLanguageServer, params: None) -> None:
    ls.watcher.stop()
    manager = getattr(ls, "run_manager", None)
    if manager is not None:
        manager.cancel_all()  # the run store then shows those runs as cancelled


async def on_configuration(ls: PromptLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    """New settings take effect for the next request, without a restart."""
    caps = ls.client_capabilities
    raw = params.settings.get("promptlsp", params.settings) if isinstance(params.settings, dict) else None
    if caps and caps.workspace and caps.workspace.configuration:
        try:
            (raw,) = await ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="promptlsp")]))
        except Exception:  # a client that says it can answer but does not: keep the pushed settings
            log.warning("workspace/configuration failed; using the settings sent with the notification")
    ls.settings = Settings.from_json(raw)
    log.info("promptlsp settings updated")


def did_open(ls: PromptLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


def did_change(ls: PromptLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, edited=True)


def did_close(ls: PromptLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.forget(uri)
    memory.release()  # the closed document's analysis, text and pieces: back to the system
    if not ls.pull_diagnostics:
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


async def pull_diagnostics(ls: PromptLanguageServer, params: types.DocumentDiagnosticParams):
    outcome = await ls.analyse(params.text_document.uri)
    items = [] if outcome is None else await ls.diagnostics_for(outcome[0], params.text_document.uri)
    return types.RelatedFullDocumentDiagnosticReport(items=items)


async def hover(ls: PromptLanguageServer, params: types.HoverParams) -> types.Hover | None:
    outcome = await ls.analyse(params.text_document.uri)
    if outcome is None:
        return None
    return await ls.off_loop(_hover_at, ls, outcome[0], params.position, ls.encoding)


def _hover_at(ls: PromptLanguageServer, analysis: Analysis, position: types.Position,
              encoding: Encoding) -> types.Hover | None:
    """The hover at ``position`` (on the server's executor: the look-ups read the run store and
    walk the document's nodes)."""
    offset = to_offset(analysis.source, position, encoding)
    view = critiques.index_for(ls).lookup(analysis)
    on_critique = critiques.critique_hover(analysis, offset, encoding, lambda _analysis: view)
    if on_critique is not None:
        return on_critique
    node = analysis.node_at(offset)
    if node is None:
        return None
    text = hover_markdown(tuple(node.path))
    if text is None:
        return None
    span = node.key if node.key is not None and node.key.start <= offset <= node.key.end else node.value
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
        range=to_lsp_range(analysis.source, span, encoding),
    )


def create_server() -> PromptLanguageServer:
    """A server with every feature registered (``promptlsp serve`` runs the module's ``server``)."""
    ls = PromptLanguageServer()
    for method, handler in (
        (types.INITIALIZE, on_initialize), (types.INITIALIZED, on_initialized), (types.SHUTDOWN, on_shutdown),
        (types.WORKSPACE_DID_CHANGE_CONFIGURATION, on_configuration), (types.TEXT_DOCUMENT_DID_OPEN, did_open),
        (types.TEXT_DOCUMENT_DID_CHANGE, did_change), (types.TEXT_DOCUMENT_DID_CLOSE, did_close),
        (types.TEXT_DOCUMENT_HOVER, hover),
    ):
        ls.feature(method)(handler)
    ls.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(identifier="promptlsp", inter_file_dependencies=True, workspace_diagnostics=False),
    )(pull_diagnostics)
    critiques.register(ls)
    from . import runs as run_requests  # it imports this module's server class

    run_requests.register(ls)
    return ls


server = create_server()
