"""Exact source spans for every key and value of a TOML document.

tomlkit parses and edits the file (it preserves formatting and comments) but does not say
*where* a value is. This module scans the same text and records, for every key path such as
``("examples", 3, "vars", "review")``, the span of its key and of its value. For strings it
also records where each *decoded* character came from, so a critique that quotes words inside
a multi-line template can be underlined exactly, across escapes, CRLF line ends and
line-ending backslashes.

The scanner assumes text that tomlkit accepted (plus one case tomlkit rejects: a key defined
twice, which it reports without an exact position — ``duplicates`` gives it). Anything it does
not understand raises :class:`ScanError`; callers then degrade to coarse ranges rather than fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

from .nodeindex import NodeIndex
from .source import Span

Key = Union[str, int]
Path = tuple[Key, ...]


class ScanError(ValueError):
    """The text is not TOML this scanner understands (callers degrade gracefully)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset


@dataclass(frozen=True, slots=True)
class StringMap:
    """Maps indices of a decoded TOML string to offsets in the source text.

    ``offsets[i]`` is the source offset of decoded character ``i`` (the start of its escape
    sequence when it was escaped); ``offsets[len(value)]`` is the content's end. ``None`` means
    the identity shift ``content_start + i`` (literal strings, or basic ones without escapes).
    """

    content: Span
    first: int  # offset of decoded character 0 (after a trimmed leading newline)
    length: int
    offsets: tuple[int, ...] | None = None
    escapes: Mapping[int, int] | None = None  # decoded index -> length of its escape sequence

    def source_offset(self, index: int) -> int:
        index = max(0, min(index, self.length))
        if self.offsets is None:
            return self.first + index
        return self.offsets[index]

    def moved(self, delta: int) -> "StringMap":
        """The same map for the string ``delta`` characters further on."""
        content = Span(self.content.start + delta, self.content.end + delta)
        offsets = None if self.offsets is None else tuple(map(delta.__add__, self.offsets))
        return StringMap(content, self.first + delta, self.length, offsets, self.escapes)

    def source_span(self, start: int, end: int) -> Span:
        """The source span of decoded characters ``[start, end)``."""
        if end <= start:
            at = self.source_offset(start)
            return Span(at, at)
        end = min(end, self.length)
        last = self.source_offset(end - 1)
        # The end is just past the last character's own source text (its escape, if escaped).
        width = self.escapes.get(end - 1, 1) if self.escapes else 1
        return Span(self.source_offset(start), last + width)


@dataclass(slots=True)
class Node:
    path: Path
    key: Span | None
    value: Span
    kind: str  # table | array-of-tables | array | inline-table | string | scalar
    string: StringMap | None = None
    implicit: bool = False


def moved(node: Node, path: Path, delta: int) -> Node:
    """``node`` at ``path``, ``delta`` characters further on."""
    key = None if node.key is None else Span(node.key.start + delta, node.key.end + delta)
    value = Span(node.value.start + delta, node.value.end + delta)
    string = None if node.string is None else node.string.moved(delta)
    return Node(path, key, value, node.kind, string, node.implicit)


@dataclass
class ScanResult:
    nodes: dict[Path, Node] = field(default_factory=dict)
    # (path, span of the second definition's key, span of the first) for keys defined twice
    duplicates: list[tuple[Path, Span, Span | None]] = field(default_factory=list)
    _index: NodeIndex | None = field(default=None, repr=False, compare=False)

    def node_at(self, offset: int) -> Node | None:
        """The innermost key or value containing ``offset`` (``nodeindex.rank``); the index is
        built on the first call."""
        if self._index is None:
            self._index = NodeIndex(self.nodes.values())
        return self._index.at(offset)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_WS = re.compile(r"[ \t]*")
_SCALAR = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?"
    r"|[^\s,\]\}#]+"
)
_SIMPLE_ESCAPES = {
    "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_PLAIN_ONE_LINE = re.compile(r'[^\\"\r\n]+')
_PLAIN_MULTILINE = re.compile(r'[^\\"]+')


