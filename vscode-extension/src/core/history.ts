/** Run history (`promptlsp/runs`, newest first: `RunInfo[]`) as quick pick items. */
import { finiteNumber, formatScore, formatUsd, isFields, isRecord } from './format';
import { MalformedAnswer } from './estimate';
import type { RunInfo } from './protocol';

export interface RunItem {
  id: string;
  label: string;
  description: string;
  detail: string;
}

const STATUS_ICON: Record<string, string> = {
  finished: '$(check)',
  'budget-exhausted': '$(check)', // a normal end: the best candidate was still chosen and validated
  cancelled: '$(circle-slash)',
  failed: '$(error)',
  interrupted: '$(warning)',
  running: '$(sync~spin)',
};

/** How a status reads in the list (the store's word where it reads well). */
const STATUS_LABEL: Record<string, string> = {
  'budget-exhausted': 'stopped by the budget',
};

/** Seconds since the epoch (the store's form), milliseconds, or an ISO string -> ms. */
function toMillis(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value > 1e12 ? value : value * 1000;
  }
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

export function formatTime(ms: number, utc = false): string {
  const d = new Date(ms);
  const [y, mo, day, h, mi] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes()];
  return `${y}-${two(mo)}-${two(day)} ${two(h)}:${two(mi)}`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

const EVALUATIONS = new Set(['evaluate', 'example']);

/** One run (a `RunInfo`; entries of another shape are skipped). */
export function formatRun(raw: unknown, utc = false): RunItem | undefined {
  if (!isFields<RunInfo>(raw)) return undefined;
  const run = raw;
  const id = run.id;
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  const status = typeof run.status === 'string' ? run.status : 'unknown';
  const method = typeof run.method === 'string' ? run.method : 'run';
  const initial = finiteNumber(run.initialScore);
  const best = finiteNumber(run.bestScore);
  const icon = STATUS_ICON[status] ?? '$(circle-outline)';
  // an evaluation (of the file's prompt, or of one example) has one score, not a before → after
  const scores = EVALUATIONS.has(method) ? `score ${formatScore(best)}` : `${formatScore(initial)} → ${formatScore(best)}`;
  const label = `${icon} ${method} · ${scores}`;

  const description: string[] = [STATUS_LABEL[status] ?? status];
  const iterations = finiteNumber(run.iterations);
  if (iterations !== undefined) description.push(`${iterations} iteration${iterations === 1 ? '' : 's'}`);
  const total = isRecord(run.accounting) && isRecord(run.accounting.total) ? run.accounting.total : undefined;
  if (total) {
    const calls = finiteNumber(total.calls);
    if (calls !== undefined) description.push(`${calls} call${calls === 1 ? '' : 's'}`);
    if (total.costUsd !== undefined) description.push(formatUsd(total.costUsd));
  }

  const detail: string[] = [`run ${id}`];
  const started = toMillis(run.startedAt);
  const ended = toMillis(run.endedAt);
  if (started !== undefined) detail.push(`started ${formatTime(started, utc)}`);
  if (started !== undefined && ended !== undefined && ended >= started) detail.push(`took ${formatDuration(ended - started)}`);
  if (typeof run.scoredOn === 'string') detail.push(`scored on ${run.scoredOn}`);
  if (typeof run.message === 'string' && run.message.trim() !== '') detail.push(run.message.trim());

  return { id: String(id), label, description: description.join(' · '), detail: detail.join(' · ') };
}

/** The items for a `promptlsp/runs` answer (a list; bad entries are skipped). */
export function formatRuns(raw: unknown, utc = false): RunItem[] {
  if (!Array.isArray(raw)) {
    throw new MalformedAnswer('run list', `expected a list, got ${raw === null ? 'null' : typeof raw}`);
  }
  return raw.map((r) => formatRun(r, utc)).filter((r): r is RunItem => r !== undefined);
}
