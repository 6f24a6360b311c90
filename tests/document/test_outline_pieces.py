"""The outline of a half-typed file in an editor (its analysis has pieces) reuses the
``[[examples]]`` tables an earlier version read, and says exactly what scanning the whole text
says (``analyze_whole``: no pieces, every block and then the whole text scanned)."""

from __future__ import annotations

import random

from hypothesis import given
from test_incremental import HEAD, SETTINGS, apply, edits, readable_file

from promptlsp.document import limits, outline
from promptlsp.document.analysis import Analysis, analyze, analyze_whole


def same_outline(got: Analysis, want: Analysis) -> None:
    assert outline.outline(got) == outline.outline(want)
    assert outline.folds(got) == outline.folds(want)


@SETTINGS
@given(edits())
def test_the_outline_after_every_edit_equals_the_whole_texts(case):
    text, steps = case
    current = analyze(text, None, None, Analysis.blank())
    same_outline(current, analyze_whole(text))
    for step in steps:
        text = apply(text, step)
        current = analyze(text, None, None, current)
        same_outline(current, analyze_whole(text))


def _half_typed(text: str, count: int) -> list[str]:
    """Versions of ``text`` with an unterminated string typed into one example, or a header."""
    found = []
    for i in random.Random(7).sample(range(count), 6):
        at = text.index(f'id = "e{i}"')
        found.append(text[:at] + 'note = "\n' + text[at:])
    at = text.index("[[examples]]")
    found += [text[:at] + "[[examp\n" + text[at:], text + '\n[[examples]]\nid = "new\n', text + "\n[optimize\n"]
    return found


def test_half_typed_versions_have_the_whole_texts_outline():
    text, first = readable_file(30)
    for broken in _half_typed(text, 30):
        second = analyze(broken, None, None, first)
        assert second.spans is None  # the TOML reader refused it
        same_outline(second, analyze_whole(broken))
        assert any(e.kind == "examples" for e in outline.outline(second))


def plain_file(count: int) -> str:
    """Examples in both layouts (inline vars; [examples.vars] and [[examples.assert]] tables)."""
    parts = [HEAD]
    for i in range(count):
        if i % 2:
            parts.append(f'\n[[examples]]\nid = "e{i}"\nvars = {{ review = "r{i} 😀", product = "p" }}\n')
        else:
            parts.append(f'\n[[examples]]\nid = "e{i}"\nsplit = "test"\n\n[examples.vars]\nreview = "评{i}"\n'
                         f'product = "p"\n\n[[examples.assert]]\ntype = "contains"\nvalue = "x"\n')
    return "".join(parts)


def test_a_half_typed_outline_scans_only_what_no_version_read(monkeypatch):
    text = plain_file(40)
    first = analyze(text, None, None, Analysis.blank())
    assert first.units is not None and len(first.units) == 40
    at = text.index('id = "e20"')
    broken = text[:at] + 'note = "\n' + text[at:]
    second = analyze(broken, None, None, first)
    assert second.spans is None
    want = outline.outline(analyze_whole(broken))
    scanned: list[tuple[int, int]] = []  # (length, pieces passed over) per scan
    real_scan = outline.scan_text
    monkeypatch.setattr(outline, "scan_text",
                        lambda piece, skip=(): scanned.append((len(piece), len(skip))) or real_scan(piece, skip))
    monkeypatch.setattr(limits, "check", lambda text: (_ for _ in ()).throw(AssertionError("limits checked again")))
    assert outline.outline(second) == want
    examples = next(e for e in want if e.kind == "examples")
    assert sum(len(split.children) for split in examples.children) == 39  # all but the half-typed one
    # blocks scanned on their own: the rest's and the half-typed example — not every example again
    alone = [length for length, skip in scanned if skip == 0]
    assert sum(alone) < len(broken) // 4, scanned
    # then the text in place, once, with the 40 examples passed over (and the pieces of the
    # template its "[Review]" line cut off), not the whole text scanned again
    (in_place,) = [skip for _, skip in scanned if skip]
    assert in_place >= 40, scanned