class _Scanner:
    def __init__(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.skip = skip  # (start, end) of line-aligned pieces to pass over, in order
        self.result = ScanResult()
        self._aot_counts: dict[Path, int] = {}
        self._defined: dict[Path, Span] = {}

    # -- low level -------------------------------------------------------------------------
    def _peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < self.n else ""

    def _skip_ws(self) -> None:
        self.pos = _WS.match(self.text, self.pos).end()

    def _skip_comment(self) -> None:
        if self._peek() == "#":
            nl = self.text.find("\n", self.pos)
            self.pos = self.n if nl < 0 else nl
            if self.pos > 0 and self.text[self.pos - 1] == "\r":
                self.pos -= 1

    def _skip_newline(self) -> bool:
        if self.text.startswith("\r\n", self.pos):
            self.pos += 2
            return True
        if self._peek() == "\n":
            self.pos += 1
            return True
        return False

    def _skip_blank(self) -> None:
        """Whitespace, comments and newlines (inside arrays and inline tables)."""
        while True:
            before = self.pos
            self._skip_ws()
            self._skip_comment()
            self._skip_newline()
            if self.pos == before:
                return

    def _expect(self, ch: str) -> None:
        if self._peek() != ch:
            raise ScanError(f"expected {ch!r}", self.pos)
        self.pos += 1

    # -- recording ---------------------------------------------------------------------------
    def _add(self, node: Node, *, explicit: bool) -> None:
        nodes = self.result.nodes
        if explicit:
            first = self._defined.get(node.path)
            if first is not None:
                self.result.duplicates.append((node.path, node.key or node.value, first))
                return
            self._defined[node.path] = node.key or node.value
            nodes[node.path] = node
        elif node.path not in nodes:
            nodes[node.path] = node

    def _extend(self, path: Path, end: int) -> None:
        nodes = self.result.nodes
        for i in range(1, len(path) + 1):
            node = nodes.get(path[:i])
            if node is not None and node.kind in ("table", "array-of-tables") and node.value.end < end:
                node.value = Span(node.value.start, end)

    # -- keys --------------------------------------------------------------------------------
    def _key(self) -> list[tuple[str, Span]]:
        parts: list[tuple[str, Span]] = []
        while True:
            self._skip_ws()
            start = self.pos
            ch = self._peek()
            if ch == '"' or ch == "'":
                value, _, span = self._string()
                parts.append((value, span))
            else:
                m = _BARE_KEY.match(self.text, self.pos)
                if not m:
                    raise ScanError("expected a key", self.pos)
                self.pos = m.end()
                parts.append((m.group(), Span(start, self.pos)))
            self._skip_ws()
            if self._peek() != ".":
                return parts
            self.pos += 1

    # -- strings -----------------------------------------------------------------------------
    def _string(self) -> tuple[str, StringMap, Span]:
        start = self.pos
        text = self.text
        if text.startswith('"""', start):
            return self._multiline(start, '"', basic=True)
        if text.startswith("'''", start):
            return self._multiline(start, "'", basic=False)
        quote = text[start]
        self.pos += 1
        content_start = self.pos
        if quote == "'":
            end = text.find("'", self.pos)
            if end < 0 or "\n" in text[self.pos:end]:
                raise ScanError("unterminated literal string", start)
            self.pos = end + 1
            value = text[content_start:end]
            return value, StringMap(Span(content_start, end), content_start, len(value)), Span(start, self.pos)
        value, offsets, escapes = self._decode_basic(content_start, closing='"', multiline=False)
        end = self.pos
        self.pos += 1
        smap = StringMap(Span(content_start, end), content_start, len(value), offsets, escapes)
        return value, smap, Span(start, self.pos)

    def _multiline(self, start: int, quote: str, *, basic: bool) -> tuple[str, StringMap, Span]:
        text = self.text
        self.pos = start + 3
        content_start = self.pos
        if text.startswith("\r\n", self.pos):
            self.pos += 2
        elif self._peek() == "\n":
            self.pos += 1
        first = self.pos
        delim = quote * 3
        escapes = None
        if basic:
            value, offsets, escapes = self._decode_basic(first, closing=delim, multiline=True)
            close = self.pos
        else:
            close = text.find(delim, first)
            if close < 0:
                raise ScanError("unterminated multi-line literal string", start)
            value, offsets = None, None
        # Up to two quotes right before the closing delimiter belong to the content.
        extra = 0
        while extra < 2 and text.startswith(quote, close + 3 + extra):
            extra += 1
        if basic and extra:
            assert value is not None
            value += quote * extra
            if offsets is not None:
                offsets = offsets[:-1] + tuple(range(close, close + extra + 1))
        close += extra
        if not basic:
            value = text[first:close]
        self.pos = close + 3
        smap = StringMap(Span(content_start, close), first, len(value), offsets, escapes)
        return value, smap, Span(start, self.pos)

    def _decode_basic(
        self, i: int, *, closing: str, multiline: bool
    ) -> tuple[str, tuple[int, ...] | None, dict[int, int] | None]:
        """Decode a basic string from offset ``i`` up to ``closing``; leaves pos on the closer."""
        text, n = self.text, self.n
        end = text.find(closing, i)
        if end >= 0:  # most strings have no escape: the content is the value, offsets a shift
            chunk = text[i:end]
            if "\\" not in chunk and (multiline or ("\n" not in chunk and "\r" not in chunk)):
                self.pos = end
                return chunk, None, None
        out: list[str] = []
        offsets: list[int] = []
        escapes: dict[int, int] = {}
        skipped = False  # a line-ending backslash removed text: offsets are no longer a shift
        plain = _PLAIN_MULTILINE if multiline else _PLAIN_ONE_LINE
        decoded = 0  # characters decoded so far
        while True:
            run = plain.match(text, i)  # a run of ordinary characters, taken whole
            if run is not None:
                out.append(run.group())
                offsets.extend(range(i, run.end()))
                decoded += run.end() - i
                i = run.end()
            if i >= n:
                raise ScanError("unterminated string", i)
            if text.startswith(closing, i):
                break
            ch = text[i]
            if ch == "\\":
                nxt = text[i + 1] if i + 1 < n else ""
                if multiline and nxt in (" ", "\t", "\r", "\n"):
                    j = _WS.match(text, i + 1).end()
                    if not text.startswith(("\n", "\r\n"), j):
                        raise ScanError("invalid line-ending backslash", i)
                    while j < n and text[j] in " \t\r\n":
                        j += 1
                    i = j
                    skipped = True
                    continue
                if nxt in _SIMPLE_ESCAPES:
                    escapes[decoded] = 2
                    out.append(_SIMPLE_ESCAPES[nxt])
                    offsets.append(i)
                    decoded += 1
                    i += 2
                    continue
                width = _HEX_ESCAPES.get(nxt)
                if width is None:
                    raise ScanError("invalid escape", i)
                digits = text[i + 2:i + 2 + width]
                try:
                    out.append(chr(int(digits, 16)))
                except ValueError as exc:
                    raise ScanError("invalid escape", i) from exc
                escapes[decoded] = 2 + width
                offsets.append(i)
                decoded += 1
                i += 2 + width
                continue
            if not multiline and ch in "\r\n":
                raise ScanError("newline in basic string", i)
            out.append(ch)  # a quote that does not close a multi-line string
            offsets.append(i)
            decoded += 1
            i += 1
        self.pos = i
        offsets.append(i)
        identity = not escapes and not skipped
        return "".join(out), (None if identity else tuple(offsets)), (escapes or None)

    # -- values ------------------------------------------------------------------------------
    def _value(self, path: Path, key: Span | None) -> Span:
        start = self.pos
        ch = self._peek()
        if ch == '"' or ch == "'":
            _, smap, span = self._string()
            self._add(Node(path, key, span, "string", smap), explicit=False)
            return span
        if ch == "[":
            self.pos += 1
            node = Node(path, key, Span(start, start), "array")
            self._add(node, explicit=False)
            index = 0
            while True:
                self._skip_blank()
                if self._peek() == "]":
                    break
                self._value(path + (index,), None)
                index += 1
                self._skip_blank()
                if self._peek() == ",":
                    self.pos += 1
                    continue
                if self._peek() != "]":
                    raise ScanError("expected ',' or ']'", self.pos)
            self.pos += 1
            node.value = Span(start, self.pos)
            return node.value
        if ch == "{":
            self.pos += 1
            node = Node(path, key, Span(start, start), "inline-table")
            self._add(node, explicit=False)
            while True:
                self._skip_blank()
                if self._peek() == "}":
                    break
                self._keyval(path)
                self._skip_blank()
                if self._peek() == ",":
                    self.pos += 1
                    continue
                if self._peek() != "}":
                    raise ScanError("expected ',' or '}'", self.pos)
            self.pos += 1
            node.value = Span(start, self.pos)
            return node.value
        m = _SCALAR.match(self.text, self.pos)
        if not m:
            raise ScanError("expected a value", self.pos)
        self.pos = m.end()
        span = Span(start, self.pos)
        self._add(Node(path, key, span, "scalar"), explicit=False)
        return span

    def _keyval(self, table: Path) -> int:
        parts = self._key()
        self._expect("=")
        self._skip_ws()
        path = table
        for name, span in parts[:-1]:
            path = path + (name,)
            self._add(Node(path, span, span, "table", implicit=True), explicit=False)
        leaf, leaf_span = parts[-1]
        path = path + (leaf,)
        if path in self._defined:
            self.result.duplicates.append((path, leaf_span, self._defined[path]))
            value_start = self.pos
            self._value(("\0duplicate",) + path, leaf_span)
            self.result.nodes.pop(("\0duplicate",) + path, None)
            return value_start
        self._defined[path] = leaf_span
        end = self._value(path, leaf_span).end
        # Implicit dotted-key tables span from their key to the end of the value.
        for i in range(len(table) + 1, len(path)):
            node = self.result.nodes.get(path[:i])
            if node is not None and node.implicit and node.value.end < end:
                node.value = Span(node.value.start, end)
        return end

    # -- tables ------------------------------------------------------------------------------
    def _resolve(self, parts: list[tuple[str, Span]], header: Span) -> Path:
        path: Path = ()
        for name, span in parts[:-1]:
            path = path + (name,)
            self._add(Node(path, span, header, "table", implicit=True), explicit=False)
            count = self._aot_counts.get(path)
            if count:
                path = path + (count - 1,)
        return path + (parts[-1][0],)

    def _header(self) -> Path:
        start = self.pos
        is_array = self.text.startswith("[[", start)
        self.pos += 2 if is_array else 1
        parts = self._key()
        self._expect("]")
        if is_array:
            self._expect("]")
        header = Span(start, self.pos)
        path = self._resolve(parts, header)
        if is_array:
            count = self._aot_counts.get(path, 0)
            self._aot_counts[path] = count + 1
            self._add(Node(path, parts[-1][1], header, "array-of-tables"), explicit=False)
            path = path + (count,)
            self.result.nodes[path] = Node(path, header, header, "table")
        else:
            node = self.result.nodes.get(path)
            if node is not None and node.implicit:
                node.implicit = False
                node.key = header
                self._defined[path] = header
            else:
                self._add(Node(path, header, header, "table"), explicit=True)
        self._extend(path, self.pos)
        return path

    def scan(self) -> ScanResult:
        table: Path = ()
        skip = iter(self.skip)
        gap = next(skip, None)
        while self.pos < self.n:
            if gap is not None and self.pos >= gap[0]:
                if self.pos != gap[0]:
                    raise ScanError("a piece to pass over starts inside a line", gap[0])
                self.pos = gap[1]
                gap = next(skip, None)
                if self.pos < self.n and not self.text.startswith("[", _WS.match(self.text, self.pos).end()):
                    raise ScanError("a passed-over piece is not followed by a table header", self.pos)
                continue
            self._skip_ws()
            ch = self._peek()
            if ch == "":
                break
            if ch == "#":
                self._skip_comment()
            elif ch in "\r\n":
                if not self._skip_newline():
                    raise ScanError("stray carriage return", self.pos)
                continue
            elif ch == "[":
                table = self._header()
            else:
                end = self._keyval(table)
                self._extend(table, end)
            self._skip_ws()
            self._skip_comment()
            if self.pos < self.n and not self._skip_newline():
                raise ScanError("expected end of line", self.pos)
        return self.result


def scan(text: str, skip: Sequence[tuple[int, int]] = ()) -> ScanResult:
    """Spans of every key and value of a TOML text (see the module docstring); the pieces
    ``skip`` names (each a whole number of lines, outside any string, array or table) are passed
    over as if they were not there."""
    return _Scanner(text, skip).scan()


def string_value(text: str, offset: int) -> str:
    """The decoded value of the TOML string whose opening quote is at ``offset`` (as written:
    a CRLF inside a multi-line string stays CRLF)."""
    scanner = _Scanner(text)
    scanner.pos = offset
    return scanner._string()[0]
