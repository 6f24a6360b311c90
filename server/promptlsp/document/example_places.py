"""Where each inline example of a prompt file is written: its id, the span of its table and the
place at the end of its id where an editor may show its last result.

Read from the span map (``outline.span_map``), so a half-typed file still has the places of the
examples that can be read; :func:`typed` gives a place's typed example when the file is valid.
A place holds no typed data, so a list of places kept for a document keeps nothing else alive. Places are in
text order, so the examples in a range of the text are found by bisection (:func:`between`),
not by a walk over every example of a 5,000-example file.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .model import Example, PromptFile
from .outline import decoded, span_map
from .source import Span
from .spans import Node


@dataclass(frozen=True)
class ExamplePlace:
    index: int  # in the file's examples array
    id: str  # as the typed model names it: the id value, else "#<index + 1>" (see ``named``)
    span: Span  # the whole table, header (or opening brace) to its last value
    anchor: int  # the end of the id value, else the end of the table's first line
    # whether ``id`` is certain: written in the file, or counted in a file read whole (in a
    # half-typed file the tables that cannot be read are not counted)
    certain: bool = True


def _id(text: str, nodes: Mapping[tuple, Node], index: int) -> tuple[str, Node | None]:
    node = nodes.get(("examples", index, "id"))
    value = None
    if node is not None:
        value = decoded(text, node) if node.kind == "string" else text[node.value.start:node.value.end]
    return (value if value is not None else f"#{index + 1}"), node


def example_places(analysis: Any) -> list[ExamplePlace]:
    """The places of the file's inline examples, in text order ([] when nothing can be read)."""
    nodes = span_map(analysis)
    if nodes is None:
        return []
    text, source = analysis.text, analysis.source
    whole = analysis.spans is not None
    places = []
    index = 0
    while (node := nodes.get(("examples", index))) is not None:
        start = node.value.start if node.key is None or node.kind == "inline-table" else min(node.key.start, node.value.start)
        span = Span(start, max(node.value.end, start))
        ident, id_node = _id(text, nodes, index)
        anchor = id_node.value.end if id_node is not None else source.line_span(source.line_of(start)).end
        if node.kind == "inline-table" and id_node is None:
            anchor = span.end  # one line may hold several inline tables: after this one
        places.append(ExamplePlace(index, ident, span, anchor, whole or id_node is not None))
        index += 1
    places.sort(key=lambda p: p.span.start)
    return places


def between(places: Sequence[ExamplePlace], start: int, end: int) -> list[ExamplePlace]:
    """The places whose anchor lies in ``[start, end]`` (``places`` in text order)."""
    anchors = [p.anchor for p in places]  # in text order too: each anchor lies inside its table
    return list(places[bisect.bisect_left(anchors, start):bisect.bisect_right(anchors, end)])


def at(places: Sequence[ExamplePlace], offset: int) -> ExamplePlace | None:
    """The place whose table holds ``offset``, else None."""
    starts = [p.span.start for p in places]
    i = bisect.bisect_right(starts, offset) - 1
    if i >= 0 and places[i].span.start <= offset <= places[i].span.end:
        return places[i]
    return None


def typed(prompt: PromptFile | None, place: ExamplePlace) -> Example | None:
    """The typed example written at ``place`` (None while the file has errors)."""
    if prompt is None:
        return None
    path = ("examples", place.index)
    examples = prompt.examples
    # inline examples come first, in order, in a valid file; checked, else looked for
    if place.index < len(examples) and examples[place.index].origin.path == path and examples[place.index].origin.file is None:
        return examples[place.index]
    return next((e for e in examples if e.origin.file is None and e.origin.path == path), None)
