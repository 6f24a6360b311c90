"""Where a cursor is in a prompt file's text, read from the text alone (for completion).

While someone types, the file rarely parses, so this does not parse it: one linear pass of a
tokenizer finds the strings, comments and table-header lines (a ``[`` at a line start inside a
multi-line string is no header), then the line around the cursor says what is being typed:

* ``table`` — a header name after ``[`` / ``[[``;
* ``key`` — a key at a line start (dotted parts so far in ``path``) or inside an inline table;
* ``value`` — after ``key =``, inside its quotes or not, or an item of an inline array;
* ``variable`` — a name after ``{{`` inside the prompt's ``template`` or ``system`` string.

Paths are schema paths: an array of tables contributes its item as ``0``, so the keys of any
``[[examples]]`` table are at ``("examples", 0)``. Never raises.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Callable

_TOKEN = re.compile(
    r'(?P<mlb>"""(?:[^"\\]|\\[\s\S]|"(?!""))*(?:(?P<c1>""")|\Z))'
    r"|(?P<mll>'''(?:[^']|'(?!''))*(?:(?P<c2>''')|\Z))"
    r'|(?P<b>"(?:[^"\\\r\n]|\\.)*(?:(?P<c3>")|(?=[\r\n])|\Z))'
    r"|(?P<l>'[^'\r\n]*(?:(?P<c4>')|(?=[\r\n])|\Z))"
    r"|(?P<comment>\#[^\r\n]*)"
    r"|(?P<header>^[ \t]*\[\[?[^\]\r\n#]*)",
    re.M,
)
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"[^"\r\n]*"|\'[^\'\r\n]*\')'
_DOTTED = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
_KEY_LINE = re.compile(rf"^[ \t]*(?P<key>{_DOTTED})[ \t]*=", re.M)
_AT_TABLE = re.compile(r"^[ \t]*\[(?P<aot>\[)?[ \t]*(?P<name>[A-Za-z0-9_.\- \t\"']*)$")
_AT_KEY = re.compile(r"^[ \t]*(?P<dots>(?:[A-Za-z0-9_-]+[ \t]*\.[ \t]*)*)(?P<word>[A-Za-z0-9_-]*)$")
_AT_VALUE = re.compile(rf"^[ \t]*(?P<key>{_DOTTED})[ \t]*=[ \t]*(?P<rest>.*)$")
_WORD_AFTER = re.compile(r"[A-Za-z0-9_\-./:]*")
_VAR_WORD_AFTER = re.compile(r"[A-Za-z0-9_]*")
_INLINE_KEY = re.compile(r"^[ \t]*(?P<word>[A-Za-z0-9_-]*)$")
_INLINE_VALUE = re.compile(r"^[ \t]*(?P<key>[A-Za-z0-9_-]+)[ \t]*=[ \t]*(?P<quote>\"?)(?P<word>[^\"]*)$")
_PLAIN_VALUE = re.compile(r"^(?P<quote>\"?)(?P<word>[^\"\[\{,]*)$")
_VARIABLE = re.compile(r"\{\{-?[ \t]*(?P<word>[A-Za-z0-9_]*)$")

# which schema paths are arrays of tables (their items get the index 0)
IsArray = Callable[[tuple], bool]


@dataclass(frozen=True)
class Cursor:
    kind: str  # table | key | value | variable | none
    path: tuple = ()  # table: (); key: the table whose keys are offered; value: the key's path
    start: int = 0  # the span of the word being completed (replaced by a completion)
    end: int = 0
    prefix: str = ""
    present: frozenset = frozenset()  # keys (or, for "table", table names) already there
    aot: bool = False  # table: typed "[["
    quoted: bool = False  # value: inside its quotes
    closed: bool = False  # table: a "]" follows on the line
    line_start: bool = False  # key: alone on its line (a header snippet may replace it)


@dataclass
class _Scan:
    headers: list[tuple[int, int, str, bool]] = field(default_factory=list)  # start, end, name, aot
    multiline: list[tuple[int, int]] = field(default_factory=list)  # spans of multi-line strings
    inside: tuple[int, int, str] | None = None  # the string around the cursor: start, end, kind


def _window_start(text: str, offset: int) -> int:
    """The start of the header line nearest before ``offset`` that no multi-line string encloses
    (an even number of each triple quote before it), else 0: the scan starts there, so a
    keystroke costs its table, not the whole file."""
    at = offset
    while at > 0:
        line = max(text.rfind("\n", 0, at), text.rfind("\r", 0, at)) + 1
        if text[line:at].lstrip(" \t").startswith("[") and \
                text.count('"""', 0, line) % 2 == 0 and text.count("\'\'\'", 0, line) % 2 == 0:
            return line
        at = line - 1
    return 0


def _scan(text: str, offset: int) -> _Scan:
    """Strings and headers from the cursor's table to the end of its item (the first header
    after the cursor that is not one of its sub-tables)."""
    scan = _Scan()
    begin = _window_start(text, offset)
    owner: str | None = None  # the name of the header the cursor is under
    for m in _TOKEN.finditer(text, begin):
        kind = m.lastgroup if m.lastgroup in ("comment", "header") else next(
            k for k in ("mlb", "mll", "b", "l") if m.group(k) is not None)
        start, end = m.span()
        if kind == "header":
            line = m.group()
            name = line.strip().lstrip("[").strip()
            if start > offset and not (owner and name.replace(" ", "").startswith(owner + ".")):
                scan.headers.append((start, end, name, line.lstrip().startswith("[[")))
                break
            if start <= offset:
                owner = name.replace(" ", "").rstrip("]")
            scan.headers.append((start, end, name, line.lstrip().startswith("[[")))
            continue
        if kind == "comment":
            continue
        if kind in ("mlb", "mll"):
            scan.multiline.append((start, end))
        closed = m.group({"mlb": "c1", "mll": "c2", "b": "c3", "l": "c4"}[kind]) is not None
        opening = 3 if kind in ("mlb", "mll") else 1
        if start + opening <= offset < end or (offset == end and not closed):
            scan.inside = (start, end, kind)
    return scan


_ALL_HEADERS = re.compile(r"^[ \t]*\[(\[?)([^\]\r\n#]*)", re.M)


def _tables_present(text: str, skip: int) -> frozenset:
    """Names of the plain tables the text has (headers at line starts; the line at ``skip`` is
    the one being typed)."""
    return frozenset(m.group(2).strip().replace(" ", "") for m in _ALL_HEADERS.finditer(text)
                     if not m.group(1) and m.start() != skip)


def _parts(dotted: str) -> tuple[str, ...]:
    parts = []
    for m in re.finditer(_KEY_PART, dotted):
        part = m.group()
        parts.append(part[1:-1] if part[:1] in "\"'" else part)
    return tuple(parts)


def schema_path(parts: tuple, is_array: IsArray) -> tuple:
    """The schema path of the table ``a.b.c``: ``0`` after each array of tables."""
    path: tuple = ()
    for part in parts:
        path += (part,)
        if is_array(path):
            path += (0,)
    return path


def _in_multiline(scan: _Scan, at: int) -> bool:
    i = bisect.bisect_right(scan.multiline, (at, float("inf"))) - 1
    return i >= 0 and scan.multiline[i][0] < at < scan.multiline[i][1]


def _keys(text: str, start: int, end: int, scan: _Scan) -> list[tuple[str, ...]]:
    """The (dotted) keys defined at line starts in ``text[start:end]``, outside strings."""
    return [_parts(m.group("key")) for m in _KEY_LINE.finditer(text, start, end)
            if not _in_multiline(scan, m.start())]


def _region(scan: _Scan, text: str, offset: int) -> tuple[int, int, int]:
    """(index of the header before ``offset`` or -1, start of its body, end of its body)."""
    i = bisect.bisect_right([h[0] for h in scan.headers], offset) - 1
    start = scan.headers[i][1] if i >= 0 else 0
    end = scan.headers[i + 1][0] if i + 1 < len(scan.headers) else len(text)
    return i, start, end


def _table_of(scan: _Scan, i: int, is_array: IsArray) -> tuple:
    if i < 0:
        return ()
    return schema_path(_parts(scan.headers[i][2].rstrip("] \t")), is_array)


def _present(text: str, scan: _Scan, i: int, table: tuple, path: tuple, is_array: IsArray) -> frozenset:
    """Keys already given at ``path`` (``table``, the table of header ``i``, or a path inside it):
    in that table's body, in the sub-tables that follow it (up to the next item of an array of
    tables) and in an inline table ``key = { … }`` of its body."""
    present: set[str] = set()
    sub = path[len(table):]
    start = scan.headers[i][1] if i >= 0 else 0
    end = scan.headers[i + 1][0] if i + 1 < len(scan.headers) else len(text)
    for key in _keys(text, start, end, scan):
        if key[:len(sub)] == sub and len(key) > len(sub):
            present.add(key[len(sub)])
    if sub:
        m = re.search(rf"^[ \t]*{re.escape(sub[-1])}[ \t]*=[ \t]*\{{([^}}\r\n]*)", text[start:end], re.M)
        if m and len(sub) == 1:
            present.update(k.group(1) for k in re.finditer(r"([A-Za-z0-9_-]+)[ \t]*=", m.group(1)))
    j = i + 1
    while i >= 0 and j < len(scan.headers):
        here = _table_of(scan, j, is_array)
        if len(here) <= len(table) or here[:len(table)] != table:
            break  # past the table (or the next item of its array)
        if here == path:
            body_end = scan.headers[j + 1][0] if j + 1 < len(scan.headers) else len(text)
            present.update(k[0] for k in _keys(text, scan.headers[j][1], body_end, scan))
        elif here[:len(path)] == path and isinstance(here[len(path)], str):
            present.add(here[len(path)])
        j += 1
    return frozenset(present)


def _inline(rest: str) -> tuple[str, int] | None:
    """The part of ``rest`` after the innermost open ``{`` (and its last comma), with its offset
    in ``rest``; None when no inline table is open."""
    depth, last = 0, -1
    for k, ch in enumerate(rest):
        if ch == "{":
            depth, last = depth + 1, k
        elif ch == "}":
            depth -= 1
    if depth <= 0 or last < 0:
        return None
    cut = max(last, rest.rfind(",")) + 1
    return rest[cut:], cut


def cursor_at(text: str, offset: int, is_array: IsArray) -> Cursor:
    """What is being typed at ``offset`` of ``text``."""
    try:
        return _cursor_at(text, max(0, min(offset, len(text))), is_array)
    except Exception:  # a completion is never worth an error
        return Cursor("none")


def _cursor_at(text: str, offset: int, is_array: IsArray) -> Cursor:
    scan = _scan(text, offset)
    i, _, _ = _region(scan, text, offset)
    table = _table_of(scan, i, is_array)
    if scan.inside is not None:
        variable = _variable(text, offset, scan, table)
        if variable is not None:
            return variable
        if scan.inside[2] in ("mlb", "mll"):
            return Cursor("none")
    line_start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    before = text[line_start:offset]
    after = _WORD_AFTER.match(text, offset).end()
    m = _AT_TABLE.match(before)
    if m:
        name = m.group("name")
        start = offset - len(name.lstrip())
        rest = text[after:text.find("\n", after) if "\n" in text[after:] else len(text)]
        names = _tables_present(text, line_start)
        return Cursor("table", (), start, after, name.strip(), names, bool(m.group("aot")),
                      closed=rest.lstrip().startswith("]"))
    m = _AT_KEY.match(before)
    if m:
        dots = _parts(m.group("dots"))
        path = table + dots
        word = m.group("word")
        return Cursor("key", path, offset - len(word), after, word,
                      _present(text, scan, i, table, path, is_array), line_start=not dots)
    m = _AT_VALUE.match(before)
    if not m:
        return Cursor("none")
    key, rest = _parts(m.group("key")), m.group("rest")
    path = table + key
    inline = _inline(rest)
    if inline is not None:
        segment, _ = inline
        if is_array(path):
            path += (0,)  # `assert = [{ … }]`: an item of an array of tables
        k = _INLINE_KEY.match(segment)
        if k:
            word = k.group("word")
            present = {p.group(1) for p in re.finditer(r"([A-Za-z0-9_-]+)[ \t]*=", rest)}
            return Cursor("key", path, offset - len(word), after, word, frozenset(present))
        v = _INLINE_VALUE.match(segment)
        if v:
            word = v.group("word")
            return Cursor("value", path + (v.group("key"),), offset - len(word), after, word,
                          quoted=bool(v.group("quote")))
        return Cursor("none")
    item = rest.rfind("[")
    if item >= 0 and "]" not in rest[item:]:
        path, rest = path + (0,), rest[max(item, rest.rfind(",")) + 1:].lstrip()
    v = _PLAIN_VALUE.match(rest)
    if not v:
        return Cursor("none")
    word = v.group("word")
    return Cursor("value", path, offset - len(word), after, word, quoted=bool(v.group("quote")))


def _variable(text: str, offset: int, scan: _Scan, table: tuple) -> Cursor | None:
    """A template variable being typed after ``{{`` in ``[prompt]``'s template or system."""
    start, _, _ = scan.inside
    m = _VARIABLE.search(text, start, offset)
    if m is None or m.end() != offset:
        return None
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    key = re.match(rf"^[ \t]*(?P<key>{_DOTTED})[ \t]*=[ \t]*$", text[line_start:start])
    if key is None or table + _parts(key.group("key")) not in (("prompt", "template"), ("prompt", "system")):
        return None
    word = m.group("word")
    after = _VAR_WORD_AFTER.match(text, offset).end()
    return Cursor("variable", ("prompt",), offset - len(word), after, word)
