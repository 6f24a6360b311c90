"""Reading a prompt file in pieces, reusing the pieces an edit did not touch.

``blocks.split`` cuts the text at its table headers. Each ``[[examples]]`` table (with its
sub-tables) is a *unit*: read on its own — parsed (tomllib), scanned for spans, checked for
limits and validated against the example schema — and kept in the :class:`Layout` of the
text, which the next analysis of the document gets back (:class:`Pieces`). An edit is located
by the text's common prefix and suffix with the last layout's: only the pieces it touched are
cut and read again, the others are kept and moved. Everything else, the *rest* (usually a few
KB), is read again when its text changes and scanned again, in place, when pieces before it
moved. The checks across examples (duplicates, splits, variables) then run on the data, which
is cheap.

The result must equal reading the whole text at once (``analysis.analyze_whole``: the same
data, spans and diagnostics), so :func:`read` answers only when that is sure, and None
otherwise (the caller reads the whole text):

* a cut is accepted only where the text before it reads on its own as TOML — then it lies
  outside every string, array and table; a block that does not read is joined with the next
  (a ``[`` line inside a multi-line string), at most :data:`MAX_JOINS` times;
* a unit must read as exactly one ``examples`` item and nothing else, and the rest must not
  mention ``examples`` (then no key can clash across pieces);
* the limits (``limits.measure``) of the pieces add up within the document's;
* more schema errors than one diagnostic list shows: the caller validates the whole data.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field
from typing import Any

from . import blocks as blocks_module
from . import limits, schema
from . import source as source_module
from .spanmap import ComposedSpans
from .spans import Node, ScanError, ScanResult, scan, string_value

try:
    import tomllib as _toml
except ImportError:  # Python 3.10
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ImportError:
        _toml = None  # type: ignore[assignment]

MAX_JOINS = 8  # blocks joined to one that does not read on its own, before giving up


@dataclass(eq=False)
class Unit:
    """One ``[[examples]]`` table read on its own text (offsets from its start)."""

    text: str
    item: dict[str, Any]
    nodes: dict[tuple, Node]  # paths under ("examples", 0)
    duplicates: list
    # paths relative to the item; None until validated (after all pieces are read: see _validate)
    errors: tuple[schema.Located, ...] | None
    items: int  # limits.measure's counts
    tables: int
    built: Any = None  # (index, (example, split explicit, None)): what analysis last collected of it
    duplicate_key: str | None = None  # analysis's key for "repeats an earlier example"


@dataclass(frozen=True)
class _Rest:
    data: dict[str, Any]
    errors: list[schema.Located]


@dataclass(eq=False)
class Layout:
    """A text cut into pieces that each read on their own: piece ``i`` starts at ``starts[i]``
    and ends where the next starts (the last at ``len(text)``)."""

    text: str
    starts: array  # of int ("q"): no int object per piece, re-made on every edit
    results: list[Any]  # a Unit, or a rest piece's (items, tables)

    def end(self, i: int) -> int:
        return self.starts[i + 1] if i + 1 < len(self.starts) else len(self.text)


@dataclass(eq=False)
class Pieces:
    """What one analysis read, for the next one to reuse."""

    layout: Layout | None = None  # of the last text that read in pieces
    # pieces read since, by text, while the text did not read in pieces (None: does not read)
    extra: dict[str, Any] = field(default_factory=dict)
    rest: tuple[str, _Rest | None] | None = None  # the rest's text and what it reads as
    rest_scan: tuple[tuple, ScanResult] | None = None  # (text, block starts) -> spans in place


@dataclass
class Read:
    """The whole document's data and spans, as reading it at once gives them."""

    data: dict[str, Any]
    spans: ComposedSpans
    errors: list[schema.Located] | None  # None: too many to add up, validate ``data`` whole
    units: list[Unit]  # the units, in the order of data["examples"]


_MISSING = object()


class _Cache:
    """Pieces already read, by text: those of the previous layout (all, or those in ``scope``;
    indexed on first use) and those read since; records what this read adds."""

    def __init__(self, previous: Pieces) -> None:
        self.previous = previous
        self.scope: range | None = None
        self.known: dict[str, Any] | None = None
        self.added: dict[str, Any] = {}

    def limit(self, scope: range | None) -> None:
        self.scope, self.known = scope, None

    def get(self, piece: str) -> Any:
        if self.known is None:
            self.known = dict(self.previous.extra)
            layout = self.previous.layout
            if layout is not None:
                for i in self.scope if self.scope is not None else range(len(layout.results)):
                    result = layout.results[i]
                    self.known.setdefault(result.text if isinstance(result, Unit) else
                                          layout.text[layout.starts[i]:layout.end(i)], result)
        found = self.added.get(piece, _MISSING)
        return self.known.get(piece, _MISSING) if found is _MISSING else found

    def read(self, piece: str, unit: bool) -> Any:
        found = self.get(piece)
        if found is _MISSING:
            found = _read_unit(piece) if unit else _read_rest_block(piece)
            self.added[piece] = found
        # a text read as the other kind (a unit's text as rest, or the reverse) is read again
        if found is not None and isinstance(found, Unit) != unit:
            found = _read_unit(piece) if unit else _read_rest_block(piece)
        return found


