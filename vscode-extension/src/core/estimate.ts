/** The server's estimate (`promptlsp/estimate`) and what to do with it before a run. */
import { finiteNumber, formatUsd, isFields } from './format';
import type { EstimateResult } from './protocol';
import type { ConfirmThresholds } from './settings';

export interface Estimate {
  method: string;
  iterations: number | null;
  calls: number;
  tokens: number | null;
  costUsd: number | null;
  overBudget: string | null;
  /** The server's own one-line summary (newer servers), e.g. "gradsum on f.prompt.toml: …". */
  summary: string | null;
}

export class MalformedAnswer extends Error {
  constructor(what: string, detail: string) {
    super(`the server sent a malformed ${what}: ${detail}`);
    this.name = 'MalformedAnswer';
  }
}

/** Validates `{method, iterations, calls, tokens, costUsd, overBudget, summary}`; throws MalformedAnswer. */
export function parseEstimate(raw: unknown): Estimate {
  if (!isFields<EstimateResult>(raw)) {
    throw new MalformedAnswer('estimate', `expected an object, got ${raw === null ? 'null' : typeof raw}`);
  }
  const calls = finiteNumber(raw.calls);
  if (calls === undefined || calls < 0) {
    throw new MalformedAnswer('estimate', `"calls" must be a non-negative number, got ${JSON.stringify(raw.calls)}`);
  }
  const cost = raw.costUsd;
  if (cost !== null && cost !== undefined && finiteNumber(cost) === undefined) {
    throw new MalformedAnswer('estimate', `"costUsd" must be a number or null, got ${JSON.stringify(cost)}`);
  }
  const over = raw.overBudget;
  if (over !== null && over !== undefined && typeof over !== 'string') {
    throw new MalformedAnswer('estimate', `"overBudget" must be a string or null, got ${JSON.stringify(over)}`);
  }
  return {
    method: typeof raw.method === 'string' ? raw.method : 'optimizer',
    iterations: finiteNumber(raw.iterations) ?? null,
    calls,
    tokens: finiteNumber(raw.tokens) ?? null,
    costUsd: finiteNumber(cost) ?? null,
    overBudget: typeof over === 'string' && over.trim() !== '' ? over : null,
    summary: typeof raw.summary === 'string' && raw.summary.trim() !== '' ? raw.summary.trim() : null,
  };
}

export type Decision =
  | { action: 'refuse'; message: string }
  | { action: 'confirm'; message: string; summary: string }
  | { action: 'run'; summary: string };

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

/** The server's summary; for servers that send none, "gradsum, 2 iterations: at most 120
 * calls, 40,000 tokens, $0.0123". */
export function describeEstimate(e: Estimate): string {
  if (e.summary !== null) {
    return e.summary;
  }
  const parts = [plural(e.calls, 'call')];
  if (e.tokens !== null) parts.push(plural(e.tokens, 'token'));
  parts.push(formatUsd(e.costUsd));
  const iterations = e.iterations !== null ? `, ${plural(e.iterations, 'iteration')}` : '';
  return `${e.method}${iterations}: at most ${parts.join(', ')}`;
}

/** Refuse an over-budget run, ask above a threshold (strictly above), run otherwise. */
export function decide(estimate: Estimate, thresholds: ConfirmThresholds, fileName: string): Decision {
  const summary = describeEstimate(estimate);
  if (estimate.overBudget !== null) {
    return { action: 'refuse', message: `Not optimizing ${fileName}: ${estimate.overBudget}` };
  }
  const reasons: string[] = [];
  if (estimate.calls > thresholds.calls) {
    reasons.push(`more than ${plural(thresholds.calls, 'call')}`);
  }
  if (estimate.costUsd !== null && estimate.costUsd > thresholds.usd) {
    reasons.push(`more than ${formatUsd(thresholds.usd)}`);
  }
  if (reasons.length > 0) {
    return {
      action: 'confirm',
      summary,
      message: `Optimizing ${fileName} may cost ${reasons.join(' and ')} (${summary}). Run it?`,
    };
  }
  return { action: 'run', summary };
}
