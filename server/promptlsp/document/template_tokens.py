"""The jinja2 tokens of a prompt file's templates, placed on the file's text: variables,
filters and tests, attributes, keywords and tag names, delimiters, operators, literals and
comments — for highlighting.

jinja2's own lexer (``tokeniter``, the one the templates are checked with) cuts the decoded
template; each token is found again in the template (the lexer joins line breaks into ``\\n``
and drops whitespace a ``-`` strips) and placed on the source through the string's map
(``spans.StringMap``), so a token's span runs right through TOML escapes, line-ending
backslashes and CRLF. A template that stops lexing (half typed) gives the tokens before that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from jinja2 import TemplateError

from . import outline
from .source import Span
from .template import _ENV

KINDS = ("variable", "function", "property", "keyword", "macro", "operator", "string", "number", "comment")
MAX_TOKENS = 50_000  # per template: far beyond a prompt's, bounds the work on a pathological one

_DELIMITERS = frozenset({"variable_begin", "variable_end", "block_begin", "block_end", "raw_begin", "raw_end"})
_COMMENT = frozenset({"comment_begin", "comment", "comment_end", "linecomment_begin", "linecomment", "linecomment_end"})
_LITERALS = {"string": "string", "integer": "number", "float": "number"}
# keywords of expressions, anywhere; of tags, only inside {% %} (elsewhere they are names)
_EXPRESSION_KEYWORDS = frozenset({"in", "and", "or", "not", "is", "if", "else", "true", "false", "none",
                                  "True", "False", "None"})
_TAG_KEYWORDS = frozenset({"as", "with", "without", "context", "ignore", "missing", "recursive", "scoped",
                           "required", "import", "from"})
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class TemplateToken:
    span: Span  # in the file's text; may cross lines (a comment), the adapter cuts it
    kind: str  # one of KINDS


def template_tokens(analysis: Any) -> list[TemplateToken]:
    """The tokens of ``prompt.system`` and ``prompt.template``, in text order."""
    nodes = outline.span_map(analysis)
    if nodes is None:
        return []
    found: list[TemplateToken] = []
    for key in ("system", "template"):
        node = nodes.get(("prompt", key))
        if node is None or node.string is None:
            continue
        value = outline.decoded(analysis.text, node)
        if value is not None:
            found.extend(TemplateToken(node.string.source_span(start, end), kind)
                         for start, end, kind in tokens(value))
    found.sort(key=lambda t: t.span.start)
    return found


def tokens(template: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) of each token worth highlighting, as indices into ``template``."""
    norm, index = _normalised(template)
    cursor = 0
    previous: list[tuple[str, str]] = []  # the last two significant (type, value)
    in_block = False
    count = 0
    try:
        for _, kind, raw in _ENV.lexer.tokeniter(norm, None):
            at = norm.find(raw, cursor) if raw else cursor
            if at < 0 or norm[cursor:at].strip():
                return  # the lexer's text and ours part ways: stop rather than misplace
            cursor = at + len(raw)
            if kind in ("whitespace", "data"):
                continue
            count += 1
            if count > MAX_TOKENS:
                return
            if kind == "block_begin":
                in_block = True
            elif kind == "block_end":
                in_block = False
            semantic = _classify(kind, raw, previous, in_block)
            previous = [previous[-1], (kind, raw)] if previous else [(kind, raw)]
            if semantic is not None and raw:
                yield index[at], index[cursor - 1] + 1, semantic
    except (TemplateError, RecursionError, ValueError):
        return  # a half-typed template: the tokens so far


def _classify(kind: str, raw: str, previous: list[tuple[str, str]], in_block: bool) -> str | None:
    if kind in _DELIMITERS:
        return "macro"
    if kind in _COMMENT:
        return "comment"
    if kind in _LITERALS:
        return _LITERALS[kind]
    if kind == "operator":
        return "operator"
    if kind != "name":
        return None
    last = previous[-1] if previous else ("", "")
    before = previous[-2] if len(previous) > 1 else ("", "")
    if last[0] == "block_begin":
        return "keyword"  # the tag's name: if, for, set, endfor, …
    if last == ("operator", "|"):
        return "function"  # a filter
    if last == ("name", "is") and raw == "not":
        return "keyword"
    if last == ("name", "is") or (last == ("name", "not") and before == ("name", "is")):
        return "function"  # a test
    if last == ("operator", "."):
        return "property"
    if raw in _EXPRESSION_KEYWORDS or (in_block and raw in _TAG_KEYWORDS):
        return "keyword"
    return "variable"


def _normalised(template: str) -> tuple[str, list[int]]:
    """The template with its line breaks as ``\\n`` (as jinja2's lexer reads it), and for each
    of its characters (and its end) the index in ``template``."""
    parts: list[str] = []
    index: list[int] = []
    at = 0
    for m in _LINE_BREAK.finditer(template):
        parts.append(template[at:m.start()])
        index.extend(range(at, m.start()))
        parts.append("\n")
        index.append(m.start() + len(m.group()) - 1)  # the \n of a \r\n (its last character)
        at = m.end()
    parts.append(template[at:])
    index.extend(range(at, len(template)))
    index.append(len(template))
    return "".join(parts), index
