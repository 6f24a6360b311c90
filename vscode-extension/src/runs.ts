/**
 * The "Optimize prompt", "Evaluate prompt" and "Show run history" commands: estimate and
 * confirm, run with a cancellable notification fed by the server's `$/progress` on a
 * client-created workDoneToken, then show the outcome (a diff, the results view, a message);
 * a run picked from the history opens its report (the server's page, with the score chart).
 */
import { randomUUID } from 'crypto';
import * as vscode from 'vscode';
import { WorkDoneProgress } from 'vscode-languageclient/node';
import type { LanguageClient } from 'vscode-languageclient/node';
import { describeRequestError } from './core/errors';
import { decide, parseEstimate } from './core/estimate';
import { evaluationOutcome, exampleRunMessage, parseEvaluation, parseExampleRun } from './core/evaluation';
import { baseName, formatScore } from './core/format';
import { formatRuns } from './core/history';
import { ProgressTracker } from './core/progress';
import { classifyRun, parseRunSummary } from './core/proposal';
import { ESTIMATE, EVALUATE, OPTIMIZE, RUNS, RUN_EXAMPLE, RUN_REPORT, Method, request } from './core/protocol';
import { parseRunReport } from './core/report';
import { confirmThresholds } from './core/settings';
import { Reservations } from './core/slots';
import { PROPOSED_SCHEME, Proposals } from './proposals';
import { ServerManager, settingsReader } from './server';
import { RunReportPanel } from './views/report';
import { ResultsView } from './views/results';
import { StatusBar } from './views/status';

export const LANGUAGE = 'prompt-toml';

/** How a run command shows itself: the status bar's activity, the notification's title and
 * first line, the noun of its log lines, and the message of a cancel. */
interface RunLook {
  activity: string;
  noun: string;
  title: string;
  method: Method;
  first: string;
  cancelled: string;
}

/** A run's end for the user (an `Outcome`, an `EvaluationOutcome`): its kind and its words. */
interface Ending {
  kind: string;
  message: string;
}

class CancelledHere extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Canceled';
  }
}

/** The prompt file a command is about: its argument (a Uri), else the active editor's file
 * (for the proposed side of a diff, the file the proposal was made for). */
export async function targetDocument(arg: unknown, proposals: Proposals): Promise<vscode.TextDocument | undefined> {
  let uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  if (uri !== undefined && uri.scheme === PROPOSED_SCHEME) {
    uri = proposals.documentUriFor(uri);
  }
  const usable = uri !== undefined && (uri.scheme === 'file' || uri.scheme === 'untitled');
  const document = usable ? await vscode.workspace.openTextDocument(uri!) : undefined;
  if (document === undefined || (document.languageId !== LANGUAGE && !document.uri.path.endsWith('.prompt.toml'))) {
    void vscode.window.showErrorMessage('promptlsp: open a *.prompt.toml file first (the command works on the active editor).');
    return undefined;
  }
  return document;
}

export class Runs implements vscode.Disposable {
  /** The command in progress on each file (from its check to its end, estimate and confirm
   * included), with the source that cancels it. */
  private readonly active = new Reservations<vscode.CancellationTokenSource>();
  private readonly report = new RunReportPanel();

