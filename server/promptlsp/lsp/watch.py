"""Files changed outside the editor (a git checkout, another tool) refresh their diagnostics.

watchdog observes the workspace folders. Its callbacks run on the observer's thread; they only
hand the path to the event loop (``call_soon_threadsafe``), where:

* a changed example file (JSONL/CSV) re-validates every open prompt file that reads it — the
  text did not change, so the cached analysis is dropped first;
* a ``*.prompt.toml`` that is open in the editor is left to the editor (its buffer is the truth);
  one that is not open is analysed from disk and its diagnostics published (cleared when deleted).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from lsprotocol import types

from ..document import analyze, read_text
from ..state import STATE_DIR
from .diagnostics import Diagnostics, to_lsp
from .server import PromptLanguageServer

log = logging.getLogger("promptlsp.lsp.watch")

PROMPT_SUFFIX = ".prompt.toml"
IGNORED_PARTS = {".git", STATE_DIR, "node_modules", ".venv", "__pycache__"}


class WorkspaceWatcher:
    def __init__(self, server: PromptLanguageServer, diagnostics: Diagnostics) -> None:
        self.server = server
        self.diagnostics = diagnostics
        self._observer = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, folders: list[Path]) -> None:
        """Watch ``folders`` recursively (no-op when there are none or watchdog cannot start)."""
        folders = [f for f in folders if f.is_dir()]
        if not folders or self._observer is not None:
            return
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        self._loop = asyncio.get_running_loop()
        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.is_directory or event.event_type not in ("created", "modified", "deleted", "moved"):
                    return
                for raw in (getattr(event, "src_path", None), getattr(event, "dest_path", None)):
                    if raw:
                        watcher._from_thread(Path(raw.decode() if isinstance(raw, bytes) else raw))

        observer = Observer()
        try:
            for folder in folders:
                observer.schedule(Handler(), str(folder), recursive=True)
            observer.daemon = True
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit reached: diagnostics still work on edits
            log.warning("cannot watch the workspace for outside changes: %s", exc)
            return
        self._observer = observer

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer = None

    def _from_thread(self, path: Path) -> None:
        if IGNORED_PARTS.intersection(path.parts) or self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self.changed, path)
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass

    def changed(self, path: Path) -> None:
        """On the event loop: react to one changed path."""
        server = self.server
        resolved = path.resolve()
        open_uris = [doc.uri for doc in list(server.workspace.text_documents.values())]  # as the client sent them
        for uri in open_uris:
            analysis = server.analyses.cached(uri)
            if analysis is not None and resolved in analysis.dataset_files:
                self.diagnostics.revalidate(uri)
        if path.name.endswith(PROMPT_SUFFIX) and all(server.open_document(p.as_uri()) is None for p in (resolved, path)):
            asyncio.ensure_future(self._publish_from_disk(path))

    async def _publish_from_disk(self, path: Path) -> None:
        server = self.server
        uri = path.as_uri()
        try:
            text = read_text(path) if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            text = None
        items: list[types.Diagnostic] = []
        if text is not None:
            analysis = await server.off_loop(analyze, text, path, server.root_for(path))
            items = to_lsp(analysis, uri, server.encoding)
        if server.open_document(uri) is not None:
            return  # opened meanwhile: the editor's buffer wins
        server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=items))
