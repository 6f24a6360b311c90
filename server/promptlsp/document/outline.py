"""A prompt file's outline: its prompt, models, criteria and examples (grouped by split) and
datasets, each with the span of its whole entry and of its name; and the spans worth folding.

Everything comes from the analysis's span map (``spans.py``): names are read from the text
at their spans, so the outline does not need the file to be valid. A file the TOML reader
refuses (half typed) has no span map; then its blocks (``blocks.py``) that scan on their own
are scanned in place, the others passed over, and the outline shows what they hold. In an
editor (the analysis has pieces, ``pieces.py``) the ``[[examples]]`` tables an earlier version
already read are not scanned again: their nodes are placed (``spanmap.ComposedSpans``) around
the rest, scanned in place — the same nodes a scan of the whole text gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from . import blocks, limits, pieces
from .source import Span
from .spanmap import ComposedSpans
from .spans import Node, ScanError, ScanResult, string_value
from .spans import scan as scan_text

_SCAN_ERRORS = (ScanError, LookupError, ValueError, RecursionError)

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Entry:
    """One outline entry. ``kind``: prompt, string, models, model, criteria, criterion,
    examples, split, example, datasets, dataset."""

    name: str
    kind: str
    span: Span  # the whole entry (key to value end, or table header to its last value)
    selection: Span  # its name: the key, header, ``name``/``id`` value
    detail: str | None = None
    children: tuple["Entry", ...] = field(default_factory=tuple)


def span_map(analysis: Any) -> Mapping[tuple, Node] | None:
    """The analysis's span map, else (a text the reader refused) the nodes of the blocks that
    scan on their own; None when neither can be had."""
    if analysis.spans is not None:
        return analysis.spans.nodes
    text = analysis.text
    within = getattr(analysis, "within_limits", None)  # checked already when the text was read whole
    if not text or within is False or (within is None and limits.check(text) is not None):
        return None
    known = pieces.known_units(analysis.pieces) if analysis.pieces is not None else {}
    bad: list[tuple[int, int]] = []
    units: list[tuple[int, int, Any]] = []  # (start, end, its nodes and duplicates) of unit blocks that scan
    for block in blocks.split(text):
        piece = text[block.start:block.end]
        scanned: Any = known.get(piece) if block.unit else None
        if scanned is None:
            try:
                scanned = scan_text(piece)
            except _SCAN_ERRORS:
                bad.append((block.start, block.end))
                continue
        if block.unit:
            units.append((block.start, block.end, scanned))
    if analysis.pieces is not None and units:
        composed = _composed(text, bad, units)
        if composed is not None:
            return composed
    try:
        return scan_text(text, bad).nodes
    except _SCAN_ERRORS:
        return None


def _composed(text: str, bad: list[tuple[int, int]], units: list[tuple[int, int, Any]]) -> Mapping[tuple, Node] | None:
    """The whole text's span map (``bad`` blocks passed over) from the ``units`` (each scanned
    on its own text) placed around the rest, scanned in place; None when that might differ:
    the rest does not scan, or it has nodes under ``examples`` (a table or key the units'
    numbering or nodes would depend on)."""
    skip = sorted(bad + [(start, end) for start, end, _ in units])
    try:
        rest: ScanResult = scan_text(text, skip)
    except _SCAN_ERRORS:
        return None
    if any(path[:1] == ("examples",) for path in rest.nodes):
        return None
    return ComposedSpans(rest, [start for start, _, _ in units], [scanned for _, _, scanned in units]).nodes


def outline(analysis: Any) -> list[Entry]:
    """The outline of an analysed prompt file (empty when nothing of it can be read)."""
    nodes = span_map(analysis)
    if nodes is None:
        return []
    reader = _Reader(analysis.text, nodes)
    entries = [
        reader.prompt(),
        reader.models(),
        reader.criteria(),
        reader.examples(_splits(analysis)),
        reader.datasets(),
    ]
    return [e for e in entries if e is not None]


def folds(analysis: Any) -> list[Span]:
    """Spans to fold: the prompt table, each criterion and each example (in text order)."""
    nodes = span_map(analysis)
    if nodes is None:
        return []
    found = []
    prompt = nodes.get(("prompt",))
    if prompt is not None:
        found.append(_whole(prompt))
    for group in ("criteria", "examples"):
        found.extend(_whole(node) for _, node in _items(nodes, group))
    return sorted(found, key=lambda s: (s.start, s.end))


def _splits(analysis: Any) -> dict[int, str]:
    """Inline example index → its split, as the typed model assigned them (a valid file)."""
    prompt = getattr(analysis, "prompt", None)
    if prompt is None:
        return {}
    found = {}
    for example in prompt.examples:
        path = example.origin.path
        if example.origin.file is None and len(path) == 2 and path[0] == "examples":
            found[path[1]] = example.split
    return found


def decoded(text: str, node: Node) -> str | None:
    """The decoded value of a string node (as its string map indexes it), else None."""
    smap = node.string
    if node.kind != "string" or smap is None:
        return None
    if smap.offsets is None:
        return text[smap.first:smap.first + smap.length]
    try:
        return string_value(text, node.value.start)
    except (ScanError, LookupError, ValueError):
        return None


def _whole(node: Node) -> Span:
    start = node.value.start if node.key is None else min(node.key.start, node.value.start)
    return Span(start, max(node.value.end, start))


def _union(spans: Iterable[Span]) -> Span:
    spans = list(spans)
    return Span(min(s.start for s in spans), max(s.end for s in spans))


def _items(nodes: Mapping[tuple, Node], group: str) -> Iterable[tuple[int, Node]]:
    i = 0
    while True:
        node = nodes.get((group, i))
        if node is None:
            return
        yield i, node
        i += 1


class _Reader:
    def __init__(self, text: str, nodes: Mapping[tuple, Node]) -> None:
        self.text = text
        self.nodes = nodes

    def value(self, path: tuple) -> str | None:
        """The value at ``path`` as text: a string decoded, a scalar as written; else None."""
        node = self.nodes.get(path)
        if node is None:
            return None
        if node.kind == "string":
            return decoded(self.text, node)
        if node.kind == "scalar":
            return self.text[node.value.start:node.value.end]
        return None

    def selection(self, node: Node, *names: str, path: tuple) -> Span:
        for name in names:
            named = self.nodes.get(path + (name,))
            if named is not None and named.kind == "string" and named.string is not None:
                return named.string.content  # the name inside its quotes
            if named is not None and named.kind == "scalar":
                return named.value
        return node.key if node.key is not None else node.value

    def group(self, name: str, kind: str, node: Node | None, children: list[Entry]) -> Entry | None:
        if node is None and not children:
            return None
        spans = [c.span for c in children] + ([_whole(node)] if node is not None else [])
        selection = (node.key or node.value) if node is not None else children[0].selection
        span = _union(spans + [selection])
        return Entry(name, kind, span, selection, None, tuple(children))

    def prompt(self) -> Entry | None:
        node = self.nodes.get(("prompt",))
        children = []
        for key in ("system", "template"):
            child = self.nodes.get(("prompt", key))
            if child is not None:
                value = self.value(("prompt", key))
                detail = None if value is None else _first_line(value)
                children.append(Entry(key, "string", _whole(child), child.key or child.value, detail))
        return self.group("prompt", "prompt", node, children)

    def models(self) -> Entry | None:
        node = self.nodes.get(("models",))
        children = []
        for role in ("task", "judge", "optimizer"):
            child = self.nodes.get(("models", role))
            if child is None:
                continue
            model = self.value(("models", role)) if child.kind == "string" else self.value(("models", role, "model"))
            children.append(Entry(role, "model", _whole(child), child.key or child.value, model))
        return self.group("models", "models", node, children)

    def criteria(self) -> Entry | None:
        children = []
        for i, node in _items(self.nodes, "criteria"):
            path = ("criteria", i)
            name, kind = self.value(path + ("name",)), self.value(path + ("type",))
            label = name or kind or f"criterion {i + 1}"
            selection = self.selection(node, "name", "type", path=path)
            children.append(Entry(label, "criterion", _whole(node), selection, kind if name else None))
        return self.group("criteria", "criteria", self.nodes.get(("criteria",)), children)

    def examples(self, assigned: dict[int, str]) -> Entry | None:
        by_split: dict[str, list[Entry]] = {}
        for i, node in _items(self.nodes, "examples"):
            path = ("examples", i)
            ident = self.value(path + ("id",))
            split = assigned.get(i) or self.value(path + ("split",))
            split = split if split in SPLITS else "train"
            label = ident if ident else f"example {i + 1}"
            entry = Entry(label, "example", _whole(node), self.selection(node, "id", path=path))
            by_split.setdefault(split, []).append(entry)
        groups = []
        for split in sorted(by_split, key=SPLITS.index):
            members = by_split[split]
            span = _union(e.span for e in members)
            groups.append(Entry(split, "split", span, members[0].selection, f"{len(members)} examples"
                                if len(members) != 1 else "1 example", tuple(members)))
        return self.group("examples", "examples", self.nodes.get(("examples",)), groups)

    def datasets(self) -> Entry | None:
        children = []
        for i, node in _items(self.nodes, "datasets"):
            path = self.value(("datasets", i, "path"))
            selection = self.selection(node, "path", path=("datasets", i))
            children.append(Entry(path or f"dataset {i + 1}", "dataset", _whole(node), selection))
        return self.group("datasets", "datasets", self.nodes.get(("datasets",)), children)


def _first_line(value: str, width: int = 60) -> str:
    line = value.strip().splitlines()[0] if value.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
