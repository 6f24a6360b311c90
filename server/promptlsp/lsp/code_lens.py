"""Code lenses: "Evaluate" and "Optimize" on the prompt's ``template`` key (else its table),
"Run example" on each inline example's first line. Each runs one of the server's own
commands (``promptlsp.evaluate``, ``promptlsp.optimize``, ``promptlsp.evaluateExample``; one
argument, ``{uri}`` or ``{uri, example}``), so any client can execute them; the VS Code
extension maps them to its own commands (with its results view and confirmations).

The lenses come from the document's span map, so a half-typed file keeps the lenses of what
can be read (running them is refused until the errors are fixed).
"""

from __future__ import annotations

from typing import Iterable

from lsprotocol import types

from ..document import Analysis
from ..document.example_places import example_places
from ..document.outline import span_map
from ..document.source import Encoding, Span
from .features import Handler
from .positions import to_lsp_range
from .requests import CMD_EVALUATE, CMD_OPTIMIZE
from .run_example import CMD_RUN_EXAMPLE
from .server import PromptLanguageServer


_PROMPT_LENSES = (
    ("Evaluate", CMD_EVALUATE, "Run this prompt on its examples and score them"),
    ("Optimize", CMD_OPTIMIZE, "Estimate, then optimize this prompt on its examples"),
)


def code_lenses(uri: str, analysis: Analysis, encoding: Encoding) -> list[types.CodeLens]:
    nodes = span_map(analysis)
    if nodes is None:
        return []
    lenses = []
    source = analysis.source
    prompt = nodes.get(("prompt", "template")) or nodes.get(("prompt",))
    if prompt is not None:
        where = to_lsp_range(source, prompt.key or prompt.value, encoding)
        for title, command, tooltip in _PROMPT_LENSES:
            lenses.append(types.CodeLens(range=where, command=types.Command(
                title=title, command=command, tooltip=tooltip, arguments=[{"uri": uri}])))
    for place in example_places(analysis):
        first = source.line_span(source.line_of(place.span.start))
        where = to_lsp_range(source, Span(place.span.start, max(place.span.start, min(first.end, place.span.end))),
                             encoding)
        lenses.append(types.CodeLens(range=where, command=types.Command(
            title="Run example", command=CMD_RUN_EXAMPLE, tooltip=f"Run the prompt on {place.id} and check its answer",
            arguments=[{"uri": uri, "example": place.id}])))
    return lenses


class CodeLenses:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server

    def handlers(self) -> Iterable[Handler]:
        return (Handler(types.TEXT_DOCUMENT_CODE_LENS, self.lenses, types.CodeLensOptions(resolve_provider=False)),)

    async def lenses(self, params: types.CodeLensParams) -> list[types.CodeLens]:
        uri = params.text_document.uri
        outcome = await self.server.analyses.analyse(uri)
        if outcome is None:
            return []
        return await self.server.off_loop(code_lenses, uri, outcome[0], self.server.encoding)
