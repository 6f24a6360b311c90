"""Work-done progress (``$/progress``) of the server's long requests, cancellable by the client."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Callable

from lsprotocol import types

from .server import PromptLanguageServer

log = logging.getLogger("promptlsp.lsp.progress")

Token = str | int


class Progress:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server

    async def begin(self, title: str, message: str, on_cancel: Callable[[], None],
                    client_token: Any = None) -> Token | None:
        """Begin work-done progress: on ``client_token`` (the request's ``workDoneToken``) when
        the client sent one, else on a fresh token the server creates, if the client can show it.
        ``on_cancel`` runs when the client cancels the progress. None: no progress is shown."""
        progress = self.server.work_done_progress
        if isinstance(client_token, (str, int)) and not isinstance(client_token, bool):
            token: Token = client_token
        else:
            caps = self.server.client_capabilities
            if not (caps and caps.window and caps.window.work_done_progress):
                return None
            token = str(uuid.uuid4())  # never reuse: pygls never frees tokens
            try:
                await progress.create_async(token)
            except Exception as exc:
                log.warning("client refused a progress token: %s", exc)
                return None
        progress.begin(token, types.WorkDoneProgressBegin(title=title, message=message, cancellable=True, percentage=0))
        future = progress.tokens.get(token)  # begin() registers a client's token
        if future is not None:
            future.add_done_callback(lambda f: f.cancelled() and on_cancel())
        return token

    def report(self, token: Token | None, message: str, percentage: int | None = None) -> None:
        if token is not None:
            self.server.work_done_progress.report(token, types.WorkDoneProgressReport(message=message, percentage=percentage))

    def end(self, token: Token | None, message: str) -> None:
        if token is not None:
            progress = self.server.work_done_progress
            try:
                progress.end(token, types.WorkDoneProgressEnd(message=message))
            except Exception:  # the transport may be gone at shutdown
                log.debug("progress end failed", exc_info=True)
            progress.tokens.pop(token, None)  # pygls never frees a token's future
