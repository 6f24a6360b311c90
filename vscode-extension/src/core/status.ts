/** The status bar item's text and tooltip. */
import { formatScore } from './format';

export type ServerState = 'starting' | 'running' | 'stopped' | 'failed';

export interface StatusState {
  model: string;
  server: ServerState;
  /** "optimizing" / "evaluating" while a run is in progress. */
  activity?: string | undefined;
  /** Best score reported by the running run so far. */
  best?: number | undefined;
  /** Score of the last finished run or evaluation. */
  lastScore?: number | undefined;
  problem?: string | undefined;
}

export function statusText(s: StatusState): { text: string; tooltip: string } {
  const tooltip: string[] = [`promptlsp — model: ${s.model}`];
  let text: string;
  if (s.activity !== undefined) {
    text = `$(sync~spin) ${s.model} · ${s.activity}${s.best !== undefined ? ` · best ${formatScore(s.best)}` : ''}`;
    tooltip.push(`${s.activity}…`);
  } else if (s.server === 'failed') {
    text = `$(error) promptlsp`;
    tooltip.push(s.problem ?? 'the server is not running');
  } else if (s.server === 'starting') {
    text = `$(loading~spin) ${s.model}`;
    tooltip.push('starting the server…');
  } else {
    text = `$(beaker) ${s.model}${s.lastScore !== undefined ? ` · ${formatScore(s.lastScore)}` : ''}`;
    if (s.server === 'stopped') tooltip.push('the server is stopped');
  }
  if (s.lastScore !== undefined) tooltip.push(`last score: ${formatScore(s.lastScore)}`);
  tooltip.push('Click for model settings and run history');
  return { text, tooltip: tooltip.join('\n') };
}

/**
 * The runs in progress, for the status bar: the spinner shows while any run is in progress, so
 * one run that ends does not stop the spinner of another still going. Each run has a ticket;
 * ending a ticket twice (Cancel, then the run's own cleanup) counts once.
 */
export class RunActivities {
  private readonly runs = new Map<number, { activity: string; best?: number | undefined }>();
  private next = 1;

  begin(activity: string): number {
    const ticket = this.next++;
    this.runs.set(ticket, { activity });
    return ticket;
  }

  /** The best score so far of one run. */
  best(ticket: number, score: number): void {
    const run = this.runs.get(ticket);
    if (run !== undefined) {
      run.best = score;
    }
  }

  /** True when the ticket was still in progress. */
  end(ticket: number): boolean {
    return this.runs.delete(ticket);
  }

  get count(): number {
    return this.runs.size;
  }

  /** The status bar's `activity` and `best`: the newest run's, with how many others run. */
  get current(): Pick<StatusState, 'activity' | 'best'> {
    const newest = [...this.runs.values()].pop();
    if (newest === undefined) {
      return { activity: undefined, best: undefined };
    }
    const others = this.runs.size - 1;
    return { activity: others > 0 ? `${newest.activity} (+${others} more)` : newest.activity, best: newest.best };
  }
}
