/**
 * From an optimization's answer to a proposal the user can accept: what the run found, which of
 * the server's "Apply rewritten prompt (score a → b)" code actions carries it, the proposed text
 * (the current text with exactly that action's edits applied) and the version check at accept.
 */
import { EditError, TextEdit, applyTextEdits, parseTextEdits } from './edits';
import { MalformedAnswer } from './estimate';
import { finiteNumber, formatScore, isRecord } from './format';

export const REWRITE_KIND = 'refactor.rewrite';
export const REWRITE_TITLE = 'Apply rewritten prompt';

export interface RunSummary {
  runId: string | null;
  status: string;
  method: string | null;
  initialScore: number | null;
  bestScore: number | null;
  scoredOn: string | null;
  candidates: number;
  message: string;
}

export function parseRunSummary(raw: unknown): RunSummary {
  if (!isRecord(raw)) {
    throw new MalformedAnswer('run summary', `expected an object, got ${raw === null ? 'null' : typeof raw}`);
  }
  if (typeof raw.status !== 'string') {
    throw new MalformedAnswer('run summary', `"status" must be a string, got ${JSON.stringify(raw.status)}`);
  }
  return {
    runId: typeof raw.runId === 'string' ? raw.runId : null,
    status: raw.status,
    method: typeof raw.method === 'string' ? raw.method : null,
    initialScore: finiteNumber(raw.initialScore) ?? null,
    bestScore: finiteNumber(raw.bestScore) ?? null,
    scoredOn: typeof raw.scoredOn === 'string' ? raw.scoredOn : null,
    candidates: Array.isArray(raw.candidates) ? raw.candidates.length : 0,
    message: typeof raw.message === 'string' ? raw.message : '',
  };
}

/**
 * How a run's `status` reads. "finished" and "budget-exhausted" are normal ends (a run that
 * stopped before an iteration that would not fit its budget still chose and validated its best
 * candidate); "cancelled" is the user's doing; "failed", "interrupted" and any status this
 * extension does not know are failures.
 */
export type StatusKind = 'ended' | 'cancelled' | 'failed';

export function statusKind(status: string): StatusKind {
  if (status === 'finished' || status === 'budget-exhausted') return 'ended';
  if (status === 'cancelled') return 'cancelled';
  return 'failed';
}

/** The server's message as a note on a normal end: "stopped by the budget: …" for a budget stop. */
export function statusNote(status: string, message: string): string {
  if (status === 'budget-exhausted') {
    return message ? `stopped by the budget: ${message}` : 'stopped by the budget';
  }
  return message;
}

/** "failed (why)", "was interrupted (why)", 'ended with status "x" (why)'. */
export function failureText(status: string, message: string): string {
  const detail = message ? ` (${message})` : '';
  if (status === 'failed') return `failed${detail}`;
  if (status === 'interrupted') return `was interrupted${detail}`;
  return `ended with status "${status}"${detail}`;
}

export type Outcome =
  | { kind: 'cancelled'; message: string }
  | { kind: 'failed'; message: string }
  | { kind: 'no-improvement'; message: string }
  | { kind: 'improved'; message: string };

function scores(s: RunSummary): string {
  return `${s.scoredOn ? `${s.scoredOn} ` : ''}score ${formatScore(s.initialScore)} → ${formatScore(s.bestScore)}`;
}

/** What the run came to, in words for a notification. */
export function classifyRun(s: RunSummary, fileName: string): Outcome {
  const kind = statusKind(s.status);
  if (kind === 'cancelled') {
    return { kind: 'cancelled', message: `Optimization of ${fileName} was cancelled.` };
  }
  if (kind === 'failed') {
    return { kind: 'failed', message: `Optimization of ${fileName} ${failureText(s.status, s.message)}.` };
  }
  const note = statusNote(s.status, s.message);
  const better =
    s.bestScore !== null && (s.initialScore === null ? s.candidates > 0 : s.bestScore > s.initialScore);
  if (!better || s.candidates === 0) {
    return {
      kind: 'no-improvement',
      message: `No better prompt found for ${fileName}: ${scores(s)}${note ? ` (${note})` : ''}. The file is unchanged.`,
    };
  }
  const budget = s.status === 'budget-exhausted' ? ` (${note})` : '';
  return { kind: 'improved', message: `Optimization of ${fileName} finished: ${scores(s)}${budget}.` };
}

export function diffTitle(fileName: string, initialScore: number | null, bestScore: number | null): string {
  return `${fileName}: current ↔ proposed (score ${formatScore(initialScore)} → ${formatScore(bestScore)})`;
}

export type Pick =
  | { kind: 'ok'; title: string; uri: string | null; version: number | null; edits: TextEdit[] }
  | { kind: 'withdrawn'; title: string; reason: string }
  | { kind: 'stale'; title: string } // the actions are for another (older) run
  | { kind: 'none' };

