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
import itertools
from array import array
import re
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["utf-16", "utf-8", "utf-32"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, order=True, slots=True)
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


def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b`` (compared by chunks, in C)."""
    n = min(len(a), len(b))
    lo, step = 0, 1024
    while lo < n:  # find a chunk that differs, doubling the chunk size while they agree
        hi = min(lo + step, n)
        if not b.startswith(a[lo:hi], lo):
            break
        lo, step = hi, step * 2
    else:
        return n
    while hi - lo > 1:  # a[:lo] agrees, the chunk up to hi does not
        mid = (lo + hi) // 2
        if b.startswith(a[lo:mid], lo):
            lo = mid
        else:
            hi = mid
    return lo


def common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the longest common suffix of ``a`` and ``b``, at most ``limit``."""
    la, lb = len(a), len(b)
    lo, step = 0, 1024
    while lo < limit:
        hi = min(lo + step, limit)
        if not b.endswith(a[la - hi:la - lo], 0, lb - lo):
            break
        lo, step = hi, step * 2
    else:
        return limit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if b.endswith(a[la - mid:la - lo], 0, lb - lo):
            lo = mid
        else:
            hi = mid
    return lo


class SourceText:
    """A document's text with a line index for offset ↔ position conversion."""

    def __init__(self, text: str) -> None:
        self.text = text
        crs = text.count("\r")
        if crs == 0 or crs == text.count("\r\n") == text.count("\n"):  # one kind of line break: str.split, in C
            width = 2 if crs else 1
            # the running sum of (line length + break width) is where each next line starts
            after = list(itertools.accumulate(map(width.__add__, map(len, text.split("\r\n" if crs else "\n")))))
            starts = array("q", [0])
            starts.extend(after[:-1])
            ends = array("q", map((-width).__add__, after))
        else:
            starts = array("q", [0])
            ends = array("q")
            for m in _LINE_BREAK.finditer(text):
                ends.append(m.start())
                starts.append(m.end())
            ends.append(len(text))
        # arrays, not lists: no int object per line (a large file has 50,000 lines, and an
        # editor's analysis makes these anew on every change)
        self._line_starts = starts
        self._line_ends = ends  # offset of each line's break (content end)

    @classmethod
    def edited(cls, before: "SourceText", text: str) -> "SourceText":
        """``SourceText(text)`` for a ``text`` that is ``before.text`` edited: the lines the
        edit did not touch are taken over (shifted), only the changed stretch is searched."""
        old = before.text
        if not old:
            return cls(text)
        prefix = common_prefix(old, text)
        suffix = common_suffix(old, text, min(len(old), len(text)) - prefix)
        if prefix == len(old) == len(text):
            source = cls.__new__(cls)
            source.text, source._line_starts, source._line_ends = text, before._line_starts, before._line_ends
            return source
        starts, ends = before._line_starts, before._line_ends
        breaks = len(starts) - 1  # break i spans ends[i]..starts[i + 1]
        # kept before: breaks ending at most at prefix - 1 (their neighbours are unchanged too)
        head = max(bisect.bisect_right(starts, prefix - 1) - 1, 0)
        # kept after: breaks starting at or after len(old) - suffix + 1
        tail = min(bisect.bisect_left(ends, len(old) - suffix + 1), breaks)
        delta = len(text) - len(old)
        begin = starts[head]
        stop = ends[tail] + delta if tail < breaks else len(text)
        new_starts = starts[:head + 1]
        new_ends = ends[:head]
        for m in _LINE_BREAK.finditer(text, begin, stop):
            new_ends.append(m.start())
            new_starts.append(m.end())
        new_starts.extend(array("q", map(delta.__add__, starts[tail + 1:])))
        new_ends.extend(array("q", map(delta.__add__, ends[tail:breaks])))
        new_ends.append(len(text))
        source = cls.__new__(cls)
        source.text, source._line_starts, source._line_ends = text, new_starts, new_ends
        return source

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
