/**
 * The server's custom protocol: the `promptlsp/*` requests, their params and results — the
 * mirror of `server/promptlsp/lsp/custom_protocol.py` (one key style: camelCase). Answers are
 * still checked where they are read (`parse…` in estimate.ts, proposal.ts, evaluation.ts,
 * history.ts, report.ts): a server of another version may send something else.
 */

export const ESTIMATE = 'promptlsp/estimate';
export const OPTIMIZE = 'promptlsp/optimize';
export const EVALUATE = 'promptlsp/evaluate';
export const RUNS = 'promptlsp/runs';
export const CANDIDATES = 'promptlsp/candidates';
export const RUN_REPORT = 'promptlsp/runReport';
export const RUN_EXAMPLE = 'promptlsp/runExample';

export type ProgressToken = number | string;

// -- params -----------------------------------------------------------------------------------

export interface FileParams {
  uri: string;
}

export interface EstimateParams extends FileParams {
  version?: number;
  method?: string;
  iterations?: number;
  budgetCalls?: number;
}

export interface OptimizeParams extends EstimateParams {
  workDoneToken?: ProgressToken;
}

export interface EvaluateParams extends FileParams {
  version?: number;
  split?: string;
  critique?: boolean;
  iterations?: number;
  budgetCalls?: number;
  workDoneToken?: ProgressToken;
}

export interface CandidatesParams extends FileParams {
  runId?: string;
}

export interface RunReportParams extends FileParams {
  runId: string;
}

export interface Position {
  line: number;
  character: number;
}

export interface RunExampleParams extends FileParams {
  version?: number;
  example?: string;
  position?: Position;
  workDoneToken?: ProgressToken;
}

// -- results ----------------------------------------------------------------------------------

export interface PromptText {
  template: string | null;
  system: string | null;
}

export interface Totals {
  calls: number;
  retries: number;
  cacheHits: number;
  failures: number;
  promptTokens: number;
  completionTokens: number;
  tokens: number;
  costUsd: number | null;
  costUnknownCalls: number;
  wallS: number;
  busyS: number;
}

export interface Accounting {
  total: Totals;
  byPhase: Record<string, Totals>;
  byScope: Record<string, Totals> | null;
  budget: { maxCalls: number | null; maxTokens: number | null; maxUsd: number | null } | null;
  budgetExhausted: boolean;
  budgetExhaustedReason: string | null;
  elapsedS: number;
}

export interface PlannedTotals {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number | null;
  unpricedModels: string[];
  byPhase: Record<string, PlannedTotals>;
}

export interface EstimateResult {
  method: string;
  iterations: number;
  calls: number;
  tokens: number;
  costUsd: number | null;
  overBudget: string | null;
  summary: string;
}

export interface Candidate {
  candidateId: string;
  parentId: string | null;
  iteration: number | null;
  system: string | null;
  template: string | null;
  origin: string | null;
  minibatchScore: number | null;
  minibatchExamples: number | null;
  validationScore: number | null;
  validationExamples: number | null;
  rejected: boolean;
  reason: string | null;
  raw: string | null;
}

export interface CheckRow {
  name: string;
  type: string | null;
  score: number | null;
  passed: boolean | null;
  weight: number | null;
  reason: string;
  origin: string | null;
}

export interface ExampleRow {
  exampleId: string;
  split: string | null;
  vars: Record<string, unknown>;
  expected: string[] | null;
  output: string | null;
  score: number | null;
  passed: boolean | null;
  error: string | null;
  checks: CheckRow[];
  cutOffAt: number | null;
  cached: boolean | null;
}

/** An LSP WorkspaceEdit, as far as the extension reads it (see edits.ts for the text edits). */
export interface WorkspaceEdit {
  documentChanges?: { textDocument: { uri: string; version: number | null }; edits: unknown[] }[];
  changes?: Record<string, unknown[]>;
  changeAnnotations?: Record<string, unknown>;
}

/** The best candidate of an optimization as an edit of the document at `version` (null: of
 * the file on disk), or why it no longer applies (`withdrawn`). */
export interface Proposal {
  uri: string;
  version: number | null;
  candidateId: string;
  initialScore: number | null;
  bestScore: number | null;
  scoredOn: string | null;
  edit: WorkspaceEdit | null;
  withdrawn: string | null;
}

export interface OptimizeResult {
  runId: string;
  status: string;
  method: string;
  initialScore: number | null;
  bestScore: number | null;
  scoredOn: string | null;
  best: PromptText | null;
  candidates: Candidate[];
  accounting: Accounting;
  estimate: PlannedTotals;
  message: string | null;
  proposal: Proposal | null;
}

/** `promptlsp/evaluate` with `critique: true`. */
export interface CritiqueResult extends OptimizeResult {
  examples: ExampleRow[];
  score: number | null;
}

export interface EvaluationResult {
  runId: string;
  prompt: PromptText;
  score: number | null;
  complete: boolean;
  splits: Record<string, { score: number | null; examples: number; passed: number; errors: number }>;
  examples: ExampleRow[];
  accounting: Accounting;
}

/** One recorded run; times in seconds since the epoch. */
export interface RunInfo {
  id: string;
  file: string | null;
  method: string | null;
  status: string;
  startedAt: number;
  endedAt: number | null;
  updatedAt: number;
  settings: Record<string, unknown> | null;
  estimate: PlannedTotals | null;
  accounting: Accounting | null;
  initial: PromptText | null;
  best: PromptText | null;
  promptSha: string | null;
  bestCandidateId: string | null;
  initialScore: number | null;
  bestScore: number | null;
  scoredOn: string | null;
  iterations: number;
  events: number;
  message: string;
  pid: number | null;
  host: string | null;
}

export interface CandidatesResult {
  runId: string;
  candidates: Candidate[];
}

export interface RunReportResult {
  runId: string;
  html: string;
}

export interface RunExampleResult {
  runId: string;
  exampleId: string;
  result: ExampleRow;
}

/** Each request's params and result. */
export interface Requests {
  [ESTIMATE]: { params: EstimateParams; result: EstimateResult };
  [OPTIMIZE]: { params: OptimizeParams; result: OptimizeResult };
  [EVALUATE]: { params: EvaluateParams; result: EvaluationResult | CritiqueResult };
  [RUNS]: { params: FileParams; result: RunInfo[] };
  [CANDIDATES]: { params: CandidatesParams; result: CandidatesResult };
  [RUN_REPORT]: { params: RunReportParams; result: RunReportResult };
  [RUN_EXAMPLE]: { params: RunExampleParams; result: RunExampleResult };
}

export type Method = keyof Requests;

/** What can send a request (a LanguageClient); `T` is its cancellation token. */
export interface Sender<T> {
  sendRequest(method: string, params: unknown, token?: T): Promise<unknown>;
}

/** Send `method` with its typed params. The answer is `unknown` until a `parse…` checked it. */
export function request<M extends Method, T>(client: Sender<T>, method: M, params: Requests[M]['params'], token?: T): Promise<unknown> {
  return client.sendRequest(method, params, token);
}
