"""Prompt templates: jinja2 in a sandbox, with strict undefined variables.

A template is user text that the optimizer also rewrites, so it is rendered in jinja2's
``SandboxedEnvironment`` (no attribute access to Python internals) with ``StrictUndefined``
(a missing variable is an error, never a silently empty string).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from .jinja_names import undeclared_names
from .render_limits import BoundedEnvironment, RenderLimit, render_bounded

_ENV = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)
# Names a template may use without an example supplying them.
BUILTIN_NAMES = frozenset(_ENV.globals)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Checking a template only lexes and parses it — never compiles or evaluates it (compiling
# folds constants: `{{ 'a' * 10**9 }}` would be computed). jinja2's parser recurses once per
# nesting level (about 4 frames per block tag, 14 per bracket), so deeper templates get a
# "too deeply nested" problem instead of a RecursionError; real templates nest a few levels.
MAX_BLOCK_NESTING = 50
MAX_BRACKET_NESTING = 20
# jinja2 lexes and parses at about 100 µs per tag: bound the work before it starts. Prompt
# templates have tens of tags; the text between tags costs next to nothing.
MAX_TAGS = 2_000
MAX_TAG_TEXT = 64 * 1024  # characters inside all {{ }} and {% %} together
_BLOCK_TAGS = frozenset({"if", "for", "macro", "call", "filter", "with", "block", "autoescape", "trans"})
_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")


@dataclass(frozen=True)
class TemplateProblem:
    """A template that does not compile: the message and the 1-based line inside the template."""

    message: str
    line: int


class TemplateRenderError(Exception):
    """Rendering failed (an undefined variable, a sandbox violation, a runtime error)."""


def _line_at(source: str, index: int) -> int:
    """The 1-based line of ``index`` as jinja2 counts lines (\\r\\n, \\r, \\n)."""
    head = source[:index]
    return head.count("\n") + head.count("\r") - head.count("\r\n") + 1


def _size_problem(source: str) -> TemplateProblem | None:
    """Too many tags, or too much text inside them, for a check within the time budget."""
    if source.count("{{") + source.count("{%") <= MAX_TAGS and len(source) <= MAX_TAG_TEXT:
        return None
    inside = 0
    for count, (start, tag) in enumerate(_expressions(source), start=1):
        inside += len(tag)
        if count > MAX_TAGS:
            return TemplateProblem(f"more than {MAX_TAGS:,} {{{{ }}}} and {{% %}} tags: too large to check", _line_at(source, start))
        if inside > MAX_TAG_TEXT:
            return TemplateProblem(
                f"more than {MAX_TAG_TEXT // 1024} KB of text inside {{{{ }}}} and {{% %}} tags: too large to check",
                _line_at(source, start),
            )
    return None


def _nesting_problem(source: str) -> TemplateProblem | None:
    """Block tags or brackets nested deeper than jinja2's parser can take: where it happens.
    Lexing is linear and flat; a lexing error is left for the parser to report."""
    blocks = 0
    brackets = 0
    tag_next = False  # the next name token is a block tag's name
    open_set = False  # inside `{% set x` — a block set unless an `=` follows
    try:
        for line, kind, value in _ENV.lexer.tokeniter(source, None):
            if kind in ("whitespace", "comment", "linecomment"):
                continue
            if kind == "block_begin":
                tag_next = True
                continue
            if tag_next and kind == "name":
                tag_next = False
                if value in _BLOCK_TAGS:
                    blocks += 1
                elif value == "set":
                    open_set = True
                elif value.startswith("end"):
                    blocks = max(blocks - 1, 0)
            elif kind == "operator" and value in _OPENING:
                brackets += 1
                if brackets > MAX_BRACKET_NESTING:
                    return TemplateProblem(f"brackets nested more than {MAX_BRACKET_NESTING} deep: too complex to check", line)
            elif kind == "operator" and value in _CLOSING:
                brackets = max(brackets - 1, 0)
            elif kind == "operator" and value == "=" and not brackets:
                open_set = False
            elif kind in ("block_end", "variable_end"):
                if open_set:
                    blocks += 1
                open_set = tag_next = False
                brackets = 0
            tag_next = False
            if blocks > MAX_BLOCK_NESTING:
                return TemplateProblem(f"block tags nested more than {MAX_BLOCK_NESTING} deep: too complex to check", line)
    except TemplateSyntaxError:
        return None
    return None


@functools.lru_cache(maxsize=8)  # syntax trees are big; analysis asks a few times per text
def _parse(source: str) -> nodes.Template | TemplateProblem:
    """The syntax tree of ``source``, or why there is none. Parses only."""
    problem = _size_problem(source) or _nesting_problem(source)
    if problem is not None:
        return problem
    parser = None
    try:
        parser = Parser(_ENV, source)  # lexes the first token already: `{% raw %}` unclosed fails here
        return parser.parse()
    except TemplateSyntaxError as exc:
        return TemplateProblem(exc.message or str(exc), exc.lineno or 1)
    except RecursionError:  # e.g. `not not not …` 1,000 times: no bracket, still a deep tree
        line = parser.stream.current.lineno if parser is not None else 1
        return TemplateProblem("expressions nested too deeply: too complex to check", line)


def check_syntax(source: str) -> TemplateProblem | None:
    """None when ``source`` parses, else where and why it does not."""
    parsed = _parse(source)
    return parsed if isinstance(parsed, TemplateProblem) else None


@functools.lru_cache(maxsize=512)
def variables(source: str) -> frozenset[str]:
    """The variables a template reads (empty when it does not parse)."""
    parsed = _parse(source)
    if isinstance(parsed, TemplateProblem):
        return frozenset()
    return frozenset(undeclared_names(parsed)) - BUILTIN_NAMES


def _expressions(source: str):
    """``(start, text)`` of each ``{{ … }}`` and ``{% … %}``, in one linear pass."""
    i = 0
    next_var = next_block = -1  # the next `{{` / `{%` at or after i (found once, reused)
    while True:
        if next_var < i and next_var != -2:
            next_var = source.find("{{", i)
            next_var = -2 if next_var < 0 else next_var
        if next_block < i and next_block != -2:
            next_block = source.find("{%", i)
            next_block = -2 if next_block < 0 else next_block
        found = [p for p in (next_var, next_block) if p >= 0]
        if not found:
            return
        start = min(found)
        closer = "}}" if start == next_var else "%}"
        end = source.find(closer, start + 2)
        if end < 0:  # no later tag of this kind can close either
            if start == next_var:
                next_var = -2
            else:
                next_block = -2
            continue
        yield start, source[start:end + 2]
        i = end + 2


def _after_dot(text: str, i: int) -> bool:
    i -= 1
    while i >= 0 and text[i] in " \t\r\n":
        i -= 1
    return i >= 0 and text[i] == "."


def variable_uses(source: str, name: str) -> list[tuple[int, int]]:
    """``(start, end)`` indices of each place ``name`` appears inside ``{{ }}`` or ``{% %}``
    (not as an attribute: ``x.name`` is not a use of the variable ``name``)."""
    uses = []
    for start, block in _expressions(source):
        for m in _NAME.finditer(block):
            if m.group() == name and not _after_dot(block, m.start()):
                uses.append((start + m.start(), start + m.end()))
    return uses


# --- rendering: bounded in size and time (see render_limits) ---------------------------------


_RENDER_ENV = BoundedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@functools.lru_cache(maxsize=512)
def _compile_bounded(source: str):
    return _RENDER_ENV.from_string(source)


def render(source: str, values: Mapping[str, Any]) -> str:
    """Render ``source`` with ``values``; raises :class:`TemplateRenderError` on any failure,
    including a template that goes past a limit of :mod:`.render_limits` ("template rendering
    exceeded …")."""
    try:
        return render_bounded(_compile_bounded(source), dict(values))
    except RenderLimit as exc:
        raise TemplateRenderError(str(exc)) from exc
    except TemplateError as exc:
        raise TemplateRenderError(str(exc)) from exc
    except Exception as exc:  # a sandboxed template can still raise e.g. ZeroDivisionError
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc
