/** `promptlsp/evaluate` answers -> the rows of the per-example results view. */
import { MalformedAnswer } from './estimate';
import { Fields, finiteNumber, formatScore, isFields, isRecord } from './format';
import type { CritiqueResult, ExampleRow, RunExampleResult } from './protocol';
import { failureText, parseRunSummary, statusKind, statusNote } from './proposal';

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
  /** The run's status, as in an optimization's summary ("finished", "budget-exhausted", …). */
  status: string;
  /** The mean example score; null when no example could be scored (never a fallback). */
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

export function parseExample(raw: unknown, i: number): ExampleView {
  if (!isFields<ExampleRow>(raw)) {
    throw new MalformedAnswer('evaluation', `examples[${i}] is not an object`);
  }
  const id = raw.exampleId;
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

/** The `promptlsp/evaluate` (critique) answer, a `CritiqueResult`: an optimization's summary plus `examples`, `score`. */
export function parseEvaluation(raw: unknown): EvaluationView {
  const summary = parseRunSummary(raw); // the status first, read as for an optimization
  const record = raw as Fields<CritiqueResult>;
  if (record.examples !== undefined && !Array.isArray(record.examples)) {
    throw new MalformedAnswer('evaluation', '"examples" must be a list');
  }
  const examples = Array.isArray(record.examples) ? record.examples.map(parseExample) : [];
  return {
    status: summary.status,
    score: finiteNumber(record.score) ?? null,
    scoredOn: summary.scoredOn,
    examples,
    runId: summary.runId,
    message: summary.message,
  };
}

/** The `promptlsp/runExample` answer, a `RunExampleResult`: `{runId, exampleId, result}`. */
export interface ExampleRunView {
  runId: string | null;
  example: ExampleView;
  cached: boolean;
}

export function parseExampleRun(raw: unknown): ExampleRunView {
  if (!isFields<RunExampleResult>(raw) || !isFields<ExampleRow>(raw.result)) {
    throw new MalformedAnswer('example run', 'expected {runId, exampleId, result}');
  }
  const example = parseExample(raw.result, 0);
  if (typeof raw.exampleId === 'string') {
    example.id = raw.exampleId;
  }
  return { runId: typeof raw.runId === 'string' ? raw.runId : null, example, cached: raw.result.cached === true };
}

/** "良い😀 passed: score 1.000 · "positive"" for a notification. */
export function exampleRunMessage(v: ExampleRunView): string {
  const e = v.example;
  const verdict = e.error ? 'could not be scored' : e.passed ? 'passed' : 'failed';
  const what = e.error ? oneLine(e.error) : `score ${formatScore(e.score)} · "${oneLine(e.output ?? '', 60)}"`;
  return `${e.id} ${verdict}: ${what}${v.cached ? ' (from the cache)' : ''}.`;
}

export type EvaluationOutcome =
  | { kind: 'cancelled'; message: string }
  | { kind: 'failed'; message: string }
  | { kind: 'done'; message: string };

/** What an evaluation came to, in words for a notification. */
export function evaluationOutcome(v: EvaluationView, fileName: string): EvaluationOutcome {
  const kind = statusKind(v.status);
  if (kind === 'cancelled') {
    return { kind: 'cancelled', message: `Cancelled the evaluation of ${fileName}.` };
  }
  if (kind === 'failed') {
    return { kind: 'failed', message: `Evaluation of ${fileName} ${failureText(v.status, v.message)}.` };
  }
  const note = statusNote(v.status, v.message);
  const passed = v.examples.filter((e) => e.passed === true).length;
  const counts = v.examples.length > 0 ? `, ${passed}/${v.examples.length} examples passed` : '';
  if (v.score === null) {
    return {
      kind: 'done',
      message: `Evaluated ${fileName}: no example could be scored${note ? ` (${note})` : ''}; see each example's error in the Prompt Evaluation view.`,
    };
  }
  const on = v.scoredOn ? ` on ${v.scoredOn}` : '';
  const budget = v.status === 'budget-exhausted' ? ` (${note})` : '';
  return {
    kind: 'done',
    message: `Evaluated ${fileName}: score ${formatScore(v.score)}${on}${counts}${budget}. Critiques show as diagnostics in the file.`,
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
  const score = v.score === null ? 'no example could be scored' : `score ${formatScore(v.score)}${on}`;
  return `${fileName}: ${score}${counts}`;
}