function annotationIds(edit: Record<string, unknown>): string[] {
  const ids = new Set<string>();
  if (isRecord(edit.changeAnnotations)) {
    Object.keys(edit.changeAnnotations).forEach((id) => ids.add(id));
  }
  for (const change of Array.isArray(edit.documentChanges) ? edit.documentChanges : []) {
    if (isRecord(change) && Array.isArray(change.edits)) {
      for (const e of change.edits) {
        if (isRecord(e) && typeof e.annotationId === 'string') ids.add(e.annotationId);
      }
    }
  }
  return [...ids];
}

function documentEdit(edit: Record<string, unknown>): { uri: string | null; version: number | null; edits: TextEdit[] } {
  const changes = edit.documentChanges;
  if (Array.isArray(changes) && changes.length > 0) {
    const first = changes[0];
    if (!isRecord(first) || !isRecord(first.textDocument) || !Array.isArray(first.edits)) {
      throw new EditError('documentChanges[0] is not a TextDocumentEdit');
    }
    const version = first.textDocument.version;
    return {
      uri: typeof first.textDocument.uri === 'string' ? first.textDocument.uri : null,
      version: typeof version === 'number' && Number.isInteger(version) ? version : null,
      edits: parseTextEdits(first.edits),
    };
  }
  if (isRecord(edit.changes)) {
    const entries = Object.entries(edit.changes);
    if (entries.length === 1) {
      return { uri: entries[0][0], version: null, edits: parseTextEdits(entries[0][1]) };
    }
  }
  throw new EditError('the action has no text edits for one document');
}

/**
 * The best candidate's "Apply rewritten prompt" action among the server's code actions (LSP
 * JSON, best first), for run `runId` when the server names the run in its change annotations.
 */
export function pickRewriteAction(raw: unknown, runId: string | null): Pick {
  if (raw === null || raw === undefined) {
    return { kind: 'none' };
  }
  if (!Array.isArray(raw)) {
    throw new MalformedAnswer('code action list', `expected a list, got ${typeof raw}`);
  }
  const rewrites = raw.filter(
    (a): a is Record<string, unknown> =>
      isRecord(a) &&
      typeof a.title === 'string' &&
      a.title.startsWith(REWRITE_TITLE) &&
      (a.kind === undefined || a.kind === REWRITE_KIND || String(a.kind).startsWith(`${REWRITE_KIND}.`)),
  );
  if (rewrites.length === 0) {
    return { kind: 'none' };
  }
  const first = rewrites[0];
  const title = first.title as string;
  if (isRecord(first.disabled)) {
    const reason = typeof first.disabled.reason === 'string' && first.disabled.reason ? first.disabled.reason : 'the server disabled it';
    return { kind: 'withdrawn', title, reason };
  }
  if (!isRecord(first.edit)) {
    return { kind: 'withdrawn', title, reason: 'the action carries no edit' };
  }
  if (runId !== null) {
    const ids = annotationIds(first.edit);
    if (ids.length > 0 && !ids.some((id) => `:${id}:`.includes(`:${runId}:`))) {
      return { kind: 'stale', title };
    }
  }
  const { uri, version, edits } = documentEdit(first.edit);
  if (edits.length === 0) {
    return { kind: 'withdrawn', title, reason: 'the action carries no edit' };
  }
  return { kind: 'ok', title, uri, version, edits };
}

/** The scores in "Apply rewritten prompt (score 0.250 → 1.000)", when the title has them. */
export function scoresFromTitle(title: string): { initial: number; best: number } | undefined {
  const m = /score\s+(-?\d+(?:\.\d+)?)\s*→\s*(-?\d+(?:\.\d+)?)/.exec(title);
  return m ? { initial: Number(m[1]), best: Number(m[2]) } : undefined;
}

/** Why an edit made for `editVersion` cannot be applied to a document at `documentVersion`. */
export function versionProblem(editVersion: number | null, documentVersion: number, fileName: string): string | undefined {
  if (editVersion === null || editVersion === documentVersion) {
    return undefined;
  }
  return `${fileName} changed since the proposal was made (version ${editVersion}, now ${documentVersion})`;
}

export interface Proposal {
  uri: string;
  version: number | null;
  edits: TextEdit[];
  currentText: string;
  proposedText: string;
  title: string;
}

/** The proposal for the document at `currentText`: exactly the action's edits applied to it. */
export function buildProposal(pick: Extract<Pick, { kind: 'ok' }>, documentUri: string, currentText: string): Proposal {
  const proposedText = applyTextEdits(currentText, pick.edits);
  return {
    uri: pick.uri ?? documentUri,
    version: pick.version,
    edits: pick.edits,
    currentText,
    proposedText,
    title: pick.title,
  };
}
