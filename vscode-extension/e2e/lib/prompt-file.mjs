// Facts about prompt files, from the repo's own Python (the same parser and scripted model the
// server uses), so the tests compare against the real thing rather than a copy.

import fs from 'node:fs';
import path from 'node:path';

import { python, REPO, runPython, STUB_MODEL } from './harness.mjs';

/** The stub model's improved template (tests/cli/stub_model.py GOOD_TEMPLATE). */
export function goodTemplate() {
  return JSON.parse(
    python(
      'import json, sys; sys.path.insert(0, sys.argv[1]); import stub_model; print(json.dumps(stub_model.GOOD_TEMPLATE))',
      [path.dirname(STUB_MODEL)],
    ),
  );
}

/** `[prompt] template` of a file, parsed with tomllib. */
export function templateOf(file) {
  return JSON.parse(
    python(
      'import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], "rb"))["prompt"]["template"]))',
      [file],
    ),
  );
}

/** `promptlsp check --format json` diagnostics of a file (what the server reports). */
export function checkDiagnostics(file) {
  const out = runPython(['-m', 'promptlsp', 'check', '--format', 'json', file], { okStatus: [0, 1] });
  return JSON.parse(out).files[0].diagnostics;
}

/** [start, end) byte offsets of the `template = """..."""` value in a prompt file's bytes. */
export function templateSpan(bytes) {
  const start = bytes.indexOf('template = """');
  if (start < 0) throw new Error('no template = """ in the file');
  const close = bytes.indexOf('"""', start + 'template = """'.length);
  if (close < 0) throw new Error('unterminated template string');
  return [start, close + 3];
}

/** Bytes outside the template string are the same in `before` and `after`. */
export function sameOutsideTemplate(before, after) {
  const [b0, b1] = templateSpan(before);
  const [a0, a1] = templateSpan(after);
  return before.subarray(0, b0).equals(after.subarray(0, a0)) && before.subarray(b1).equals(after.subarray(a1));
}

export const readBytes = (file) => fs.readFileSync(file);
export { REPO };

/** The runs the server recorded in a workspace (`.promptlsp/runs.sqlite`), newest first. */
export function runsOf(workspace) {
  const code = [
    'import json, sys',
    'from pathlib import Path',
    'from promptlsp.runs import RunStore',
    'from promptlsp.state import runs_path',
    'path = runs_path(Path(sys.argv[1]))',
    'runs = RunStore(path).runs() if path.exists() else []',
    'print(json.dumps([{"id": r.id, "method": r.method, "status": r.status} for r in runs]))',
  ].join('\n');
  return JSON.parse(python(code, [workspace]));
}
