/**
 * From an optimization's answer (`OptimizeResult`) to a proposal the user can accept: what the
 * run found, its `proposal` (the best candidate as an edit of the document's version), the
 * proposed text (the current text with exactly that edit applied) and the version check at
 * accept. When the document changed since, the server's "Apply rewritten prompt" code action
 * of the same candidate (found by its change annotation: run and candidate ids) gives the edit
 * rebased on the current text.
 */
import { EditError, TextEdit, applyTextEdits, parseTextEdits } from './edits';
import { MalformedAnswer } from './estimate';
import { finiteNumber, formatScore, isFields, isRecord } from './format';
import type { OptimizeResult, Proposal as ServerProposal } from './protocol';

export const REWRITE_KIND = 'refactor.rewrite';
/** The change annotation id of a candidate's rewrite: `promptlsp.apply-candidate:<run>:<candidate>`. */
export const ANNOTATION_PREFIX = 'promptlsp.apply-candidate';

/** Which candidate of which run a proposal is. */
export interface CandidateRef {
  runId: string;
  candidateId: string;
}

export interface RunSummary {
  runId: string | null;
  status: string;
  method: string | null;
  initialScore: number | null;
  bestScore: number | null;
  scoredOn: string | null;
  candidates: number;
  message: string;
  proposal: ServerProposal | null;
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** The optimize result's `proposal`; null when there is none; MalformedAnswer when it is unreadable. */
export function parseProposal(raw: unknown): ServerProposal | null {
  if (raw === null || raw === undefined) {
    return null;
  }
  if (!isFields<ServerProposal>(raw) || typeof raw.uri !== 'string' || typeof raw.candidateId !== 'string') {
    throw new MalformedAnswer('proposal', 'expected {uri, version, candidateId, edit, …}');
  }
  if (raw.edit !== null && raw.edit !== undefined && !isRecord(raw.edit)) {
    throw new MalformedAnswer('proposal', '"edit" must be a WorkspaceEdit or null');
  }
  const version = raw.version;
  return {
    uri: raw.uri,
    version: typeof version === 'number' && Number.isInteger(version) ? version : null,
    candidateId: raw.candidateId,
    initialScore: finiteNumber(raw.initialScore) ?? null,
    bestScore: finiteNumber(raw.bestScore) ?? null,
    scoredOn: optionalString(raw.scoredOn),
    edit: isRecord(raw.edit) ? (raw.edit as ServerProposal['edit']) : null,
    withdrawn: typeof raw.withdrawn === 'string' && raw.withdrawn ? raw.withdrawn : null,
  };
}

export function parseRunSummary(raw: unknown): RunSummary {
  if (!isFields<OptimizeResult>(raw)) {
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
    proposal: parseProposal(raw.proposal),
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
  throw new EditError('the edit has no text edits for one document');
}

/** "candidate c1 (score 0.250 → 1.000)": a proposal as the log and messages name it. */
export function proposalTitle(p: ServerProposal): string {
  return `candidate ${p.candidateId} (score ${formatScore(p.initialScore)} → ${formatScore(p.bestScore)})`;
}

/** The optimize result's proposal as a pick: its edit, or why it cannot be applied. */
export function proposalPick(p: ServerProposal): Pick {
  const title = proposalTitle(p);
  if (p.withdrawn !== null) {
    return { kind: 'withdrawn', title, reason: p.withdrawn };
  }
  if (p.edit === null) {
    return { kind: 'withdrawn', title, reason: 'the proposal carries no edit' };
  }
  const { uri, version, edits } = documentEdit(p.edit as Record<string, unknown>);
  if (edits.length === 0) {
    return { kind: 'withdrawn', title, reason: 'the proposal carries no edit' };
  }
  return { kind: 'ok', title, uri: uri ?? p.uri, version, edits };
}

function isRewrite(a: unknown): a is Record<string, unknown> {
  return isRecord(a) && (a.kind === REWRITE_KIND || String(a.kind).startsWith(`${REWRITE_KIND}.`));
}

/**
 * The candidate's "Apply rewritten prompt" action among the server's code actions (LSP JSON),
 * found by its change annotation — for the document as it is now (the server rebases the edit
 * on the current text). A disabled rewrite action gives its reason ("withdrawn"); rewrite
 * actions of other runs only mean the server still shows an older run ("stale").
 */
export function pickRewriteAction(raw: unknown, ref: CandidateRef): Pick {
  if (raw === null || raw === undefined) {
    return { kind: 'none' };
  }
  if (!Array.isArray(raw)) {
    throw new MalformedAnswer('code action list', `expected a list, got ${typeof raw}`);
  }
  const rewrites = raw.filter(isRewrite);
  const wanted = `${ANNOTATION_PREFIX}:${ref.runId}:${ref.candidateId}`;
  const mine = rewrites.find((a) => isRecord(a.edit) && annotationIds(a.edit).includes(wanted));
  if (mine !== undefined) {
    const title = typeof mine.title === 'string' ? mine.title : wanted;
    const { uri, version, edits } = documentEdit(mine.edit as Record<string, unknown>);
    if (edits.length === 0) {
      return { kind: 'withdrawn', title, reason: 'the action carries no edit' };
    }
    return { kind: 'ok', title, uri, version, edits };
  }
  const disabled = rewrites.find((a) => isRecord(a.disabled));
  if (disabled !== undefined && isRecord(disabled.disabled)) {
    const reason = typeof disabled.disabled.reason === 'string' && disabled.disabled.reason ? disabled.disabled.reason : 'the server disabled it';
    return { kind: 'withdrawn', title: String(disabled.title ?? ''), reason };
  }
  return rewrites.length > 0 ? { kind: 'stale', title: String(rewrites[0].title ?? '') } : { kind: 'none' };
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
