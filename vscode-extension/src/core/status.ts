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
