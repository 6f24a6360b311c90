"""Cheap pre-checks that keep analysis linear: what a prompt file may not exceed.

The TOML readers (tomllib, tomlkit) and the span scanner recurse once per nesting level and
are quadratic in the number of parts of a dotted key (a 32 KB file with one 16,000-part key
took 34 s and 1.5 GB), and every key, table and array item costs time and memory in each of
them and in the schema check. One linear pass over the text, before any of them runs, finds
the first place that exceeds a limit; the file then gets one ``file-too-complex`` diagnostic
there instead of a hang. Real prompt files stay far below every limit: the realistic
5,000-example file (1.2 MB) has about 30,000 items, dotted keys of 3 parts and nesting of 4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .source import Span

MAX_NESTING = 32  # arrays, inline tables and [[headers]] inside one another
MAX_KEY_PARTS = 32  # parts of one dotted key or table header
MAX_ITEMS = 80_000  # key/value pairs, array items and table headers in the whole file

_SKIP = r"(?:[ \t\r\n]|\#[^\r\n]*)*"  # blanks and comments (an escaped # in verbose mode)
_TOKEN = re.compile(
    _SKIP
    + r"""(?:
      (?P<string>"\"\"(?:[^"\\]|\\[\s\S]|"(?!""))*"{3,5}
        |'''[\s\S]*?'{3,5}
        |"(?:[^"\\\r\n]|\\[^\r\n])*"
        |'[^'\r\n]*')
    | (?P<bare>[A-Za-z0-9_+\-.:]+)
    | (?P<punct>[\[\]{},=])
    | (?P<other>[\s\S])
    )""",
    re.VERBOSE,
)


_KEY_CHAIN = re.compile(r"""(?:[A-Za-z0-9_+\-.:]+|"(?:[^"\\\r\n]|\\[^\r\n])*"|'[^'\r\n]*'|[ \t]+)+""")
_LINE_BREAK = re.compile(r"[\r\n]")


@dataclass(frozen=True)
class Excess:
    """Where the text first exceeds a limit, and which."""

    message: str
    span: Span


def check(text: str) -> Excess | None:
    """The first place ``text`` exceeds a limit, or None. Linear in the text's length."""
    depth = 0
    items = 0
    chain_start = -1  # start of the current run of key parts and dots
    dots = 0
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:  # only blanks and comments were left
            break
        start = m.start(kind)
        if start != m.start() and _LINE_BREAK.search(text, m.start(), start):
            chain_start = -1  # a key never continues on the next line
        if kind == "bare" or (kind == "string" and not text.startswith(('"""', "'''"), start)):
            value = m.group(kind)
            if chain_start < 0:
                chain_start, dots = start, 0
            if kind == "bare":
                dots += value.count(".")
            if dots >= MAX_KEY_PARTS:
                return _long_key(text, chain_start)
            continue
        if kind == "other" and m.group(kind) == ".":  # a dot between quoted key parts
            dots += 1
            if dots >= MAX_KEY_PARTS and chain_start >= 0:
                return _long_key(text, chain_start)
            continue
        chain_start = -1
        if kind != "punct":
            continue
        ch = m.group(kind)
        if ch in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return Excess(f"arrays or tables nested more than {MAX_NESTING} deep: too complex to check", Span(start, start + 1))
            if ch == "[" and depth == 1:
                items += 1  # a table header (or a top-level array: counted with its items)
        elif ch in "]}":
            depth = max(depth - 1, 0)
        else:  # "=" or ","
            items += 1
        if items > MAX_ITEMS:
            return Excess(f"more than {MAX_ITEMS:,} keys, array items and tables: too large to check", Span(start, start + 1))
    return None


def _long_key(text: str, start: int) -> Excess:
    """The whole dotted key that starts at ``start``."""
    end = start + len(_KEY_CHAIN.match(text, start).group().rstrip(" \t"))
    return Excess(f"a key with more than {MAX_KEY_PARTS} dotted parts: too complex to check", Span(start, end))
