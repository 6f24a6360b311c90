"""Cheap pre-checks that keep analysis linear: what a prompt file may not exceed.

The TOML readers (tomllib, tomlkit) and the span scanner recurse once per nesting level and
are quadratic in the number of parts of a dotted key (a 32 KB file with one 16,000-part key
took 34 s and 1.5 GB), and every key, table and array item costs time and memory in each of
them and in the schema check. One linear pass over the text, before any of them runs, finds
the first place that exceeds a limit; the file then gets one ``file-too-complex`` diagnostic
there instead of a hang. Real prompt files stay well below every limit: the realistic
5,000-example file (1.2 MB) has about 39,000 items, 10,000 tables, dotted keys of 3 parts and
nesting of 4; analysing it takes about 1.5 s (bench/hostile.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .source import Span

MAX_NESTING = 32  # arrays, inline tables and [[headers]] inside one another
MAX_KEY_PARTS = 32  # parts of one dotted key or table header
MAX_ITEMS = 80_000  # key/value pairs, array items and table headers in the whole file
MAX_TABLES = 20_000  # table headers and inline tables: each example is one or two

# Skipped between tokens: blanks, comments, and bare words without a dot (keys, numbers,
# booleans: only dotted ones can make a long key). An escaped # in verbose mode.
# Skipped between tokens: blanks, comments, and bare words without a dot (keys, numbers,
# booleans: only dotted ones can make a long key). An escaped # in verbose mode. Strings are
# found by their opening quote only and skipped by string_end (a regex for a whole string keeps
# a backtracking state per character: 250 MB for a 1 MB string).
_SKIP = r"(?:[ \t\r\n]+|\#[^\r\n]*|[A-Za-z0-9_+\-:]+(?![.A-Za-z0-9_+\-:]))*"
_TOKEN = re.compile(
    _SKIP
    + r"""(?:
      (?P<open>[\[{])
    | (?P<close>[\]}])
    | (?P<item>[=,])
    | (?P<string>"(?:"")?|'(?:'')?)
    | (?P<bare>[A-Za-z0-9_+\-.:]+)
    | (?P<other>[\s\S])
    )""",
    re.VERBOSE,
)
_BASIC_STOP = re.compile(r'["\r\n]')
_LITERAL_STOP = re.compile(r"['\r\n]")


def _escaped(text: str, i: int) -> bool:
    """Whether the character at ``i`` follows an odd number of backslashes."""
    j = i
    while j > 0 and text[j - 1] == "\\":
        j -= 1
    return (i - j) % 2 == 1


def string_end(text: str, start: int) -> tuple[int, bool]:
    """Where the TOML string opening at ``start`` ends (just past its closing delimiter), and
    whether it is closed at all (else: the line end for a one-line string, the text's end for a
    multi-line one). Linear, and constant memory."""
    n = len(text)
    if text.startswith(('"""', "'''"), start):
        delim = text[start:start + 3]
        i = start + 3
        while True:
            j = text.find(delim, i)
            if j < 0:
                return n, False
            if delim == '"""' and _escaped(text, j):
                i = j + 1
                continue
            end = j + 3
            extra = 0
            while extra < 2 and end < n and text[end] == delim[0]:  # quotes just before the closer
                end += 1
                extra += 1
            return end, True
    stop = _BASIC_STOP if text[start] == '"' else _LITERAL_STOP
    i = start + 1
    while True:
        m = stop.search(text, i)
        if m is None:
            return n, False
        j = m.start()
        if text[j] in "\r\n":
            return j, False
        if text[j] == '"' and _escaped(text, j):
            i = j + 1
            continue
        return j + 1, True


_KEY_PIECE = re.compile(r"[A-Za-z0-9_+\-.:]+|[ \t]+")
_LINE_BREAK = re.compile(r"[\r\n]")


@dataclass(frozen=True)
class Excess:
    """Where the text first exceeds a limit, and which."""

    message: str
    span: Span


def check(text: str) -> Excess | None:
    """The first place ``text`` exceeds a limit, or None. Linear in the text's length."""
    return measure(text)[0]


def measure(text: str) -> tuple[Excess | None, int, int]:
    """:func:`check`'s answer, and the items and tables counted (up to the excess, if any).

    For pieces of a document that each end outside any string, array or table (a split at
    top-level table headers): when no piece has an excess and the counts add up to at most the
    limits, the whole document has no excess either."""
    depth = 0
    items = 0
    tables = 0
    chain_start = -1  # start of the current run of key parts and dots
    dots = 0
    pos, n = 0, len(text)
    match = _TOKEN.match
    while pos < n:
        m = match(text, pos)
        kind = m.lastgroup
        pos = m.end()
        if kind == "item":  # "=" or ","
            chain_start = -1
            items += 1
            if items > MAX_ITEMS:
                return _too_many(m.start(kind)), items, tables
        elif kind == "open":
            chain_start = -1
            depth += 1
            start = m.start(kind)
            if depth > MAX_NESTING:
                return Excess(f"arrays or tables nested more than {MAX_NESTING} deep: too complex to check", Span(start, start + 1)), items, tables
            header = depth == 1 and text[start] == "["  # (or a top-level array: counted with its items)
            if header or text[start] == "{":
                tables += 1
                if tables > MAX_TABLES:
                    return Excess(f"more than {MAX_TABLES:,} tables: too large to check", Span(start, start + 1)), items, tables
            if header:
                items += 1
                if items > MAX_ITEMS:
                    return _too_many(start), items, tables
        elif kind == "close":
            chain_start = -1
            depth = max(depth - 1, 0)
        elif kind is None:  # only blanks and comments were left
            break
        else:  # a possible key part: a one-line string, a dotted bare word or a lone dot
            start = m.start(kind)
            if chain_start >= 0 and start != m.start() and _LINE_BREAK.search(text, m.start(), start):
                chain_start = -1  # a key never continues on the next line
            if kind == "string":
                pos = string_end(text, start)[0]
                if text.startswith(('"""', "'''"), start):
                    chain_start = -1
                    continue
                if chain_start < 0:
                    chain_start, dots = start, 0
            elif kind == "bare":
                if chain_start < 0:
                    chain_start, dots = start, 0
                dots += text.count(".", start, pos)
            elif text[start] == ".":
                if chain_start < 0:
                    chain_start, dots = start, 0
                dots += 1
            else:
                chain_start = -1
                continue
            if dots >= MAX_KEY_PARTS:
                return _long_key(text, chain_start), items, tables
    return None, items, tables


def _too_many(start: int) -> Excess:
    return Excess(f"more than {MAX_ITEMS:,} keys, array items and table headers: too large to check", Span(start, start + 1))


def _long_key(text: str, start: int) -> Excess:
    """The whole dotted key around ``start`` (where its run of dots begins)."""
    before = start
    while before > 0 and text[before - 1] in " \t":
        before -= 1
    first = before
    while first > 0 and (text[first - 1].isascii() and (text[first - 1].isalnum() or text[first - 1] in "_-+:")):
        first -= 1
    if first < before:  # a bare first part, as in `x .a .a …`
        start = first
    end = pos = start
    while pos < len(text):  # bare parts, dots, blanks and quoted parts, up to anything else
        if text[pos] in "\"'":
            pos, closed = string_end(text, pos)
            if not closed:
                break
        else:
            piece = _KEY_PIECE.match(text, pos)
            if piece is None:
                break
            pos = piece.end()
        if text[pos - 1] not in " \t":
            end = pos
    return Excess(f"a key with more than {MAX_KEY_PARTS} dotted parts: too complex to check", Span(start, end))
