/**
 * LSP text edits applied to a string. Positions are (line, character) with characters counted
 * in UTF-16 code units — the encoding JavaScript strings use, so a character index is a string
 * index within the line. Anything that does not fit the text (a line past the end, a character
 * past the end of its line, a position inside a surrogate pair or a CRLF, overlapping edits) is
 * an error: a rewrite must never be applied to text it was not computed for.
 */
import { finiteNumber, isRecord } from './format';

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface TextEdit {
  range: Range;
  newText: string;
}

export class EditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EditError';
  }
}

/** Offsets where each line starts; line breaks are \r\n, \n and \r (as in LSP). */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13 /* \r */) {
      if (text.charCodeAt(i + 1) === 10) {
        i++;
      }
      starts.push(i + 1);
    } else if (c === 10 /* \n */) {
      starts.push(i + 1);
    }
  }
  return starts;
}

function lineEnd(text: string, starts: number[], line: number): number {
  let end = line + 1 < starts.length ? starts[line + 1] : text.length;
  if (end > starts[line] && text.charCodeAt(end - 1) === 10) end--;
  if (end > starts[line] && text.charCodeAt(end - 1) === 13) end--;
  return end;
}

/** The string offset of an LSP position (UTF-16), or EditError. */
export function offsetAt(text: string, position: Position, starts: number[] = lineStarts(text)): number {
  const { line, character } = position;
  if (!Number.isInteger(line) || !Number.isInteger(character) || line < 0 || character < 0) {
    throw new EditError(`invalid position ${JSON.stringify(position)}`);
  }
  if (line >= starts.length) {
    if (line === starts.length && character === 0 && /[\r\n]$/.test(text)) {
      return text.length; // the position after a final line break
    }
    throw new EditError(`line ${line} is past the end of the text (${starts.length} lines)`);
  }
  const start = starts[line];
  const end = lineEnd(text, starts, line);
  if (start + character > end) {
    throw new EditError(`character ${character} is past the end of line ${line} (${end - start} UTF-16 code units)`);
  }
  const offset = start + character;
  const before = text.charCodeAt(offset - 1);
  const at = text.charCodeAt(offset);
  if (offset > start && before >= 0xd800 && before <= 0xdbff && at >= 0xdc00 && at <= 0xdfff) {
    throw new EditError(`position ${line}:${character} splits a surrogate pair (an emoji or other non-BMP character)`);
  }
  return offset;
}

/** The LSP position of a string offset (UTF-16). */
export function positionAt(text: string, offset: number, starts: number[] = lineStarts(text)): Position {
  const clamped = Math.max(0, Math.min(text.length, offset));
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= clamped) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: clamped - starts[lo] };
}

function parsePosition(raw: unknown, where: string): Position {
  if (!isRecord(raw)) {
    throw new EditError(`${where}: expected a position object`);
  }
  const line = finiteNumber(raw.line);
  const character = finiteNumber(raw.character);
  if (line === undefined || character === undefined) {
    throw new EditError(`${where}: a position needs numeric line and character`);
  }
  return { line, character };
}

/** Validates LSP TextEdits (AnnotatedTextEdits too; the annotation is ignored). */
export function parseTextEdits(raw: unknown): TextEdit[] {
  if (!Array.isArray(raw)) {
    throw new EditError('expected a list of text edits');
  }
  return raw.map((edit, i) => {
    if (!isRecord(edit) || !isRecord(edit.range) || typeof edit.newText !== 'string') {
      throw new EditError(`edit ${i}: expected {range, newText}`);
    }
    return {
      range: {
        start: parsePosition(edit.range.start, `edit ${i} start`),
        end: parsePosition(edit.range.end, `edit ${i} end`),
      },
      newText: edit.newText,
    };
  });
}

/** `text` with `edits` applied (all ranges refer to the original text, as in LSP). */
export function applyTextEdits(text: string, edits: readonly TextEdit[]): string {
  const starts = lineStarts(text);
  const spans = edits.map((edit, index) => {
    const start = offsetAt(text, edit.range.start, starts);
    const end = offsetAt(text, edit.range.end, starts);
    if (end < start) {
      throw new EditError(`edit ${index}: its range ends before it starts`);
    }
    return { start, end, newText: edit.newText, index };
  });
  spans.sort((a, b) => a.start - b.start || a.end - b.end || a.index - b.index);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i].start < spans[i - 1].end) {
      throw new EditError(`edits ${spans[i - 1].index} and ${spans[i].index} overlap`);
    }
  }
  let out = '';
  let cursor = 0;
  for (const span of spans) {
    out += text.slice(cursor, span.start) + span.newText;
    cursor = span.end;
  }
  return out + text.slice(cursor);
}
