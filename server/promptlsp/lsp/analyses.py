"""The analysis of each open document: computed off the event loop, one at a time, kept per version.

Diagnostics, hovers, code actions and run requests all ask :meth:`Analyses.analyse` for the
analysis of a document's current text; the latest one is kept until the document changes, is
closed (:meth:`Analyses.forget`) or a file it read changes on disk.

Where a document's analysis starts (:meth:`Analyses._start`) and where it is let go
(:meth:`Analyses.forget`, from the diagnostics feature's ``didClose``) are the two places an
incremental analysis hooks in: the previous analysis of the document, and its release.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from ..document import Analysis, analyze

T = TypeVar("T")


def uri_to_path(uri: str) -> Path | None:
    """The file of a ``file:`` uri (None for another scheme, e.g. an untitled editor)."""
    path = to_fs_path(uri)
    return Path(path) if path is not None else None


async def off_loop(executor: Executor, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on ``executor``."""
    return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(function, *args))


@dataclass(frozen=True)
class _Running:
    """An analysis under way: of which version and text, and the task computing it."""

    version: int | None
    text: str
    task: asyncio.Future


class Analyses:
    """Per-document analyses. ``documents(uri)`` is the open document (or None), ``root_for(path)``
    the workspace root of a file, and analyses run on ``executor``."""

    def __init__(self, documents: Callable[[str], TextDocument | None],
                 root_for: Callable[[Path | None], Path | None], executor: Executor) -> None:
        self._documents = documents
        self._root_for = root_for
        self._executor = executor
        # uri -> (version, analysis of that version): hovers and pulls reuse the latest analysis
        self._latest: dict[str, tuple[int | None, Analysis]] = {}
        self._running: dict[str, _Running] = {}  # uri -> the analysis running for it (one at most)

    async def analyse(self, uri: str) -> tuple[Analysis, int | None] | None:
        """Analyse the current text of ``uri`` off the event loop; (analysis, version analysed),
        None when the document is not open.

        At most one analysis per document runs at a time. A caller wanting the version being
        analysed shares that analysis; one wanting a newer version waits for the superseded
        analysis to end (a thread cannot be stopped) and then analyses the text current at that
        moment, which every other waiter shares: N rapid edits cost two analyses, not N. The
        result of a superseded analysis is not kept.
        """
        while True:
            document = self._documents(uri)
            if document is None:
                return None
            text, version = document.source, document.version
            cached = self._latest.get(uri)
            if cached is not None and cached[0] == version and cached[1].text == text:
                return cached[1], version
            running = self._running.get(uri)
            if running is None:
                running = self._start(uri, text, version)
            elif running.version != version or running.text != text:
                await asyncio.wait({running.task})  # superseded: let it end, then analyse the latest text
                continue
            return await asyncio.shield(running.task), version

    def _start(self, uri: str, text: str, version: int | None) -> _Running:
        path = uri_to_path(uri)
        # the last analysis of this document: analyze re-reads only what changed since
        previous = self._latest[uri][1] if uri in self._latest else Analysis.blank()
        running = _Running(version, text, asyncio.ensure_future(
            off_loop(self._executor, analyze, text, path, self._root_for(path), previous)))
        self._running[uri] = running

        def finished(task: asyncio.Future) -> None:
            if self._running.get(uri) is not running:
                return  # detached by forget(): the document closed or a file it read changed
            del self._running[uri]
            if task.cancelled() or task.exception() is not None:
                return
            current = self._documents(uri)
            if current is not None and current.version == version and current.source == text:
                self._latest[uri] = (version, task.result())

        running.task.add_done_callback(finished)
        return running

    def latest(self, uri: str) -> tuple[int | None, Analysis] | None:
        """(version, analysis) of the last analysis kept for ``uri``, or None."""
        return self._latest.get(uri)

    def cached(self, uri: str) -> Analysis | None:
        latest = self._latest.get(uri)
        return latest[1] if latest else None

    def forget(self, uri: str) -> None:
        """Drop the kept analysis (the document closed, or a file it read changed on disk) and
        detach a running one (its result is not kept)."""
        self._latest.pop(uri, None)
        self._running.pop(uri, None)
