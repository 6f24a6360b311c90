"""Where a template variable occurs: its uses in the prompt strings and its ``vars`` keys.

A *file variable* is a name the ``system`` or ``template`` string reads from its render context
(``template.variables``) and the examples supply (``vars.<name>``, or a dataset column). This
module finds every occurrence of one, as source spans of the prompt file:

* in the prompt strings: each jinja2 ``Name`` the name is loaded through, located by the lexer's
  own tokens (never a text search: ``x.review`` and ``'review'`` are not uses), then mapped
  through the TOML string's escapes and line ends by the document's string maps;
* in the examples: the key of each ``[[examples]]`` item's ``vars.<name>`` (quotes included);
* in datasets: the files whose rows supply the name (a column), with the first row's line.

A name the templates also *assign* (``{% set %}``, a ``{% for %}`` target, a macro argument, …)
is reported as ``assigned``: which of its uses read the context then depends on scoping, so a
rename refuses it. Everything here is pure: no LSP, no editing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from jinja2 import TemplateSyntaxError, nodes
from jinja2.lexer import TokenStream
from jinja2.parser import Parser

from . import datasets, template
from .source import Span

PROMPT_STRINGS = ("system", "template")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class NameToken:
    """A jinja2 name in a template: ``[start, end)`` in the decoded string; ``load`` when it
    reads the name (else it assigns it)."""

    name: str
    start: int
    end: int
    load: bool


@dataclass(frozen=True)
class ParsedNames:
    names: tuple[NameToken, ...]  # in source order
    assigned: frozenset[str]  # names the template assigns anywhere
    context: frozenset[str]  # names it reads from the render context (template.variables)


@dataclass(frozen=True)
class Occurrence:
    name: str
    span: Span  # in the prompt file's text
    path: tuple  # ("prompt", "template") or ("examples", i, "vars", name)

    @property
    def in_template(self) -> bool:
        return self.path[0] == "prompt"


@dataclass(frozen=True)
class Column:
    """A dataset file that supplies the variable: the ``[[datasets]]`` entry and the file."""

    entry: tuple  # ("datasets", j)
    file: Path
    line: int  # 1-based line of the first row that has it
    format: str = "jsonl"  # "jsonl" or "csv", as the file was read


@dataclass
class Variable:
    name: str
    uses: list[Occurrence] = field(default_factory=list)  # in system/template, file order
    keys: list[Occurrence] = field(default_factory=list)  # example vars keys, file order
    columns: list[Column] = field(default_factory=list)
    assigned: bool = False  # the templates also assign the name

    @property
    def occurrences(self) -> list[Occurrence]:
        return sorted([*self.uses, *self.keys], key=lambda o: o.span.start)


# -- names in one template ----------------------------------------------------------------

class _PlacingParser(Parser):
    """jinja2's parser, remembering the name token each ``Name`` node was made from."""

    def __init__(self, source: str, offsets: dict[int, int], tokens: list[Any]) -> None:
        super().__init__(template._ENV, source)
        self.offsets = offsets  # id(token) -> offset of a name token
        self.placed: list[tuple[nodes.Name, int]] = []
        self.stream = TokenStream(tokens, None, None)

    def parse_primary(self, *args: Any, **kwargs: Any) -> nodes.Expr:
        token = self.stream.current
        node = super().parse_primary(*args, **kwargs)
        self._place(node, token)
        return node

    def parse_assign_target(self, *args: Any, **kwargs: Any) -> Any:
        token = self.stream.current
        node = super().parse_assign_target(*args, **kwargs)
        self._place(node, token)
        return node

    def _place(self, node: nodes.Node, token: Any) -> None:
        if isinstance(node, nodes.Name) and token.type == "name" and id(token) in self.offsets:
            if not any(placed is node for placed, _ in self.placed[-2:]):
                self.placed.append((node, self.offsets[id(token)]))


def _original_offsets(source: str) -> list[int]:
    """Where each line starts in ``source`` (jinja2's lexer reads it with every line break
    made ``\\n``; this maps its offsets back)."""
    return [0, *(m.end() for m in _NEWLINE.finditer(source))]


def _tokens(source: str) -> tuple[list[Any], dict[int, int]]:
    """The parser's tokens and the source offset of each name token among them."""
    lexer = template._ENV.lexer
    normal = "\n".join(_NEWLINE.split(source))
    starts = _original_offsets(source)
    name_offsets: list[int] = []

    def raw() -> Iterator[tuple[int, str, str]]:
        cursor = 0
        for lineno, kind, value in lexer.tokeniter(source, None):
            found = normal.find(value, cursor) if value else cursor
            if found < 0:  # not the text it was read from: stop placing
                raise TemplateSyntaxError("unplaceable token", lineno)
            cursor = found + len(value)
            if kind == "name":
                line_start = normal.rfind("\n", 0, found) + 1
                name_offsets.append(starts[lineno - 1] + (found - line_start))
            yield lineno, kind, value

    tokens = list(lexer.wrap(raw()))
    offsets: dict[int, int] = {}
    k = 0
    for token in tokens:
        if token.type == "name":
            offsets[id(token)] = name_offsets[k]
            k += 1
    return tokens, offsets


