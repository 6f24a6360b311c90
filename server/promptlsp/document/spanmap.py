"""The span map of a document read in pieces (``pieces.py``), assembled on demand.

Everything but the ``[[examples]]`` tables is scanned in place (``rest``, true offsets); each
example's table was scanned on its own text, as ``examples[0]``, and is placed here at its
offset as ``examples[k]`` only when asked for. The result answers like the
:class:`~promptlsp.document.spans.ScanResult` of the whole text: the same paths, the same spans.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any, Iterator, Sequence

from .nodeindex import NodeIndex, best, spans_of
from .source import Span
from .spans import Node, Path, ScanResult, moved

EXAMPLES: Path = ("examples",)
_FIRST: Path = ("examples", 0)


class ComposedSpans(Mapping):
    """``rest`` plus units placed at ``starts``; is its own ``nodes`` mapping."""

    def __init__(self, rest: ScanResult, starts: Sequence[int], units: Sequence[Any]) -> None:
        self.rest = rest
        self.starts = starts
        self.units = list(units)  # each with .nodes (local, under examples[0]) and .duplicates
        self._placed: dict[Path, Node | None] = {}
        self._index: NodeIndex | None = None
        first = self.units[0].nodes[EXAMPLES]
        last = self.units[-1].nodes[EXAMPLES]
        head = moved(first, EXAMPLES, self.starts[0])
        self.array = Node(EXAMPLES, head.key, Span(head.value.start, last.value.end + self.starts[-1]), first.kind)

    @property
    def nodes(self) -> "ComposedSpans":
        return self

    @property
    def duplicates(self) -> list[tuple[Path, Span, Span | None]]:
        found = list(self.rest.duplicates)
        for k, (start, unit) in enumerate(zip(self.starts, self.units)):
            for path, second, first in unit.duplicates:
                found.append((_placed_path(path, k), _moved(second, start), None if first is None else _moved(first, start)))
        return found

    # -- the mapping ----------------------------------------------------------------------
    def get(self, path: Any, default: Any = None) -> Any:
        path = tuple(path)
        if len(path) >= 2 and path[0] == "examples" and type(path[1]) is int:
            if path in self._placed:
                found = self._placed[path]
            else:
                found = self._place(path)
                self._placed[path] = found
            return default if found is None else found
        if path == EXAMPLES:
            return self.array
        return self.rest.nodes.get(path, default)

    def _place(self, path: Path) -> Node | None:
        k = path[1]
        if not 0 <= k < len(self.units):
            return None
        local = self.units[k].nodes.get(_FIRST + path[2:])
        return None if local is None else moved(local, path, self.starts[k])

    def __getitem__(self, path: Any) -> Node:
        found = self.get(path)
        if found is None:
            raise KeyError(path)
        return found

    def __iter__(self) -> Iterator[Path]:
        yield from self.rest.nodes
        yield EXAMPLES
        for k, unit in enumerate(self.units):
            for local in unit.nodes:
                if local != EXAMPLES:
                    yield _placed_path(local, k)

    def __bool__(self) -> bool:  # a span map is there (as a ScanResult is), even if empty
        return True

    def __len__(self) -> int:
        return len(self.rest.nodes) + 1 + sum(len(unit.nodes) - 1 for unit in self.units)

    # -- hovers -----------------------------------------------------------------------------
    def node_at(self, offset: int) -> Node | None:
        """As :meth:`ScanResult.node_at`: the rest's nodes from an index, the unit under
        ``offset`` by bisection."""
        if self._index is None:
            self._index = NodeIndex([*self.rest.nodes.values(), self.array])
        candidates = self._index.candidates(offset)
        k = bisect.bisect_right(self.starts, offset) - 1
        if k >= 0:
            for local in self.units[k].nodes:
                if local != EXAMPLES:
                    node = self.get(_placed_path(local, k))
                    candidates.extend(spans_of(node))
        return best(candidates, offset)


def _placed_path(local: Path, k: int) -> Path:
    return ("examples", k) + local[2:]


def _moved(span: Span, delta: int) -> Span:
    return Span(span.start + delta, span.end + delta)
