/** `promptlsp/evaluate` answers -> the rows of the per-example results view. */
import { MalformedAnswer } from './estimate';
import { finiteNumber, formatScore, isRecord } from './format';

export interface CheckView {
  name: string;
  score: number | null;
  passed: boolean | null;
  reason: string;
}

export interface ExampleView {
  id: string;
  split: string | null;
  score: number | null;
  passed: boolean | null;
  vars: Record<string, unknown>;
  expected: unknown[] | null;
  output: string | null;
  error: string | null;
  checks: CheckView[];
}

export interface EvaluationView {
  score: number | null;
  scoredOn: string | null;
  examples: ExampleView[];
  runId: string | null;
  message: string;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function parseCheck(raw: unknown, i: number): CheckView {
  if (!isRecord(raw)) {
    return { name: `check ${i + 1}`, score: null, passed: null, reason: text(raw) };
  }
  const name = typeof raw.name === 'string' && raw.name ? raw.name : typeof raw.type === 'string' ? raw.type : `check ${i + 1}`;
  return {
    name,
    score: finiteNumber(raw.score) ?? null,
    passed: typeof raw.passed === 'boolean' ? raw.passed : null,
    reason: typeof raw.reason === 'string' ? raw.reason : '',
  };
}

function parseExample(raw: unknown, i: number): ExampleView {
  if (!isRecord(raw)) {
    throw new MalformedAnswer('evaluation', `examples[${i}] is not an object`);
  }
  const id = raw.example_id ?? raw.exampleId ?? raw.id;
  return {
    id: typeof id === 'string' || typeof id === 'number' ? String(id) : `example ${i + 1}`,
    split: typeof raw.split === 'string' ? raw.split : null,
    score: finiteNumber(raw.score) ?? null,
    passed: typeof raw.passed === 'boolean' ? raw.passed : null,
    vars: isRecord(raw.vars) ? raw.vars : {},
    expected: Array.isArray(raw.expected) ? raw.expected : raw.expected === null || raw.expected === undefined ? null : [raw.expected],
    output: typeof raw.output === 'string' ? raw.output : raw.output === null || raw.output === undefined ? null : text(raw.output),
    error: typeof raw.error === 'string' && raw.error ? raw.error : null,
    checks: Array.isArray(raw.checks) ? raw.checks.map(parseCheck) : [],
  };
}

export function parseEvaluation(raw: unknown): EvaluationView {
  if (!isRecord(raw)) {
    throw new MalformedAnswer('evaluation', `expected an object, got ${raw === null ? 'null' : typeof raw}`);
  }
  if (raw.examples !== undefined && !Array.isArray(raw.examples)) {
    throw new MalformedAnswer('evaluation', '"examples" must be a list');
  }
  const examples = Array.isArray(raw.examples) ? raw.examples.map(parseExample) : [];
  const score = finiteNumber(raw.score) ?? finiteNumber(raw.initialScore) ?? finiteNumber(raw.bestScore) ?? null;
  return {
    score,
    scoredOn: typeof raw.scoredOn === 'string' ? raw.scoredOn : typeof raw.scored_on === 'string' ? raw.scored_on : null,
    examples,
    runId: typeof raw.runId === 'string' ? raw.runId : null,
    message: typeof raw.message === 'string' ? raw.message : '',
  };
}

function oneLine(value: string, max = 80): string {
  const flat = value.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** "score 1.000 · passed · train" */
export function exampleDescription(e: ExampleView): string {
  const parts = [`score ${formatScore(e.score)}`];
  if (e.error) parts.push('error');
  else if (e.passed !== null) parts.push(e.passed ? 'passed' : 'failed');
  if (e.split) parts.push(e.split);
  return parts.join(' · ');
}

export function exampleTooltip(e: ExampleView): string {
  const lines: string[] = [`${e.id}${e.split ? ` (${e.split})` : ''}: score ${formatScore(e.score)}`];
  const vars = Object.entries(e.vars);
  lines.push('', 'Input:');
  if (vars.length === 0) lines.push('  (no variables)');
  for (const [k, v] of vars) lines.push(`  ${k} = ${text(v)}`);
  lines.push('', `Output: ${e.output ?? '(none)'}`);
  if (e.expected !== null) lines.push(`Expected: ${e.expected.map(text).join(' | ')}`);
  if (e.error) lines.push(`Error: ${e.error}`);
  if (e.checks.length > 0) {
    lines.push('', 'Checks:');
    for (const c of e.checks) {
      const verdict = c.passed === null ? '' : c.passed ? 'pass' : 'fail';
      lines.push(`  ${c.name}: ${formatScore(c.score)}${verdict ? ` ${verdict}` : ''}${c.reason ? ` — ${c.reason}` : ''}`);
    }
  }
  return lines.join('\n');
}

export interface DetailRow {
  label: string;
  description: string;
  tooltip: string;
}

/** The child rows of an example: input variables, output, expected, error, then each check. */
export function exampleDetails(e: ExampleView): DetailRow[] {
  const rows: DetailRow[] = [];
  for (const [k, v] of Object.entries(e.vars)) {
    rows.push({ label: `input ${k}`, description: oneLine(text(v)), tooltip: text(v) });
  }
  rows.push({ label: 'output', description: oneLine(e.output ?? '(none)'), tooltip: e.output ?? '(none)' });
  if (e.expected !== null) {
    const expected = e.expected.map(text).join(' | ');
    rows.push({ label: 'expected', description: oneLine(expected), tooltip: expected });
  }
  if (e.error) rows.push({ label: 'error', description: oneLine(e.error), tooltip: e.error });
  for (const c of e.checks) {
    const verdict = c.passed === null ? '' : c.passed ? ' ✓' : ' ✗';
    rows.push({
      label: `check ${c.name}`,
      description: `${formatScore(c.score)}${verdict}${c.reason ? ` · ${oneLine(c.reason)}` : ''}`,
      tooltip: c.reason || `${c.name}: ${formatScore(c.score)}`,
    });
  }
  return rows;
}

/** "sentiment.prompt.toml: score 0.750 on validation · 3/4 passed" */
export function evaluationHeadline(v: EvaluationView, fileName: string): string {
  const passed = v.examples.filter((e) => e.passed === true).length;
  const on = v.scoredOn ? ` on ${v.scoredOn}` : '';
  const counts = v.examples.length > 0 ? ` · ${passed}/${v.examples.length} passed` : '';
  return `${fileName}: score ${formatScore(v.score)}${on}${counts}`;
}