def known_units(pieces: Pieces) -> dict[str, Unit]:
    """The ``[[examples]]`` tables ``pieces`` holds read (and scanned), by their text: those of
    its last layout and those read since."""
    found = {text: result for text, result in pieces.extra.items() if isinstance(result, Unit)}
    if pieces.layout is not None:
        for result in pieces.layout.results:
            if isinstance(result, Unit):
                found.setdefault(result.text, result)
    return found


def read(text: str, previous: Pieces | None) -> tuple[Read | None, Pieces]:
    """The document read in pieces (None when that might differ from reading it whole), and
    the pieces to pass to the next call for this document."""
    previous = previous or Pieces()
    cache = _Cache(previous)
    new = Pieces()
    try:
        layout = _relayout(text, previous.layout, cache)
        if layout is None:
            cache.limit(None)
            layout = _layout(text, 0, len(text), cache)
        got = None if layout is None else _compose(text, layout, previous, new)
    except (ScanError, LookupError, TypeError, ValueError):  # odd input the checks did not foresee
        layout = got = None
    if got is None:  # keep what is known for when the text reads again
        return None, Pieces(previous.layout, cache.added, new.rest or previous.rest, previous.rest_scan)
    new.layout = layout
    return got, new


def _layout(text: str, start: int, end: int, cache: _Cache) -> Layout | None:
    """``text[start:end]`` cut into pieces that read on their own (``start`` a block start that
    :func:`blocks.independent` accepts), or None."""
    cut = blocks_module.split(text, start, end)
    starts = array("q")
    results: list[Any] = []
    i = 0
    while i < len(cut):
        block, j = cut[i], i
        while True:
            # a unit takes the [examples.…] blocks after it (a "[" line inside one of its
            # strings, taken for a header, made the cut lose track of them)
            while block.unit and j + 1 < len(cut) and not blocks_module.independent(text, cut[j + 1].start):
                j += 1
            got = cache.read(text[block.start:cut[j].end], block.unit)
            if got is not None:
                break
            j += 1
            if j >= len(cut) or j - i > MAX_JOINS:
                return None
        starts.append(block.start)
        results.append(got)
        i = j + 1
    return Layout(text, starts, results)


def _relayout(text: str, old: Layout | None, cache: _Cache) -> Layout | None:
    """The layout of ``text`` from the layout of an earlier text: the pieces the edit did not
    touch are kept (moved), only the stretch between them is cut and read again. None when the
    edit is not confined to pieces that can be cut again on their own."""
    if old is None or not old.starts:
        return None
    before = old.text
    prefix = source_module.common_prefix(before, text)
    if prefix == len(before) == len(text):
        return Layout(text, old.starts, old.results)
    suffix = source_module.common_suffix(before, text, min(len(before), len(text)) - prefix)
    starts, count = old.starts, len(old.starts)
    # from the piece holding the character before the edit (its line may end in the edit) ...
    first = max(bisect.bisect_right(starts, prefix - 1) - 1, 0)
    while first > 0 and not blocks_module.independent(before, starts[first]):
        first -= 1
    # ... to the piece holding the first character after it, and those that continue it
    last = bisect.bisect_right(starts, min(len(before) - suffix, len(before) - 1)) - 1
    while last + 1 < count and not blocks_module.independent(before, starts[last + 1]):
        last += 1
    delta = len(text) - len(before)
    cache.limit(range(first, last + 1))
    middle = _layout(text, starts[first], old.end(last) + delta, cache)
    if middle is None:
        return None
    return Layout(text, starts[:first] + middle.starts + array("q", map(delta.__add__, starts[last + 1:])),
                  old.results[:first] + middle.results + old.results[last + 1:])


