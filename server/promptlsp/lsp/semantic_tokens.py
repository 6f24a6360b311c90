"""Semantic tokens (full) for the jinja2 templates inside a prompt file's TOML strings, from
``document.template_tokens``; a token crossing lines is sent one piece per line."""

from __future__ import annotations

from typing import Iterable

from lsprotocol import types

from ..document import Analysis, Span
from ..document import template_tokens as tokens_module
from ..document.source import Encoding
from .features import Handler
from .server import PromptLanguageServer

LEGEND = types.SemanticTokensLegend(token_types=list(tokens_module.KINDS), token_modifiers=[])
_TYPE = {kind: i for i, kind in enumerate(tokens_module.KINDS)}


def semantic_tokens(analysis: Analysis, encoding: Encoding) -> types.SemanticTokens:
    data: list[int] = []
    line, character = 0, 0
    for token in tokens_module.template_tokens(analysis):
        for piece in _per_line(analysis, token.span):
            r = analysis.source.range(piece, encoding)
            length = r.end.character - r.start.character
            if length <= 0:
                continue
            if r.start.line != line:
                character = 0
            data += [r.start.line - line, r.start.character - character, length, _TYPE[token.kind], 0]
            line, character = r.start.line, r.start.character
    return types.SemanticTokens(data=data)


def _per_line(analysis: Analysis, span: Span) -> Iterable[Span]:
    source = analysis.source
    first, last = source.line_of(span.start), source.line_of(span.end)
    for number in range(first, last + 1):
        line = source.line_span(number)
        start, end = max(span.start, line.start), min(span.end, line.end)
        if end > start:
            yield Span(start, end)


class SemanticTokens:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server

    def handlers(self) -> Iterable[Handler]:
        return (Handler(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, self.full, LEGEND),)

    async def full(self, params: types.SemanticTokensParams) -> types.SemanticTokens:
        outcome = await self.server.analyses.analyse(params.text_document.uri)
        if outcome is None:
            return types.SemanticTokens(data=[])
        return await self.server.off_loop(semantic_tokens, outcome[0], self.server.encoding)
