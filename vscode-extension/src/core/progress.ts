/**
 * Server `$/progress` (WorkDoneProgress begin/report/end on the request's workDoneToken) ->
 * what a VS Code notification progress shows (`progress.report({message, increment})`, where
 * `increment` adds up to 100) and what the status bar shows (the best score so far).
 */
import { finiteNumber, isRecord } from './format';

export interface ProgressUpdate {
  message?: string;
  increment?: number;
}

export interface ParsedProgress {
  iteration?: number;
  total?: number;
  best?: number;
  calls?: number;
}

/** Reads "iteration 1/3 · best 0.500 · 12 calls · $0.0000" (any part may be missing). */
export function parseProgressMessage(message: string): ParsedProgress {
  const out: ParsedProgress = {};
  const iteration = /iteration\s+(\d+)\s*\/\s*(\d+)/i.exec(message);
  if (iteration) {
    out.iteration = Number(iteration[1]);
    out.total = Number(iteration[2]);
  }
  const best = /best\s+(-?\d+(?:\.\d+)?)/i.exec(message);
  if (best) {
    out.best = Number(best[1]);
  }
  const calls = /(\d+)\s+calls?\b/i.exec(message);
  if (calls) {
    out.calls = Number(calls[1]);
  }
  return out;
}

export class ProgressTracker {
  private percentage = 0;
  /** The best score reported so far (for the status bar). */
  public best: number | undefined;

  /** The notification update for one `$/progress` value, or undefined to show nothing. */
  update(value: unknown): ProgressUpdate | undefined {
    if (!isRecord(value) || (value.kind !== 'begin' && value.kind !== 'report' && value.kind !== 'end')) {
      return undefined;
    }
    const update: ProgressUpdate = {};
    const message = typeof value.message === 'string' ? value.message : undefined;
    if (message !== undefined) {
      update.message = message;
      const parsed = parseProgressMessage(message);
      if (parsed.best !== undefined) {
        this.best = parsed.best;
      }
    }
    let percentage = finiteNumber(value.percentage);
    if (value.kind === 'end') {
      percentage = 100;
    }
    if (percentage !== undefined) {
      const clamped = Math.max(0, Math.min(100, percentage));
      if (clamped > this.percentage) {
        update.increment = clamped - this.percentage;
        this.percentage = clamped;
      }
    }
    return update.message !== undefined || update.increment !== undefined ? update : undefined;
  }
}
