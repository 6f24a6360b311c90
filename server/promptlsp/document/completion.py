"""Completion candidates at a cursor of a prompt file (no LSP here: the server turns them into items).

:func:`complete` reads what is being typed from the text (:mod:`.cursor`) and offers, from the
JSON Schema, the keys allowed there (not those already given) and the tables not yet present,
with their descriptions; enum values after ``key =``; model ids after ``model =`` (the embedded
``local/`` models, and litellm's chat models for the provider typed so far, read from litellm's
cost map without importing litellm); template variables after ``{{``; the variables an
example's ``vars`` has not given yet; and snippets for a new ``[[examples]]`` / ``[[criteria]]``.

What the file defines (its variables) comes from :class:`Facts`, taken from the last analysis
that could read the file (:func:`facts_of`), so a half-typed file still gets its names.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ..engine import pricing
from ..engine.local import LOCAL_MODELS
from . import schema as schema_module
from . import template
from .cursor import Cursor, cursor_at

MODEL_ROLES = ("task", "judge", "optimizer")
SNIPPET_TABLES = ("examples", "criteria")
_ASSERTION_TYPES_CHOICE_LIMIT = 30
_TEMPLATE_NAME = re.compile(r"\{\{-?[ \t]*([A-Za-z_][A-Za-z0-9_]*)")  # on the same line: `{{ ` typed at a line end names nothing yet


@dataclass(frozen=True)
class Candidate:
    label: str
    kind: str  # key | table | value | model | provider | variable | snippet
    insert: str
    detail: str | None = None
    documentation: str | None = None  # markdown
    snippet: bool = False  # ``insert`` is an LSP snippet ($1, ${1:…})
    start: int | None = None  # replaces from here instead of the word's start
    filter: str | None = None


@dataclass(frozen=True)
class Completion:
    start: int
    end: int
    candidates: tuple[Candidate, ...]
    incomplete: bool = False  # the list depends on more of the word (model ids by provider)


@dataclass(frozen=True)
class Facts:
    """Names a file defines, kept from its last readable analysis."""

    used: frozenset = frozenset()  # variables the template and system message read
    defined: frozenset = frozenset()  # keys of the inline examples' vars
    columns: frozenset = frozenset()  # variables of the dataset files' rows


def facts_of(analysis: Any, previous: Facts | None = None) -> Facts:
    """The facts of an analysis; what it could not read is kept from ``previous``."""
    previous = previous or Facts()
    data = getattr(analysis, "data", None)
    if not isinstance(data, Mapping):
        if previous.used or previous.defined or previous.columns:
            return previous
        # never read: the names written in braces are the best guess at what the prompt uses
        return Facts(used=frozenset(_TEMPLATE_NAME.findall(getattr(analysis, "text", "") or "")))
    used: set[str] = set()
    prompt = data.get("prompt")
    strings = [prompt.get(k) for k in ("template", "system")] if isinstance(prompt, Mapping) else []
    for source in strings:
        if isinstance(source, str):
            used |= template.variables(source) if template.check_syntax(source) is None else set(
                _TEMPLATE_NAME.findall(source))
    defined: set[str] = set()
    examples = data.get("examples")
    for raw in examples if isinstance(examples, list) else ():
        if isinstance(raw, Mapping) and isinstance(raw.get("vars"), Mapping):
            defined.update(str(k) for k in raw["vars"])
    columns = previous.columns
    prompt_file = getattr(analysis, "prompt", None)
    if prompt_file is not None:
        columns = frozenset(k for e in prompt_file.examples if e.origin.file is not None for k in e.vars)
    return Facts(frozenset(used), frozenset(defined), columns)


# -- the schema ----------------------------------------------------------------------------

def _resolve(node: Any) -> Any:
    root = schema_module.schema()
    for _ in range(20):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/")):
            break
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node if isinstance(node, dict) else {}


def node_at(path: tuple) -> dict[str, Any] | None:
    """The resolved schema of the value at ``path`` (``0`` for an array's items), or None."""
    node = _resolve(schema_module.schema())
    for part in path:
        if isinstance(part, int):
            items = node.get("items")
            if not isinstance(items, dict):
                return None
            node = _resolve(items)
        else:
            props = node.get("properties")
            if not isinstance(props, dict) or part not in props:
                return None
            node = _resolve(props[part])
    return node


def is_array_of_tables(path: tuple) -> bool:
    node = node_at(path)
    return bool(node) and node.get("type") == "array" and _resolve(node.get("items")).get("type") == "object"


def _is_table(node: dict[str, Any]) -> bool:
    return node.get("type") == "object"


def _tables(node: dict[str, Any], path: tuple = ()) -> Iterator[tuple[str, bool, dict[str, Any]]]:
    """(dotted name, array of tables?, schema) of every table the schema allows, outermost first."""
    for key, child in (node.get("properties") or {}).items():
        child = _resolve(child)
        name = ".".join((*path, key))
        if _is_table(child):
            yield name, False, child
            yield from _tables(child, (*path, key))
        elif child.get("type") == "array" and _is_table(_resolve(child.get("items"))):
            yield name, True, child
            yield from _tables(_resolve(child.get("items")), (*path, key))


def _docs(node: dict[str, Any]) -> str | None:
    text = node.get("description")
    return str(text) if text else None


def _type(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    return " | ".join(kind) if isinstance(kind, list) else kind if isinstance(kind, str) else None


# -- candidates ----------------------------------------------------------------------------

def complete(text: str, offset: int, facts: Facts | None = None, snippets: bool = False) -> Completion:
    """The candidates at ``offset`` of ``text``; an empty completion when nothing fits. Never raises."""
    try:
        cursor = cursor_at(text, offset, is_array_of_tables)
        return _complete(cursor, facts or Facts(), snippets)
    except Exception:  # a completion is never worth an error
        return Completion(offset, offset, ())


def _complete(cursor: Cursor, facts: Facts, snippets: bool) -> Completion:
    found: list[Candidate] = []
    incomplete = False
    if cursor.kind == "table":
        found = _table_names(cursor, facts, snippets)
    elif cursor.kind == "key":
        found = _keys(cursor, facts, snippets)
    elif cursor.kind == "value":
        found, incomplete = _values(cursor)
    elif cursor.kind == "variable":
        found = _variables(facts)
    return Completion(cursor.start, cursor.end, tuple(found), incomplete)


def _table_names(cursor: Cursor, facts: Facts, snippets: bool) -> list[Candidate]:
    out = []
    for name, aot, node in _tables(_resolve(schema_module.schema())):
        if aot != cursor.aot or (not aot and name in cursor.present):
            continue
        close = "" if cursor.closed else ("]]" if aot else "]")
        out.append(Candidate(name, "table", name + close, "array of tables" if aot else "table", _docs(node)))
    if cursor.aot and snippets:
        header_start = cursor.start - len("[[")
        out += [replace_start(s, header_start) for s in _snippets(facts)] if not cursor.closed else []
    return out


def replace_start(candidate: Candidate, start: int) -> Candidate:
    return Candidate(candidate.label, candidate.kind, candidate.insert, candidate.detail,
                     candidate.documentation, candidate.snippet, start, candidate.filter)


def _keys(cursor: Cursor, facts: Facts, snippets: bool) -> list[Candidate]:
    path = cursor.path
    if len(path) == 3 and path[0] == "examples" and path[2] == "vars":
        return [Candidate(name, "variable", name, "template variable",
                          f"Used by the prompt as `{{{{ {name} }}}}`.")
                for name in sorted(facts.used - cursor.present)]
    node = node_at(path)
    out = []
    for key, child in ((node or {}).get("properties") or {}).items():
        if key in cursor.present:
            continue
        child = _resolve(child)
        if not path and (_is_table(child) or child.get("type") == "array"):
            continue  # a top-level table is written as a header (offered after "[")
        out.append(Candidate(key, "key", key, _type(child), _docs(child)))
    if cursor.line_start and snippets:
        out += _snippets(facts)
    return out


def _snippets(facts: Facts) -> list[Candidate]:
    names = sorted(facts.used) or ["input"]
    pairs = ", ".join(f'{n} = "${{{i}:{n}}}"' for i, n in enumerate(names, 1))
    k = len(names) + 1
    example = f"[[examples]]\nvars = {{ {pairs} }}\nexpected = \"${{{k}}}\"\n$0"
    types_ = (node_at(("criteria", 0, "type")) or {}).get("enum") or ["equals"]
    choice = ",".join(types_[:_ASSERTION_TYPES_CHOICE_LIMIT])
    criterion = f"[[criteria]]\nname = \"${{1:name}}\"\ntype = \"${{2|{choice}|}}\"\n$0"
    return [
        Candidate("[[examples]]", "snippet", example, "new example",
                  "A new inline example: its template variables and the expected answer.", True, filter="examples"),
        Candidate("[[criteria]]", "snippet", criterion, "new criterion",
                  "A new scoring criterion: its name and check type.", True, filter="criteria"),
    ]


def _values(cursor: Cursor) -> tuple[list[Candidate], bool]:
    path = cursor.path
    if len(path) == 3 and path[0] == "models" and path[1] in MODEL_ROLES and path[2] == "model":
        return _models(cursor)
    node = node_at(path)
    if not node:
        return [], False
    wrap = (lambda v: v) if cursor.quoted else json.dumps
    out = []
    if isinstance(node.get("enum"), list):
        docs = ((node.get("x-taplo") or {}).get("docs") or {}).get("enumValues") or []
        for i, value in enumerate(node["enum"]):
            text = value if isinstance(value, str) else json.dumps(value)
            out.append(Candidate(text, "value", wrap(value) if isinstance(value, str) else text,
                                 node.get("description", "")[:60] or None, docs[i] if i < len(docs) else None))
    elif node.get("type") == "boolean" and not cursor.quoted:
        out = [Candidate(v, "value", v, "boolean", _docs(node)) for v in ("true", "false")]
    return out, False


@functools.lru_cache(maxsize=1)
def _chat_models() -> dict[str, tuple[str, ...]]:
    return pricing.chat_models()


def _models(cursor: Cursor) -> tuple[list[Candidate], bool]:
    wrap = (lambda v: v) if cursor.quoted else json.dumps
    out = [Candidate(m, "model", wrap(m), "embedded offline model",
                     "Runs on this machine through llama.cpp: no API key, no network.") for m in LOCAL_MODELS]
    models = _chat_models()
    provider = cursor.prefix.split("/", 1)[0] if "/" in cursor.prefix else None
    if provider is None:
        out += [Candidate(p + "/", "provider", wrap(p + "/")[:-1] if not cursor.quoted else p + "/",
                          f"{len(ids)} litellm chat models") for p, ids in models.items()]
    else:
        out += [Candidate(m, "model", wrap(m), f"litellm · {provider}") for m in models.get(provider, ())]
    return out, True


def _variables(facts: Facts) -> list[Candidate]:
    out = []
    for name in sorted(facts.used | facts.defined | facts.columns):
        where = [w for w, names in (("the examples' vars", facts.defined), ("a dataset's columns", facts.columns),
                                    ("the prompt", facts.used)) if name in names]
        out.append(Candidate(name, "variable", name, "template variable", "Defined by " + " and ".join(where) + "."
                             if where[0] != "the prompt" else "Used elsewhere in the prompt; no example defines it."))
    return out
