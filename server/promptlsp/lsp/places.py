"""Each open document's example places (``document/example_places.py``), kept for its latest
analysis: inlay hints, code lenses and "Run example" at a position share one list per version.
The analysis is held weakly, so a closed document's analysis is let go (its places follow on
the next look-up)."""

from __future__ import annotations

import threading
import weakref

from ..document import Analysis
from ..document.example_places import ExamplePlace, example_places


class ExamplePlaces:
    def __init__(self) -> None:
        self._kept: dict[str, tuple[weakref.ref, list[ExamplePlace]]] = {}
        self._lock = threading.Lock()  # looked up on the server's executor threads

    def of(self, uri: str, analysis: Analysis) -> list[ExamplePlace]:
        """The example places of ``analysis`` (the latest of document ``uri``)."""
        with self._lock:
            known = self._kept.get(uri)
        if known is not None and known[0]() is analysis:
            return known[1]
        places = example_places(analysis)
        with self._lock:
            for gone in [u for u, (ref, _) in self._kept.items() if ref() is None]:
                del self._kept[gone]
            self._kept[uri] = (weakref.ref(analysis), places)
        return places
