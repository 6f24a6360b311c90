"""Offsets ↔ editor positions in UTF-16 (LSP default), UTF-8 and UTF-32, across line endings."""

import pytest

from promptlsp.document.source import Position, SourceText, Span

TEXT = "a😀b\r\n中文x\rz\n"  # emoji (2 UTF-16 units, 4 UTF-8 bytes), CJK (1 unit, 3 bytes), CRLF, lone CR


@pytest.mark.parametrize(
    "offset, utf16, utf8, utf32",
    [
        (0, (0, 0), (0, 0), (0, 0)),
        (1, (0, 1), (0, 1), (0, 1)),
        (2, (0, 3), (0, 5), (0, 2)),  # after the emoji
        (3, (0, 4), (0, 6), (0, 3)),  # end of line 0 (before \r\n)
        (5, (1, 0), (1, 0), (1, 0)),  # start of line 1
        (7, (1, 2), (1, 6), (1, 2)),  # after 中文
        (9, (2, 0), (2, 0), (2, 0)),  # after the lone \r
        (11, (3, 0), (3, 0), (3, 0)),  # after the final \n: an empty last line
    ],
)
def test_positions_in_every_encoding(offset, utf16, utf8, utf32):
    src = SourceText(TEXT)
    for encoding, expected in (("utf-16", utf16), ("utf-8", utf8), ("utf-32", utf32)):
        pos = src.position(offset, encoding)
        assert (pos.line, pos.character) == expected, encoding
        assert src.offset(pos, encoding) == offset, encoding


def test_offset_inside_crlf_clamps_to_line_end():
    src = SourceText(TEXT)
    assert src.position(4) == Position(0, 4)  # between \r and \n


def test_position_inside_a_surrogate_pair_rounds_down():
    src = SourceText(TEXT)
    assert src.offset(Position(0, 2), "utf-16") == 1  # the middle of 😀
    assert src.offset(Position(0, 3), "utf-8") == 1


def test_out_of_range_positions_clamp():
    src = SourceText(TEXT)
    assert src.offset(Position(0, 99)) == 3
    assert src.offset(Position(99, 0)) == len(TEXT)
    assert src.offset(Position(-1, 0)) == 0
    assert src.position(999) == src.position(len(TEXT))


def test_line_spans_exclude_line_breaks():
    src = SourceText(TEXT)
    assert src.line_count == 4
    assert [TEXT[s.start:s.end] for s in map(src.line_span, range(4))] == ["a😀b", "中文x", "z", ""]


def test_span_rejects_inverted_ranges():
    with pytest.raises(ValueError):
        Span(3, 2)
