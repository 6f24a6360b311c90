"""A cheap first cut of a prompt file into top-level blocks, by its table-header lines.

Every line that starts with ``[`` (after blanks) may open a table; an ``[[examples]]`` header
starts a *unit* — that example's table with its ``[examples.…]`` / ``[[examples.…]]``
sub-tables, up to the next other header — and any other header starts a *rest* block (so does
the text before the first header). The cut is only a proposal: a line starting with ``[`` inside
a multi-line string or array is no header. ``pieces.py`` accepts a cut only where the text
before it reads on its own as TOML (then the cut is outside every string, array and table),
and joins a block with the next one where it does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EXAMPLES = r"[ \t]*(?:examples|\"examples\"|'examples')[ \t]*"
# a line that may open a table; "start": an [[examples]] header, "part": an [examples.…] one
_HEADER_LINE = re.compile(r"^[ \t]*\[(?:(?P<start>\[" + _EXAMPLES + r"\]\])|(?P<part>\[?" + _EXAMPLES + r"\.))?", re.M)


@dataclass(frozen=True)
class Block:
    start: int
    end: int
    unit: bool  # an [[examples]] table with its sub-tables (else: anything else)


def split(text: str, start: int = 0, end: int | None = None) -> list[Block]:
    """The blocks of ``text[start:end]``, in order, covering it exactly (none when it is
    empty). ``start`` must be 0 or the start of a line that :func:`independent` accepts."""
    end = len(text) if end is None else end
    blocks: list[Block] = []
    begin, unit = start, False
    for m in _HEADER_LINE.finditer(text, start, end):
        at = m.start()
        kind = m.lastgroup
        if kind == "part" and unit:
            continue  # a sub-table of the unit's example
        starts_unit = kind == "start"
        if at > begin:
            blocks.append(Block(begin, at, unit))
        begin, unit = at, starts_unit
    if end > begin:
        blocks.append(Block(begin, end, unit))
    return blocks


def independent(text: str, at: int) -> bool:
    """Whether a block starting at ``at`` (a line start) is one whatever comes before it: the
    text's start, or a header line other than an ``[examples.…]`` one (that one continues the
    example before it, if there is one)."""
    if at == 0:
        return True
    m = _HEADER_LINE.match(text, at)
    return m is not None and m.lastgroup != "part"