@functools.lru_cache(maxsize=32)
def template_names(source: str) -> ParsedNames | None:
    """Every name of ``source`` with its place, or None when it does not parse (or is past the
    limits ``template`` checks before parsing)."""
    if template.check_syntax(source) is not None:
        return None
    try:
        tokens, offsets = _tokens(source)
        parser = _PlacingParser(source, offsets, tokens)
        tree = parser.parse()
    except (TemplateSyntaxError, RecursionError, IndexError):
        return None
    names = tuple(sorted(
        (NameToken(node.name, at, at + len(node.name), node.ctx == "load") for node, at in parser.placed),
        key=lambda n: n.start,
    ))
    assigned: set[str] = {n.name for n in names if not n.load}
    for node in tree.find_all((nodes.Name, nodes.NSRef, nodes.Macro, nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Name) and node.ctx != "load":
            assigned.add(node.name)
        elif isinstance(node, (nodes.NSRef, nodes.Macro)):
            assigned.add(node.name)
        elif isinstance(node, nodes.Import):
            assigned.add(node.target)
        elif isinstance(node, nodes.FromImport):
            assigned.update(n[1] if isinstance(n, tuple) else n for n in node.names)
    return ParsedNames(names, frozenset(assigned), template.variables(source))


# -- the whole file -----------------------------------------------------------------------

def prompt_strings(data: Mapping[str, Any] | None) -> dict[str, str]:
    prompt = data.get("prompt") if data else None
    if not isinstance(prompt, Mapping):
        return {}
    return {k: prompt[k] for k in PROMPT_STRINGS if isinstance(prompt.get(k), str)}


def file_variables(analysis: Any) -> set[str]:
    """The names the prompt strings read from the context (the file's variables)."""
    found: set[str] = set()
    for source in prompt_strings(analysis.data).values():
        parsed = template_names(source)
        if parsed is not None:
            found |= parsed.context
    return found


def find(analysis: Any, name: str) -> Variable:
    """Every occurrence of the variable ``name`` in ``analysis`` (a document ``Analysis``)."""
    variable = Variable(name)
    for key, source in prompt_strings(analysis.data).items():
        parsed = template_names(source)
        node = analysis.node(("prompt", key))
        if parsed is None or node is None or node.string is None:
            continue
        if name in parsed.assigned:
            variable.assigned = True
        if name not in parsed.context:
            continue
        for token in parsed.names:
            if token.name == name and token.load:
                span = node.string.source_span(token.start, token.end)
                variable.uses.append(Occurrence(name, span, ("prompt", key)))
    examples = (analysis.data or {}).get("examples")
    if isinstance(examples, list):
        for i, raw in enumerate(examples):
            values = raw.get("vars") if isinstance(raw, Mapping) else None
            if isinstance(values, Mapping) and name in values:
                path = ("examples", i, "vars", name)
                node = analysis.node(path)
                if node is not None and node.key is not None:
                    variable.keys.append(Occurrence(name, node.key, path))
    variable.columns = _columns(analysis, name)
    return variable


def _columns(analysis: Any, name: str) -> list[Column]:
    prompt = analysis.prompt
    found: dict[tuple, Column] = {}
    if prompt is not None:
        entries = (analysis.data or {}).get("datasets") or []
        for example in prompt.examples:
            origin = example.origin
            if origin.file is not None and name in example.vars and origin.path not in found:
                entry = entries[origin.path[1]]
                fmt = entry.get("format") or datasets.infer_format(str(entry.get("path", ""))) or "jsonl"
                found[origin.path] = Column(origin.path, origin.file, origin.line or 1, fmt)
    return list(found.values())


def at(analysis: Any, offset: int) -> tuple[str, Occurrence | None, str | None]:
    """What is at ``offset``: ``(name, occurrence, None)`` on a file variable (a use in a prompt
    string, or an example's ``vars`` key), else ``("", None, why)`` with why it is not one
    (None when the offset is on nothing named at all)."""
    for key, source in prompt_strings(analysis.data).items():
        node = analysis.node(("prompt", key))
        if node is None or node.string is None or not node.value.start <= offset <= node.value.end:
            continue
        parsed = template_names(source)
        if parsed is None:
            return "", None, None
        for token in parsed.names:
            span = node.string.source_span(token.start, token.end)
            if span.start <= offset <= span.end:
                if token.load and token.name in parsed.context:
                    return token.name, Occurrence(token.name, span, ("prompt", key)), None
                if token.name in template.BUILTIN_NAMES and token.load:
                    return "", None, f"'{token.name}' is one of jinja2's built-in names, not a variable of the examples"
                return "", None, f"'{token.name}' is assigned in the {key} (a loop variable, {{% set %}} or argument), not a variable of the examples"
        return "", None, None
    spot = analysis.node_at(offset)
    if spot is not None and len(spot.path) == 4 and spot.path[0] == "examples" and spot.path[2] == "vars" \
            and spot.key is not None and spot.key.start <= offset <= spot.key.end:
        name = str(spot.path[3])
        return name, Occurrence(name, spot.key, spot.path), None
    return "", None, None


def key_text(name: str) -> str:
    """``name`` written as a TOML key (bare when it can be)."""
    if _BARE_KEY.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_identifier(name: str) -> bool:
    """A name a jinja2 template can read as a variable (jinja2 names are Python identifiers,
    minus its literals and keywords it treats as operators)."""
    import keyword

    return name.isidentifier() and not keyword.iskeyword(name) and name not in _JINJA_WORDS


_JINJA_WORDS = frozenset({
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
})
