"""Code actions: "Apply rewritten prompt" for each candidate of the file's last run
(:func:`~promptlsp.lsp.critiques.code_actions`)."""

from __future__ import annotations

from typing import Iterable

from lsprotocol import types

from . import critiques
from .features import Handler
from .server import PromptLanguageServer


class CodeActions:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server

    def handlers(self) -> Iterable[Handler]:
        return (Handler(types.TEXT_DOCUMENT_CODE_ACTION, self.code_action,
                        types.CodeActionOptions(code_action_kinds=[critiques.ACTION_KIND])),)

    async def code_action(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        server, uri = self.server, params.text_document.uri
        outcome = await server.analyses.analyse(uri)
        if outcome is None:
            return None
        analysis, version = outcome
        view = await server.off_loop(server.critiques.lookup, analysis)
        return critiques.code_actions(
            analysis, uri, version, server.encoding, lambda _a: view,
            range=params.range, only=params.context.only if params.context else None,
        )
