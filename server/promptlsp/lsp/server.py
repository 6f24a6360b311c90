"""The language server: pygls 2's server holding the parts every feature shares.

:func:`~promptlsp.lsp.factory.create_server` builds it and its features (one module each:
:mod:`.lifecycle`, :mod:`.diagnostics`, :mod:`.hover`, :mod:`.code_actions`, :mod:`.requests`)
and registers their handlers; this class only holds what they share:

* ``settings`` — the editor's settings (``initializationOptions``, then ``workspace/configuration``),
  and ``pull_diagnostics``, whether the client pulls diagnostics (both set by :mod:`.lifecycle`);
* ``analyses`` — each open document's analysis (:mod:`.analyses`);
* ``critiques`` — what the last run of each file left, read from the run store
  (:class:`~promptlsp.runs.view.CritiqueIndex`);
* ``runs`` — the engines and run stores per workspace root (:class:`~promptlsp.runs.service.RunService`);
* ``places`` — where each open document's examples are written (:class:`~.places.ExamplePlaces`);
* ``executor`` — the server's own small thread pool.

Positions: pygls negotiates ``general.positionEncodings`` (UTF-16 unless the client offers
UTF-8 or UTF-32); every range sent is computed by :meth:`SourceText.range` in that encoding and
every incoming position is converted with :meth:`SourceText.offset`.

Nothing a request waits for shares a thread pool with runs or model calls: analyses, critique
look-ups and hovers run on the server's own small executor (:meth:`PromptLanguageServer.off_loop`),
never on asyncio's default one, where the engine's cache reads and a run's other blocking work
go (and, before litellm's import had a thread of its own, a run's first calls could occupy every
worker for seconds).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcParseError
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from .. import __version__
from ..document.source import Encoding
from ..runs.remote import RunWorker
from ..runs.service import RunService
from ..runs.view import CritiqueIndex
from . import analyses
from .analyses import Analyses, uri_to_path
from .config import Settings
from .places import ExamplePlaces
from .positions import encoding_of
from .protocol import PromptProtocol

NAME = "promptlsp"
# Analyses of different documents at once, plus a critique look-up or a hover beside them.
EXECUTOR_WORKERS = 3
T = TypeVar("T")


class PromptLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(NAME, __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=PromptProtocol)
        self.settings = Settings()  # from initializationOptions, then workspace/configuration
        # whether the client pulls diagnostics (textDocument/diagnostic); else they are pushed
        self.pull_diagnostics = False
        self.clock: Callable[[], float] = time.monotonic  # replaceable in tests
        self.executor = ThreadPoolExecutor(EXECUTOR_WORKERS, thread_name_prefix="promptlsp-lsp")
        self.analyses = Analyses(self.open_document, self.root_for, self.executor)
        self.critiques = CritiqueIndex()
        self.runs = RunService()
        self.worker: RunWorker | None = None  # runs and evaluations run there when set (create_server)
        self.places = ExamplePlaces()  # each open document's examples, where they are written

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A message that is not JSON gets JSON-RPC's parse error (-32700, ``"id": null``)."""
        if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
            self.protocol.send_error(None, JsonRpcParseError(message=f"parse error: {error}"))
            return
        super().report_server_error(error, source)

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the server's executor (see the module docstring)."""
        return await analyses.off_loop(self.executor, function, *args)

    @property
    def encoding(self) -> Encoding:
        return encoding_of(self.workspace.position_encoding)

    def open_document(self, uri: str) -> TextDocument | None:
        """The open document ``uri`` (pygls keys documents by the percent-decoded uri), or None."""
        return self.workspace.text_documents.get(unquote(uri))

    def workspace_folders(self) -> list[Path]:
        uris = [f.uri for f in self.workspace.folders.values()] or ([self.workspace.root_uri] if self.workspace.root_uri else [])
        return [p for p in (uri_to_path(u) for u in uris) if p is not None]

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
