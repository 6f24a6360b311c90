/**
 * Where the `template` key of `[prompt]` is, for the "Optimize prompt" code lens. A small TOML
 * line scanner: it follows multi-line strings (so a "[prompt]" inside a template is not a
 * header), table headers (`[prompt]`, `[ "prompt" ]`), dotted keys at the top level
 * (`prompt.template = ...`) and an inline `prompt = { template = ... }`.
 */

export interface KeyLocation {
  line: number;
  /** UTF-16 character range of the key on its line. */
  start: number;
  end: number;
}

const BARE = '[A-Za-z0-9_-]+';
const BASIC = '"(?:[^"\\\\]|\\\\.)*"';
const LITERAL = "'[^']*'";
const KEY_PART = `(?:${BARE}|${BASIC}|${LITERAL})`;
const DOTTED = `${KEY_PART}(?:\\s*\\.\\s*${KEY_PART})*`;
const HEADER = new RegExp(`^\\s*\\[\\s*(${DOTTED})\\s*\\]\\s*(?:#.*)?$`);
const ARRAY_HEADER = new RegExp(`^\\s*\\[\\[\\s*(${DOTTED})\\s*\\]\\]\\s*(?:#.*)?$`);
const KEY_VALUE = new RegExp(`^(\\s*)(${DOTTED})\\s*=`);

/** `a . "b" . 'c'` -> ["a", "b", "c"] */
export function keyParts(dotted: string): string[] {
  const parts: string[] = [];
  const re = new RegExp(KEY_PART, 'g');
  let m: RegExpExecArray | null;
  while ((m = re.exec(dotted)) !== null) {
    const raw = m[0];
    if (raw.startsWith('"')) {
      try {
        parts.push(JSON.parse(raw) as string);
      } catch {
        parts.push(raw.slice(1, -1));
      }
    } else if (raw.startsWith("'")) {
      parts.push(raw.slice(1, -1));
    } else {
      parts.push(raw);
    }
  }
  return parts;
}

type State = 'normal' | 'ml-basic' | 'ml-literal';

/** Lex one line from `state`; return the state at its end (comments and strings skipped). */
function lexLine(line: string, state: State): State {
  let i = 0;
  while (i < line.length) {
    if (state === 'ml-basic') {
      if (line[i] === '\\') {
        i += 2;
        continue;
      }
      if (line.startsWith('"""', i)) {
        i += 3;
        while (line[i] === '"') i++; // up to two quotes may end the string's content
        state = 'normal';
        continue;
      }
      i++;
      continue;
    }
    if (state === 'ml-literal') {
      if (line.startsWith("'''", i)) {
        i += 3;
        while (line[i] === "'") i++;
        state = 'normal';
        continue;
      }
      i++;
      continue;
    }
    const c = line[i];
    if (c === '#') {
      return state;
    }
    if (line.startsWith('"""', i)) {
      state = 'ml-basic';
      i += 3;
      continue;
    }
    if (line.startsWith("'''", i)) {
      state = 'ml-literal';
      i += 3;
      continue;
    }
    if (c === '"') {
      i++;
      while (i < line.length && line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === "'") {
      i++;
      while (i < line.length && line[i] !== "'") i++;
      i++;
      continue;
    }
    i++;
  }
  return state;
}

function samePath(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The first `template` key of the `prompt` table, or undefined. */
export function findTemplateKey(text: string): KeyLocation | undefined {
  const lines = text.split(/\r\n|\r|\n/);
  let state: State = 'normal';
  let table: string[] = [];
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (state === 'normal') {
      const array = ARRAY_HEADER.exec(line);
      const header = array ? null : HEADER.exec(line);
      if (array) {
        table = ['[]', ...keyParts(array[1])];
      } else if (header) {
        table = keyParts(header[1]);
      } else {
        const kv = KEY_VALUE.exec(line);
        if (kv) {
          const path = [...table, ...keyParts(kv[2])];
          const start = kv[1].length;
          if (samePath(path, ['prompt', 'template'])) {
            return { line: n, start, end: start + kv[2].length };
          }
          if (samePath(path, ['prompt'])) {
            const rest = line.slice(kv[0].length);
            const inline = /^\s*\{(.*?)\btemplate(\s*=)/.exec(rest);
            if (inline) {
              const keyStart = kv[0].length + inline[0].length - inline[2].length - 'template'.length;
              return { line: n, start: keyStart, end: keyStart + 'template'.length };
            }
          }
        }
      }
    }
    state = lexLine(line, state);
  }
  return undefined;
}
