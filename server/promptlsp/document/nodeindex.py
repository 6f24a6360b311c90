"""Which key or value lies under an offset, without walking every node (for hovers).

The rule (:func:`rank`): of the key and value spans that contain the offset (ends included), the
shortest wins; on a tie the deeper path, then the path that sorts first. It does not depend on
the order the nodes were found in, so a document's span map read in one piece and the same map
assembled from pieces (``spanmap.py``) answer alike.

:class:`NodeIndex` puts each span in the fixed-width buckets of the offsets it covers; the few
long spans (whole tables, arrays of tables) are kept aside and checked every time. A query looks
at one bucket and the long spans: constant time for realistic files, whatever their size.
"""

from __future__ import annotations

from typing import Any, Iterable

BUCKET = 256  # offsets per bucket
LONG = 16 * BUCKET  # spans longer than this are checked on every query instead of bucketed


def rank(span: Any, node: Any) -> tuple:
    """Smaller is a better answer (see the module docstring)."""
    return (span.end - span.start, -len(node.path), repr(node.path))


def best(candidates: Iterable[tuple[Any, Any]], offset: int) -> Any | None:
    """The node of the best (span, node) pair whose span contains ``offset``."""
    found: tuple | None = None
    node_found = None
    for span, node in candidates:
        if span.start <= offset <= span.end:
            key = rank(span, node)
            if found is None or key < found:
                found, node_found = key, node
    return node_found


def spans_of(node: Any) -> Iterable[tuple[Any, Any]]:
    if node.key is not None:
        yield node.key, node
    yield node.value, node


class NodeIndex:
    """Buckets of (span, node) pairs for :meth:`at` queries."""

    def __init__(self, nodes: Iterable[Any]) -> None:
        self._buckets: dict[int, list[tuple[Any, Any]]] = {}
        self._long: list[tuple[Any, Any]] = []
        for node in nodes:
            for span, owner in spans_of(node):
                if span.end - span.start > LONG:
                    self._long.append((span, owner))
                    continue
                for b in range(span.start // BUCKET, span.end // BUCKET + 1):
                    self._buckets.setdefault(b, []).append((span, owner))

    def candidates(self, offset: int) -> list[tuple[Any, Any]]:
        return self._buckets.get(offset // BUCKET, []) + self._long

    def at(self, offset: int) -> Any | None:
        return best(self.candidates(offset), offset)