def _compose(text: str, layout: Layout, previous: Pieces, new: Pieces) -> Read | None:
    units: list[Unit] = []
    starts = array("q")
    ranges: list[tuple[int, int]] = []
    rest_parts: list[str] = []
    rest_starts: list[int] = []
    items = tables = 0
    for i, result in enumerate(layout.results):
        start = layout.starts[i]
        if isinstance(result, Unit):
            units.append(result)
            starts.append(start)
            ranges.append((start, start + len(result.text)))
            items += result.items
            tables += result.tables
        else:
            rest_parts.append(text[start:layout.end(i)])
            rest_starts.append(start)
            items += result[0]
            tables += result[1]
    if not units or items > limits.MAX_ITEMS or tables > limits.MAX_TABLES:
        return None
    _validate(units)
    rest = _rest(text, "".join(rest_parts), tuple(rest_starts), ranges, previous, new)
    if rest is None:
        return None
    rest_read, rest_spans = rest
    examples = [unit.item for unit in units]
    data = _with_examples(rest_read.data, examples, rest_spans, starts[0])
    errors: list[schema.Located] | None = list(rest_read.errors)
    for k, unit in enumerate(units):
        if unit.errors:
            errors.extend((("examples", k) + path, error) for path, error in unit.errors)
    if len(errors) > schema.MAX_DIAGNOSTICS:
        errors = None
    return Read(data, ComposedSpans(rest_spans, starts, units), errors, units)


def _validate(units: list[Unit]) -> None:
    """Validate the units not validated yet. Apart from reading them: the objects jsonschema
    keeps between calls are then not scattered among the units' (and do not pin the memory
    that held those once the document is closed)."""
    for unit in units:
        if unit.errors is None:
            unit.errors = tuple(schema.example_errors(unit.item)) or ()


def _read_unit(text: str) -> Unit | None:
    excess, items, tables = limits.measure(text)
    if excess is not None:
        return None
    try:
        data = _toml.loads(text)
    except Exception:  # TOMLDecodeError, or a reader bug on odd input
        return None
    examples = data.get("examples")
    if len(data) != 1 or not isinstance(examples, list) or len(examples) != 1 or not isinstance(examples[0], dict):
        return None
    try:
        spans = scan(text)
        if "\r" in text:
            restore_crlf(text, spans, data)
    except (ScanError, LookupError, TypeError):
        return None
    item = data["examples"][0]
    return Unit(text, item, spans.nodes, spans.duplicates, None, items, tables)


def _read_rest_block(text: str) -> tuple[int, int] | None:
    excess, items, tables = limits.measure(text)
    if excess is not None:
        return None
    try:
        _toml.loads(text)
    except Exception:
        return None
    return items, tables


def _rest(text: str, joined: str, starts: tuple, units: list[tuple[int, int]], old: Pieces, new: Pieces
          ) -> tuple[_Rest, ScanResult] | None:
    """The rest's data and schema errors (by its text), and its spans in place (by its text and
    where its blocks start: an edit in an example moves them)."""
    key = (joined, starts)
    spans = old.rest_scan[1] if old.rest_scan is not None and old.rest_scan[0] == key else None
    if spans is None:
        spans = scan(text, units)
    new.rest_scan = (key, spans)
    if old.rest is not None and old.rest[0] == joined:
        new.rest = old.rest
        return None if old.rest[1] is None else (old.rest[1], spans)
    rest = _read_rest(text, joined, spans)
    new.rest = (joined, rest)
    return None if rest is None else (rest, spans)


def _read_rest(text: str, joined: str, spans: ScanResult) -> _Rest | None:
    try:
        data = _toml.loads(joined)
    except Exception:
        return None
    if "examples" in data:
        return None
    if "\r" in joined:
        restore_crlf(text, spans, data)
    return _Rest(data, schema.errors({**data, "examples": []}))


def _with_examples(rest: dict[str, Any], examples: list, spans: ScanResult, first_unit: int) -> dict[str, Any]:
    """The rest's data with ``examples`` among its keys where the whole text's reading puts it
    (keys come in the order they were first defined)."""
    data: dict[str, Any] = {}
    for key, value in rest.items():
        if "examples" not in data:
            node = spans.nodes.get((key,))
            if node is not None and node.value.start > first_unit:
                data["examples"] = examples
        data[key] = value
    data.setdefault("examples", examples)
    return data


def restore_crlf(text: str, spans: ScanResult, data: dict[str, Any]) -> None:
    """Put back the CRLFs tomllib turned into LF in the multi-line strings of ``data`` (read
    from ``text``, whose spans these are); raises LookupError or TypeError when the spans do not
    fit the data, ScanError when a string cannot be decoded."""
    for node in spans.nodes.values():
        if node.kind != "string" or not text.startswith(('"""', "'''"), node.value.start):
            continue
        if "\r" not in text[node.value.start:node.value.end]:
            continue
        *parents, last = node.path
        target: Any = data
        for part in parents:
            target = target[part]
        target[last] = string_value(text, node.value.start)
