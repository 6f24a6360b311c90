"""Code lenses: "Evaluate" and "Optimize" on the prompt's ``template`` key (else its table),
"Run example" on each inline example's first line. Each runs one of the server's own
commands (``promptlsp.evaluate``, ``promptlsp.optimize``, ``promptlsp.evaluateExample``; one
argument, ``{uri}`` or ``{uri, example}``), so any client can execute them; the VS Code
extension maps them to its own commands (with its results view and confirmations).

A file of 5,000 examples has 5,000 "Run example" lenses: they are sent without their command
(a range and ``data: [uri, example id]``) and resolved (``codeLens/resolve``) when the client
shows them — the full lenses would cost ten times as much to build and send. The lenses come
from the document's span map, so a half-typed file keeps the lenses of what can be read
(running them is refused until the errors are fixed).
"""

from __future__ import annotations

from typing import Any, Iterable

from lsprotocol import types

from ..document import Analysis
from ..document.example_places import ExamplePlace
from ..document.outline import span_map
from ..document.source import Encoding
from .custom_protocol import CMD_EVALUATE, CMD_OPTIMIZE, CMD_RUN_EXAMPLE
from .features import Handler
from .positions import range_json
from .protocol import PlainJSON
from .server import PromptLanguageServer

_PROMPT_LENSES = (
    ("Evaluate", CMD_EVALUATE, "Run this prompt on its examples and score them"),
    ("Optimize", CMD_OPTIMIZE, "Estimate, then optimize this prompt on its examples"),
)


def run_example_command(uri: str, example_id: str) -> types.Command:
    return types.Command(title="Run example", command=CMD_RUN_EXAMPLE,
                         tooltip=f"Run the prompt on {example_id} and check its answer",
                         arguments=[{"uri": uri, "example": example_id}])


def code_lenses(uri: str, analysis: Analysis, places: list[ExamplePlace], encoding: Encoding) -> PlainJSON:
    """``CodeLens[]`` in its JSON form (5,000 examples are 5,000 lenses: see ``PlainJSON``)."""
    nodes = span_map(analysis)
    if nodes is None:
        return PlainJSON()
    lenses = PlainJSON()
    source = analysis.source
    prompt = nodes.get(("prompt", "template")) or nodes.get(("prompt",))
    if prompt is not None:
        where = range_json(source, prompt.key or prompt.value, encoding)
        for title, command, tooltip in _PROMPT_LENSES:
            lenses.append({"range": where, "command": {"title": title, "command": command, "tooltip": tooltip,
                                                       "arguments": [{"uri": uri}]}})
    for place in (p for p in places if p.certain):  # an unsure "#n" of a half-typed file could run another
        at = source.position(place.span.start, encoding)  # the table's first character
        start = {"line": at.line, "character": at.character}
        lenses.append({"range": {"start": start, "end": start}, "data": [uri, place.id]})
    return lenses


class CodeLenses:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server

    def handlers(self) -> Iterable[Handler]:
        return (Handler(types.TEXT_DOCUMENT_CODE_LENS, self.lenses, types.CodeLensOptions(resolve_provider=True)),
                Handler(types.CODE_LENS_RESOLVE, self.resolve))

    async def lenses(self, params: types.CodeLensParams) -> PlainJSON:
        uri = params.text_document.uri
        outcome = await self.server.analyses.analyse(uri)
        if outcome is None:
            return PlainJSON()
        analysis = outcome[0]

        def build() -> PlainJSON:
            return code_lenses(uri, analysis, self.server.places.of(uri, analysis), self.server.encoding)

        return await self.server.off_loop(build)

    async def resolve(self, lens: types.CodeLens) -> types.CodeLens:
        data: Any = lens.data
        if isinstance(data, (list, tuple)) and len(data) == 2 and all(isinstance(v, str) for v in data):
            lens.command = run_example_command(data[0], data[1])
        return lens
