"""Quotes → positions in a prompt: where the words a critique (or an edit) quotes are now.

Exact first, then ignoring case and differences in white space. The optimizer anchors the
critiques it writes with :func:`anchor`; the language server re-anchors the stored ones on the
current text with the same function on every analysis, so a keystroke's diagnostics never need
the optimizer.
"""

from __future__ import annotations

import re
from typing import Sequence

from .model import PromptText

TARGETS = ("template", "system")
_SPACE = re.compile(r"\s+")


def loose_find(text: str, quote: str) -> tuple[int, int] | None:
    """Find ``quote`` in ``text`` ignoring case and differences in white space."""
    words = [re.escape(w) for w in _SPACE.split(quote.strip()) if w]
    if not words:
        return None
    m = re.search(r"\s+".join(words), text, re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def locate(prompt: PromptText, find: str, targets: Sequence[str]) -> tuple[str, int, int] | None:
    """(target, start, end) of ``find`` in the first target holding it (exactly, else loosely)."""
    for target in targets:
        text = prompt.get(target) or ""
        i = text.find(find)
        if i >= 0:
            return target, i, i + len(find)
    for target in targets:
        found = loose_find(prompt.get(target) or "", find)
        if found:
            return target, found[0], found[1]
    return None


def anchor(prompt: PromptText, quote: str, target: str | None) -> tuple[str, int | None, int | None]:
    """(target, start, end) of ``quote`` in the prompt; start/end None when it is not there."""
    quote = quote.strip().strip('"').strip()
    order = [target] if target in TARGETS else []
    order += [t for t in TARGETS if t not in order]
    found = locate(prompt, quote, order) if quote else None
    return found if found is not None else (order[0], None, None)