  constructor(
    private readonly server: ServerManager,
    private readonly status: StatusBar,
    private readonly proposals: Proposals,
    private readonly results: ResultsView,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  private setRunning(): void {
    void vscode.commands.executeCommand('setContext', 'promptlsp.running', this.active.size > 0);
  }

  // Messages may quote the server (its errors, its run messages): never with a key in them.
  private info(text: string): void {
    void vscode.window.showInformationMessage(this.server.safe(text));
  }

  private error(text: string): void {
    void vscode.window.showErrorMessage(this.server.safe(text));
  }

  /**
   * Run `body` holding the file's run slot: reserved before anything asynchronous (so a second
   * click finds the file busy) and released when the command ends, only if still ours.
   */
  private async exclusive(document: vscode.TextDocument, body: (source: vscode.CancellationTokenSource) => Promise<void>): Promise<void> {
    const key = document.uri.toString();
    const source = new vscode.CancellationTokenSource();
    if (!this.active.reserve(key, source)) {
      source.dispose();
      this.info(`promptlsp: ${baseName(document.uri.path)} already has a run in progress (cancel it from its notification or with "promptlsp: Cancel run").`);
      return;
    }
    this.setRunning();
    try {
      await body(source);
    } finally {
      this.active.release(key, source);
      source.dispose();
      this.setRunning();
    }
  }

  /** Run one request under a cancellable notification; undefined when it failed or was cancelled
   * (already reported to the user). */
  private async withRun(
    client: LanguageClient,
    document: vscode.TextDocument,
    source: vscode.CancellationTokenSource,
    options: RunLook,
    send: (token: vscode.CancellationToken, workDoneToken: string) => Promise<unknown>,
  ): Promise<unknown> {
    const name = baseName(document.uri.path);
    const ticket = this.status.begin(options.activity);
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: options.title, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => source.cancel());
          // On Cancel, the notification and this run's spinner end at once; the request gets
          // $/cancelRequest (through source.token) and its late answer is dropped.
          const cancelled = new Promise<never>((_, reject) => {
            source.token.onCancellationRequested(() => {
              this.status.end(ticket);
              reject(new CancelledHere());
            });
          });
          progress.report({ message: options.first });
          const workDoneToken = `promptlsp-${randomUUID()}`;
          const tracker = new ProgressTracker();
          const subscription = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
            const update = tracker.update(value);
            if (update !== undefined) {
              progress.report(update);
            }
            if (tracker.best !== undefined) {
              this.status.best(ticket, tracker.best);
            }
          });
          const answer = send(source.token, workDoneToken);
          answer.catch(() => undefined); // settled after a cancel: nobody waits for it any more
          try {
            return await Promise.race([answer, cancelled]);
          } finally {
            subscription.dispose();
          }
        },
      );
    } catch (error) {
      const failure = describeRequestError(error, options.method, source.token.isCancellationRequested);
      if (failure.kind === 'cancelled') {
        this.log.info(`${options.noun} of ${name} cancelled`);
        this.info(options.cancelled);
      } else {
        this.log.error(`${options.method} on ${name}: ${failure.message}`);
        this.error(`promptlsp: ${failure.message}`);
      }
      return undefined;
    } finally {
      this.status.end(ticket);
    }
  }

  /** The ready client for a run; undefined (the reason already shown) when the server is not
   * ready or the run was cancelled while it started. */
  private async clientFor(source: vscode.CancellationTokenSource, cancelledMessage: string): Promise<LanguageClient | undefined> {
    const client = await this.server.readyClient();
    if (client !== undefined && source.token.isCancellationRequested) {
      this.info(cancelledMessage);
      return undefined;
    }
    return client;
  }

  /** A server answer checked by ``parse``; undefined (the problem shown) when it is malformed. */
  private parsed<T>(raw: unknown, parse: (raw: unknown) => T): T | undefined {
    try {
      return parse(raw);
    } catch (error) {
      this.error(`promptlsp: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }

  /**
   * The shell the run commands share: the request under a cancellable notification (progress,
   * Cancel, errors said to the user, see `withRun`), its answer checked by `parse`. Undefined
   * when the run failed, was cancelled or answered something malformed (already said).
   */
  private async runRequest<T>(
    client: LanguageClient,
    document: vscode.TextDocument,
    source: vscode.CancellationTokenSource,
    look: RunLook,
    send: (token: vscode.CancellationToken, workDoneToken: string) => Promise<unknown>,
    parse: (raw: unknown) => T,
  ): Promise<T | undefined> {
    const raw = await this.withRun(client, document, source, look, send);
    return raw === undefined ? undefined : this.parsed(raw, parse);
  }

  /** A cancelled run is a note, a failed one an error; any other end goes to `done`. */
  private async conclude(ending: Ending, done: () => Promise<void> | void): Promise<void> {
    if (ending.kind === 'cancelled') {
      this.info(ending.message);
    } else if (ending.kind === 'failed') {
      this.error(ending.message);
    } else {
      await done();
    }
  }

  async optimize(arg?: unknown): Promise<void> {
    const document = await targetDocument(arg, this.proposals);
    if (document !== undefined) {
      await this.exclusive(document, (source) => this.runOptimize(document, source));
    }
  }

  private async runOptimize(document: vscode.TextDocument, source: vscode.CancellationTokenSource): Promise<void> {
    const name = baseName(document.uri.path);
    const cancelledMessage = `Cancelled: ${name} is unchanged.`;
    const client = await this.clientFor(source, cancelledMessage);
    if (client === undefined) {
      return;
    }
    const uri = client.code2ProtocolConverter.asUri(document.uri);

    let decision;
    try {
      const estimate = parseEstimate(await request(client, ESTIMATE, { uri, version: document.version }, source.token));
      decision = decide(estimate, confirmThresholds(settingsReader(document.uri)), name);
    } catch (error) {
      const failure = describeRequestError(error, ESTIMATE, source.token.isCancellationRequested);
      if (failure.kind === 'cancelled') {
        this.log.info(`estimate for ${name} cancelled`);
        this.info(cancelledMessage);
        return;
      }
      this.log.error(`estimate for ${name}: ${failure.message}`);
      this.error(`promptlsp: cannot optimize ${name}: ${failure.message}`);
      return;
    }
    if (decision.action === 'refuse') {
      this.log.warn(decision.message);
      this.error(decision.message);
      return;
    }
    if (decision.action === 'confirm') {
      const choice = await vscode.window.showWarningMessage(this.server.safe(decision.message), { modal: true }, 'Run');
      if (choice !== 'Run') {
        this.log.info(`optimization of ${name} not started (not confirmed)`);
        return;
      }
    }
    if (source.token.isCancellationRequested) {
      this.info(cancelledMessage);
      return;
    }
    this.log.info(`optimizing ${name}: ${decision.summary}`);
    const version = document.version;
    const summary = await this.runRequest(
      client,
      document,
      source,
      { activity: 'optimizing', noun: 'Optimization', title: `Optimizing ${name}`, method: OPTIMIZE, first: decision.summary, cancelled: cancelledMessage },
      (token, workDoneToken) => request(client, OPTIMIZE, { uri, version, workDoneToken }, token),
      parseRunSummary,
    );
    if (summary === undefined) {
      return;
    }
    const outcome = classifyRun(summary, name);
    this.log.info(`run ${summary.runId} ${summary.status}: ${formatScore(summary.initialScore)} → ${formatScore(summary.bestScore)}${summary.message ? ` (${summary.message})` : ''}`);
    await this.conclude(outcome, async () => {
      if (outcome.kind === 'improved') {
        this.status.score(summary.bestScore);
        await this.proposals.propose(document, summary, this.server.safe(outcome.message));
      } else {
        this.status.score(summary.bestScore ?? summary.initialScore);
        this.info(outcome.message);
      }
    });
  }

  async evaluate(arg?: unknown): Promise<void> {
    const document = await targetDocument(arg, this.proposals);
    if (document !== undefined) {
      await this.exclusive(document, (source) => this.runEvaluate(document, source));
    }
  }

  private async runEvaluate(document: vscode.TextDocument, source: vscode.CancellationTokenSource): Promise<void> {
    const name = baseName(document.uri.path);
    const cancelledMessage = `Cancelled the evaluation of ${name}.`;
    const client = await this.clientFor(source, cancelledMessage);
    if (client === undefined) {
      return;
    }
    const uri = client.code2ProtocolConverter.asUri(document.uri);
    const version = document.version;
    const view = await this.runRequest(
      client,
      document,
      source,
      { activity: 'evaluating', noun: 'Evaluation', title: `Evaluating ${name}`, method: EVALUATE, first: 'running the prompt on its examples', cancelled: cancelledMessage },
      (token, workDoneToken) => request(client, EVALUATE, { uri, version, critique: true, workDoneToken }, token),
      parseEvaluation,
    );
    if (view === undefined) {
      return;
    }
    const outcome = evaluationOutcome(view, name);
    this.log.info(`evaluation ${view.runId} of ${name} ${view.status}: score ${formatScore(view.score)}${view.message ? ` (${view.message})` : ''}`);
    await this.conclude(outcome, async () => {
      this.status.score(view.score);
      await this.results.show(view, name);
      this.info(outcome.message);
    });
  }

  /** Run one example: `exampleId` (from a "Run example" lens) or the one at the cursor. Its
   * result shows as an inlay hint after the example (the server asks for the refresh). */
  async runExample(arg?: unknown, exampleId?: unknown): Promise<void> {
    const document = await targetDocument(arg, this.proposals);
    if (document !== undefined) {
      await this.exclusive(document, (source) => this.runOneExample(document, typeof exampleId === 'string' ? exampleId : undefined, source));
    }
  }

  private async runOneExample(document: vscode.TextDocument, exampleId: string | undefined, source: vscode.CancellationTokenSource): Promise<void> {
    const name = baseName(document.uri.path);
    const cancelledMessage = `Cancelled the example run on ${name}.`;
    const client = await this.clientFor(source, cancelledMessage);
    if (client === undefined) {
      return;
    }
    const editor = vscode.window.activeTextEditor;
    const at = editor !== undefined && editor.document.uri.toString() === document.uri.toString() ? editor.selection.active : undefined;
    if (exampleId === undefined && at === undefined) {
      this.error('promptlsp: put the cursor in an example (or use its "Run example" lens).');
      return;
    }
    const params = {
      uri: client.code2ProtocolConverter.asUri(document.uri),
      version: document.version,
      ...(exampleId !== undefined ? { example: exampleId } : { position: client.code2ProtocolConverter.asPosition(at!) }),
    };
    const view = await this.runRequest(
      client,
      document,
      source,
      {
        activity: 'running an example',
        noun: 'Example run',
        title: `Running ${exampleId ?? 'the example'} of ${name}`,
        method: RUN_EXAMPLE,
        first: 'asking the task model',
        cancelled: cancelledMessage,
      },
      (token, workDoneToken) => request(client, RUN_EXAMPLE, { ...params, workDoneToken }, token),
      parseExampleRun,
    );
    if (view !== undefined) {
      this.log.info(`example run ${view.runId} of ${name}: ${exampleRunMessage(view)}`);
      this.info(exampleRunMessage(view));
    }
  }

  async showRuns(arg?: unknown): Promise<void> {
    const document = await targetDocument(arg, this.proposals);
    if (document === undefined) {
      return;
    }
    const client = await this.server.readyClient();
    if (client === undefined) {
      return;
    }
    const name = baseName(document.uri.path);
    let items;
    try {
      items = formatRuns(await request(client, RUNS, { uri: client.code2ProtocolConverter.asUri(document.uri) }));
    } catch (error) {
      const failure = describeRequestError(error, RUNS);
      this.error(`promptlsp: ${failure.kind === 'cancelled' ? 'cancelled' : failure.message}`);
      return;
    }
    if (items.length === 0) {
      void vscode.window.showInformationMessage(`No runs recorded for ${name} yet. Run "promptlsp: Optimize prompt" or "promptlsp: Evaluate prompt".`);
      return;
    }
    const choice = await vscode.window.showQuickPick(items, {
      title: `Run history of ${name} (newest first)`,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (choice === undefined) {
      return;
    }
    this.log.info(`run ${choice.id}: ${choice.label.replace(/^\$\([^)]*\)\s*/, '')} · ${choice.description} · ${choice.detail}`);
    let raw;
    try {
      raw = await request(client, RUN_REPORT, { uri: client.code2ProtocolConverter.asUri(document.uri), runId: choice.id });
    } catch (error) {
      const failure = describeRequestError(error, RUN_REPORT);
      this.error(`promptlsp: ${failure.kind === 'cancelled' ? 'cancelled' : failure.message}`);
      return;
    }
    const report = this.parsed(raw, parseRunReport);
    if (report !== undefined) {
      this.report.show(report, name);
    }
  }

  /** Cancel the run of the active file, or every run when that file has none. */
  cancel(): void {
    const active = vscode.window.activeTextEditor?.document.uri.toString();
    const own = active !== undefined ? this.active.get(active) : undefined;
    const sources = own !== undefined ? [own] : this.active.values();
    if (sources.length === 0) {
      void vscode.window.showInformationMessage('promptlsp: no run in progress.');
      return;
    }
    sources.forEach((s) => s.cancel());
  }

  dispose(): void {
    this.active.clear().forEach((s) => s.cancel());
    this.report.dispose();
  }
}
