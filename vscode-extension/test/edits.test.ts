import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EditError, TextEdit, applyTextEdits, lineStarts, offsetAt, parseTextEdits, positionAt } from '../src/core/edits';

const edit = (l1: number, c1: number, l2: number, c2: number, newText: string): TextEdit => ({
  range: { start: { line: l1, character: c1 }, end: { line: l2, character: c2 } },
  newText,
});

describe('lineStarts / offsetAt / positionAt', () => {
  test('\\n, \\r\\n and \\r all end lines', () => {
    assert.deepEqual(lineStarts('a\nb\r\nc\rd'), [0, 2, 5, 7]);
  });
  test('characters count UTF-16 code units: an emoji is two, a CJK character one', () => {
    const text = 'a😀b\n漢字x';
    assert.equal(offsetAt(text, { line: 0, character: 3 }), 3); // after the emoji
    assert.equal(text.slice(offsetAt(text, { line: 0, character: 3 })), 'b\n漢字x');
    assert.equal(text.slice(offsetAt(text, { line: 1, character: 2 })), 'x');
    assert.deepEqual(positionAt(text, text.indexOf('x')), { line: 1, character: 2 });
  });
  test('a position inside a surrogate pair is an error', () => {
    assert.throws(() => offsetAt('a😀b', { line: 0, character: 2 }), /surrogate pair/);
  });
  test('positions past the end of a line or the text are errors', () => {
    assert.throws(() => offsetAt('abc\ndef', { line: 0, character: 4 }), EditError);
    assert.throws(() => offsetAt('abc\r\ndef', { line: 0, character: 4 }), /past the end of line 0/); // not inside the CRLF
    assert.throws(() => offsetAt('abc\ndef', { line: 2, character: 0 }), /past the end of the text/);
    assert.throws(() => offsetAt('abc', { line: -1, character: 0 }), /invalid position/);
    assert.throws(() => offsetAt('abc', { line: 0, character: 1.5 }), /invalid position/);
  });
  test('the position after a final newline is the end of the text', () => {
    assert.equal(offsetAt('abc\n', { line: 1, character: 0 }), 4);
    assert.equal(offsetAt('abc\n', { line: 2, character: 0 }), 4);
  });
});

describe('applyTextEdits', () => {
  test('replaces, inserts and deletes against the original positions', () => {
    const text = 'one\ntwo\nthree\n';
    const out = applyTextEdits(text, [edit(2, 0, 2, 5, '3'), edit(0, 0, 0, 3, '1'), edit(1, 3, 1, 3, '!')]);
    assert.equal(out, '1\ntwo!\n3\n');
  });
  test('a multi-line replacement of a TOML template with emoji and CJK around it', () => {
    const text = '# 😀 prompt\n[prompt]\ntemplate = """\nRéview 漢字: {{ review }}\nWhat is it?"""\n[[examples]]\n';
    // replace the template's content: from after `"""` on line 2 to before the closing `"""` on line 4
    const out = applyTextEdits(text, [edit(2, 14, 4, 11, '\nReview: {{ review }}\nAnswer with one word 👍.')]);
    assert.equal(out, '# 😀 prompt\n[prompt]\ntemplate = """\nReview: {{ review }}\nAnswer with one word 👍."""\n[[examples]]\n');
  });
  test('edits after an emoji on the same line use UTF-16 columns', () => {
    assert.equal(applyTextEdits('x = "😀 old"', [edit(0, 8, 0, 11, 'new')]), 'x = "😀 new"');
  });
  test('keeps CRLF line endings untouched outside the edit', () => {
    assert.equal(applyTextEdits('a\r\nb\r\nc', [edit(1, 0, 1, 1, 'B')]), 'a\r\nB\r\nc');
  });
  test('several insertions at one position keep their order', () => {
    assert.equal(applyTextEdits('ac', [edit(0, 1, 0, 1, 'b'), edit(0, 1, 0, 1, 'B')]), 'abBc');
  });
  test('no edits: the same text', () => {
    assert.equal(applyTextEdits('same', []), 'same');
  });
  test('rejects overlapping edits, reversed ranges and out-of-range edits', () => {
    assert.throws(() => applyTextEdits('abcdef', [edit(0, 0, 0, 3, 'x'), edit(0, 2, 0, 4, 'y')]), /overlap/);
    assert.throws(() => applyTextEdits('abcdef', [edit(0, 4, 0, 2, 'x')]), /ends before it starts/);
    assert.throws(() => applyTextEdits('abc', [edit(0, 0, 5, 0, 'x')]), /past the end of the text/);
    assert.throws(() => applyTextEdits('abc', [edit(0, 0, 0, 9, 'x')]), /past the end of line/);
  });
});

describe('parseTextEdits', () => {
  test('accepts AnnotatedTextEdits (annotation dropped)', () => {
    const edits = parseTextEdits([{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, newText: 'x', annotationId: 'a' }]);
    assert.deepEqual(edits, [edit(0, 0, 0, 1, 'x')]);
  });
  test('rejects malformed edits', () => {
    assert.throws(() => parseTextEdits({}), /list of text edits/);
    assert.throws(() => parseTextEdits([{ newText: 'x' }]), /edit 0/);
    assert.throws(() => parseTextEdits([{ range: { start: { line: 0 }, end: { line: 0, character: 0 } }, newText: 'x' }]), /numeric line and character/);
    assert.throws(() => parseTextEdits([{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, newText: 5 }]), /edit 0/);
  });
});
