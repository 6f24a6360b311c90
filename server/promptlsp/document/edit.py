"""Rewriting the prompt strings of a file without touching anything else.

A rewrite replaces exactly the source span of ``prompt.template`` / ``prompt.system`` with the
new value serialised by tomlkit, keeping the string's style (multi-line or not, literal when the
new text allows it, the newline after an opening ``\"\"\"``, CRLF line ends), so every other byte
of the file — comments, ordering, spacing — is preserved. The result is parsed again and checked:
the new strings must read back exactly and all other data must be unchanged, otherwise
:class:`EditError` is raised and nothing is written. The same edits become the language server's
``TextEdit``s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

import tomlkit

from .source import Span
from .spans import ScanError, scan

PROMPT_KEYS = ("template", "system")


class EditError(ValueError):
    """The rewrite could not be made safely (the file is left as it is)."""


@dataclass(frozen=True)
class StringEdit:
    key: str  # "template" | "system"
    span: Span  # the old value's source span, delimiters included
    new_text: str  # the serialised new value, delimiters included


def _serialise(value: str, old_source: str) -> str:
    multiline = old_source.startswith(('"""', "'''")) or "\n" in value
    literal = old_source.startswith("'")
    if "\r\n" in old_source and "\n" in value:
        value = value.replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        text = tomlkit.string(value, literal=literal, multiline=multiline).as_string()
    except Exception:  # not representable as a literal string: use a basic one
        text = tomlkit.string(value, literal=False, multiline=multiline).as_string()
    opened_with_newline = old_source[3:4] == "\n" or old_source[3:5] == "\r\n"
    if multiline and old_source[:3] in ('"""', "'''") and opened_with_newline:
        newline = "\r\n" if old_source[3:5] == "\r\n" else "\n"
        text = text[:3] + newline + text[3:]  # TOML trims this first newline: the value is unchanged
    return text


def plan_edits(text: str, new: Mapping[str, str]) -> list[StringEdit]:
    """The edits that set ``prompt.<key>`` to ``new[key]``; only keys whose value changes."""
    try:
        document = tomlkit.parse(text)
        nodes = scan(text).nodes
    except (Exception, ScanError) as exc:
        raise EditError(f"the file does not parse: {exc}") from exc
    prompt = document.get("prompt")
    edits = []
    for key, value in new.items():
        if key not in PROMPT_KEYS:
            raise EditError(f"only prompt.template and prompt.system can be rewritten, not {key!r}")
        node = nodes.get(("prompt", key))
        if prompt is None or node is None or node.kind != "string":
            raise EditError(f"prompt.{key} is not a string in this file")
        if prompt[key] == value:
            continue
        old_source = text[node.value.start:node.value.end]
        edits.append(StringEdit(key, node.value, _serialise(value, old_source)))
    return edits


class Replacement(Protocol):
    """A text edit: ``span`` of the old text replaced by ``new_text``."""

    @property
    def span(self) -> Span: ...

    @property
    def new_text(self) -> str: ...


def apply_edits(text: str, edits: Iterable[Replacement]) -> str:
    """``text`` with ``edits`` (not overlapping) applied."""
    for edit in sorted(edits, key=lambda e: e.span.start, reverse=True):
        text = text[: edit.span.start] + edit.new_text + text[edit.span.end:]
    return text


def _normalised(value: str, reference: str) -> str:
    return value.replace("\r\n", "\n").replace("\n", "\r\n") if "\r\n" in reference and "\n" in value else value


def rewrite_prompt(text: str, new: Mapping[str, str]) -> str:
    """The file text with the prompt strings replaced; raises :class:`EditError` if unsafe."""
    edits = plan_edits(text, new)
    result = apply_edits(text, edits)
    try:
        before = tomlkit.parse(text).unwrap()
        after = tomlkit.parse(result).unwrap()
    except Exception as exc:
        raise EditError(f"the rewritten file would not parse: {exc}") from exc
    for edit in edits:
        wanted = _normalised(new[edit.key], text[edit.span.start:edit.span.end])
        if after["prompt"][edit.key] != wanted:
            raise EditError(f"prompt.{edit.key} would not read back as written")
        before["prompt"][edit.key] = after["prompt"][edit.key]
    if before != after:
        raise EditError("the rewrite would change more than the prompt strings")
    return result
