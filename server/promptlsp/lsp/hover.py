"""Hover: the critique under the cursor, else the JSON Schema description of the key there."""

from __future__ import annotations

import json
from typing import Any, Iterable

from lsprotocol import types

from ..document import Analysis
from ..document import schema as schema_module
from ..document.source import Encoding
from . import critiques
from .features import Handler
from .positions import to_lsp_range, to_offset
from .server import PromptLanguageServer


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            return node
        target: Any = root
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                return node
            target = target[part]
        # Keys beside "$ref" (e.g. a description) win over the target's.
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _branches(node: dict[str, Any]) -> list[Any]:
    return [*node.get("anyOf", ()), *node.get("oneOf", ()), *node.get("allOf", ())]


def _child(node: Any, part: Any, root: dict[str, Any]) -> Any:
    node = _resolve(node, root)
    if not isinstance(node, dict):
        return None
    if isinstance(part, int):
        items = node.get("items")
        if isinstance(items, list):
            return items[part] if part < len(items) else None
        if items is not None:
            return items
    else:
        props = node.get("properties")
        if isinstance(props, dict) and part in props:
            return props[part]
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            return extra
    for branch in _branches(node):
        found = _child(branch, part, root)
        if found is not None:
            return found
    return None


def schema_for(path: tuple) -> dict[str, Any] | None:
    """The (resolved) schema node describing the value at ``path``, or None."""
    root = schema_module.schema()
    node: Any = root
    for part in path:
        node = _child(node, part, root)
        if node is None:
            return None
    node = _resolve(node, root)
    return node if isinstance(node, dict) else None


def _type_of(node: dict[str, Any], root: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, list):
        return " | ".join(map(str, kind))
    if isinstance(kind, str):
        return kind
    names = []
    for branch in _branches(node):
        t = _type_of(_resolve(branch, root), root)
        if t and t not in names:
            names.append(t)
    return " | ".join(names) or None


def hover_markdown(path: tuple) -> str | None:
    """Markdown for the key at ``path``: its description, type and default; None if unknown."""
    node = schema_for(path)
    if not node or not node.get("description"):
        return None
    name = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")
    lines = [f"**{name}**" if name else "**prompt file**", "", str(node["description"])]
    facts = []
    kind = _type_of(node, schema_module.schema())
    if kind:
        facts.append(f"Type: `{kind}`")
    if "default" in node:
        facts.append(f"Default: `{json.dumps(node['default'], ensure_ascii=False)}`")
    if isinstance(node.get("enum"), list):
        facts.append("Values: " + ", ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in node["enum"]))
    if facts:
        lines += ["", *("- " + f for f in facts)]
    return "\n".join(lines)


class Hover:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server

    def handlers(self) -> Iterable[Handler]:
        return (Handler(types.TEXT_DOCUMENT_HOVER, self.hover),)

    async def hover(self, params: types.HoverParams) -> types.Hover | None:
        outcome = await self.server.analyses.analyse(params.text_document.uri)
        if outcome is None:
            return None
        return await self.server.off_loop(self.hover_at, outcome[0], params.position, self.server.encoding)

    def hover_at(self, analysis: Analysis, position: types.Position, encoding: Encoding) -> types.Hover | None:
        """The hover at ``position`` (on the server's executor: the look-ups read the run store and
        walk the document's nodes)."""
        offset = to_offset(analysis.source, position, encoding)
        view = self.server.critiques.lookup(analysis)
        on_critique = critiques.critique_hover(analysis, offset, encoding, lambda _analysis: view)
        if on_critique is not None:
            return on_critique
        node = analysis.node_at(offset)
        if node is None:
            return None
        text = hover_markdown(tuple(node.path))
        if text is None:
            return None
        span = node.key if node.key is not None and node.key.start <= offset <= node.key.end else node.value
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=to_lsp_range(analysis.source, span, encoding),
        )
