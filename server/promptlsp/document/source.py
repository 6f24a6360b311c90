"""Source text, offsets and editor positions.

Everything in the document layer measures text in *offsets*: indices of Python ``str``
code points into the file's text. Editors speak in (line, character) positions whose
character unit depends on the negotiated encoding: UTF-16 code units by default (the LSP
default), UTF-8 bytes or UTF-32 code points when the client asks. This module is the single
place that converts between the two, so an emoji or a CJK character can never shift a squiggle.

Line breaks are ``\\n``, ``\\r\\n`` and a lone ``\\r`` (as the LSP specification defines them).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["utf-16", "utf-8", "utf-32"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, order=True)
class Span:
    """A half-open range ``[start, end)`` of code-point offsets into a text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid span {self.start}..{self.end}")

    def contains(self, offset: int) -> bool:
        return self.start <= offset < self.end or (self.start == self.end == offset)

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, order=True)
class Position:
    """A zero-based line and a character offset in the unit of some encoding."""

    line: int
    character: int


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position


def _units(text: str, encoding: Encoding) -> int:
    """Length of ``text`` in the code units of ``encoding``."""
    if encoding == "utf-32":
        return len(text)
    if text.isascii():
        return len(text)
    if encoding == "utf-16":
        return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
    return len(text.encode("utf-8", "surrogatepass"))


class SourceText:
    """A document's text with a line index for offset ↔ position conversion."""

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        ends = []
        for m in _LINE_BREAK.finditer(text):
            ends.append(m.start())
            starts.append(m.end())
        ends.append(len(text))
        self._line_starts = starts
        self._line_ends = ends  # offset of each line's break (content end)

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line_of(self, offset: int) -> int:
        offset = max(0, min(offset, len(self.text)))
        return bisect.bisect_right(self._line_starts, offset) - 1

    def line_span(self, line: int) -> Span:
        """The span of a line's content, without its line break."""
        line = max(0, min(line, self.line_count - 1))
        return Span(self._line_starts[line], self._line_ends[line])

    def position(self, offset: int, encoding: Encoding = "utf-16") -> Position:
        offset = max(0, min(offset, len(self.text)))
        line = self.line_of(offset)
        start = self._line_starts[line]
        # An offset inside a \r\n pair (between \r and \n) clamps to the line's end.
        offset = min(offset, self._line_ends[line])
        return Position(line, _units(self.text[start:offset], encoding))

    def range(self, span: Span, encoding: Encoding = "utf-16") -> Range:
        return Range(self.position(span.start, encoding), self.position(span.end, encoding))

    def offset(self, position: Position, encoding: Encoding = "utf-16") -> int:
        """The offset of an editor position; characters past the line end clamp to it."""
        if position.line < 0:
            return 0
        if position.line >= self.line_count:
            return len(self.text)
        start = self._line_starts[position.line]
        end = self._line_ends[position.line]
        if encoding == "utf-32":
            return min(start + max(position.character, 0), end)
        remaining = max(position.character, 0)
        i = start
        while i < end and remaining > 0:
            ch = self.text[i]
            if encoding == "utf-16":
                width = 2 if ord(ch) > 0xFFFF else 1
            else:
                width = len(ch.encode("utf-8", "surrogatepass"))
            if width > remaining:  # a position inside a character rounds down to its start
                break
            remaining -= width
            i += 1
        return i
