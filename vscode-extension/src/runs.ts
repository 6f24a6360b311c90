/**
 * The "Optimize prompt", "Evaluate prompt" and "Show run history" commands: estimate and
 * confirm, run with a cancellable notification fed by the server's `$/progress` on a
 * client-created workDoneToken, then show the outcome (a diff, the results view, a message).
 */
import { randomUUID } from 'crypto';
import * as vscode from 'vscode';
import { WorkDoneProgress } from 'vscode-languageclient/node';
import type { LanguageClient } from 'vscode-languageclient/node';
import { describeRequestError } from './core/errors';
import { decide, parseEstimate } from './core/estimate';
import { parseEvaluation } from './core/evaluation';
import { baseName, formatScore } from './core/format';
import { formatRuns } from './core/history';
import { ProgressTracker } from './core/progress';
import { classifyRun, parseRunSummary } from './core/proposal';
import { confirmThresholds } from './core/settings';
import { PROPOSED_SCHEME, Proposals } from './proposals';
import { ServerManager, settingsReader } from './server';
import { ResultsView } from './views/results';
import { StatusBar } from './views/status';

export const LANGUAGE = 'prompt-toml';

class CancelledHere extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Canceled';
  }
}

/** The prompt file a command is about: its argument (a Uri), else the active editor's file
 * (for the proposed side of a diff, the file it proposes a change to). */
export async function targetDocument(arg: unknown): Promise<vscode.TextDocument | undefined> {
  let uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  if (uri !== undefined && uri.scheme === PROPOSED_SCHEME) {
    uri = vscode.Uri.file(uri.path);
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
  private readonly active = new Map<string, vscode.CancellationTokenSource>();

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

  /** Run one request under a cancellable notification; undefined when it failed or was cancelled
   * (already reported to the user). */
  private async withRun(
    client: LanguageClient,
    document: vscode.TextDocument,
    options: { activity: string; noun: string; title: string; method: string; first: string; cancelled: string },
    send: (token: vscode.CancellationToken, workDoneToken: string) => Promise<unknown>,
  ): Promise<unknown> {
    const key = document.uri.toString();
    const name = baseName(document.uri.path);
    const source = new vscode.CancellationTokenSource();
    this.active.set(key, source);
    this.setRunning();
    this.status.begin(options.activity);
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: options.title, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => source.cancel());
          // On Cancel, the notification and the spinner end at once; the request gets
          // $/cancelRequest (through source.token) and its late answer is dropped.
          const cancelled = new Promise<never>((_, reject) => {
            source.token.onCancellationRequested(() => {
              this.status.end();
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
              this.status.update({ best: tracker.best });
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
        void vscode.window.showInformationMessage(options.cancelled);
      } else {
        this.log.error(this.server.safe(`${options.method} on ${name}: ${failure.message}`));
        void vscode.window.showErrorMessage(`promptlsp: ${failure.message}`);
      }
      return undefined;
    } finally {
      this.active.delete(key);
      source.dispose();
      this.setRunning();
      this.status.end();
    }
  }

  private busy(document: vscode.TextDocument): boolean {
    if (this.active.has(document.uri.toString())) {
      void vscode.window.showInformationMessage(
        `promptlsp: ${baseName(document.uri.path)} already has a run in progress (cancel it from its notification or with "promptlsp: Cancel run").`,
      );
      return true;
    }
    return false;
  }

  async optimize(arg?: unknown): Promise<void> {
    const document = await targetDocument(arg);
    if (document === undefined || this.busy(document)) {
      return;
    }
    const client = await this.server.readyClient();
    if (client === undefined) {
      return;
    }
    const name = baseName(document.uri.path);
    const uri = client.code2ProtocolConverter.asUri(document.uri);

    let decision;
    try {
      const estimate = parseEstimate(await client.sendRequest('promptlsp/estimate', { uri, version: document.version }));
      decision = decide(estimate, confirmThresholds(settingsReader(document.uri)), name);
    } catch (error) {
      const failure = describeRequestError(error, 'promptlsp/estimate');
      const message = failure.kind === 'cancelled' ? 'the estimate was cancelled' : failure.message;
      this.log.error(`estimate for ${name}: ${message}`);
      void vscode.window.showErrorMessage(`promptlsp: cannot optimize ${name}: ${message}`);
      return;
    }
    if (decision.action === 'refuse') {
      this.log.warn(decision.message);
      void vscode.window.showErrorMessage(decision.message);
      return;
    }
    if (decision.action === 'confirm') {
      const choice = await vscode.window.showWarningMessage(decision.message, { modal: true }, 'Run');
      if (choice !== 'Run') {
        this.log.info(`optimization of ${name} not started (not confirmed)`);
        return;
      }
    }
    this.log.info(`optimizing ${name}: ${decision.summary}`);
    const version = document.version;
    const raw = await this.withRun(
      client,
      document,
      {
        activity: 'optimizing',
        noun: 'Optimization',
        title: `Optimizing ${name}`,
        method: 'promptlsp/optimize',
        first: decision.summary,
        cancelled: `Cancelled: ${name} is unchanged.`,
      },
      (token, workDoneToken) => client.sendRequest('promptlsp/optimize', { uri, version, workDoneToken }, token),
    );
    if (raw === undefined) {
      return;
    }
    let summary;
    try {
      summary = parseRunSummary(raw);
    } catch (error) {
      void vscode.window.showErrorMessage(`promptlsp: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.status.end(summary.bestScore ?? summary.initialScore);
    const outcome = classifyRun(summary, name);
    this.log.info(`run ${summary.runId} ${summary.status}: ${formatScore(summary.initialScore)} → ${formatScore(summary.bestScore)}`);
    switch (outcome.kind) {
      case 'cancelled':
      case 'no-improvement':
        void vscode.window.showInformationMessage(outcome.message);
        return;
      case 'failed':
        void vscode.window.showErrorMessage(outcome.message);
        return;
      case 'improved':
        await this.proposals.propose(document, summary, outcome.message);
    }
  }

  async evaluate(arg?: unknown): Promise<void> {
    const document = await targetDocument(arg);
    if (document === undefined || this.busy(document)) {
      return;
    }
    const client = await this.server.readyClient();
    if (client === undefined) {
      return;
    }
    const name = baseName(document.uri.path);
    const uri = client.code2ProtocolConverter.asUri(document.uri);
    const version = document.version;
    const raw = await this.withRun(
      client,
      document,
      {
        activity: 'evaluating',
        noun: 'Evaluation',
        title: `Evaluating ${name}`,
        method: 'promptlsp/evaluate',
        first: 'running the prompt on its examples',
        cancelled: `Cancelled the evaluation of ${name}.`,
      },
      (token, workDoneToken) => client.sendRequest('promptlsp/evaluate', { uri, version, critique: true, workDoneToken }, token),
    );
    if (raw === undefined) {
      return;
    }
    let view;
    try {
      view = parseEvaluation(raw);
    } catch (error) {
      void vscode.window.showErrorMessage(`promptlsp: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.status.end(view.score);
    await this.results.show(view, name);
    const passed = view.examples.filter((e) => e.passed === true).length;
    const counts = view.examples.length > 0 ? `, ${passed}/${view.examples.length} examples passed` : '';
    void vscode.window.showInformationMessage(
      `Evaluated ${name}: score ${formatScore(view.score)}${view.scoredOn ? ` on ${view.scoredOn}` : ''}${counts}. Critiques show as diagnostics in the file.`,
    );
  }

  async showRuns(arg?: unknown): Promise<void> {
    const document = await targetDocument(arg);
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
      items = formatRuns(await client.sendRequest('promptlsp/runs', { uri: client.code2ProtocolConverter.asUri(document.uri) }));
    } catch (error) {
      const failure = describeRequestError(error, 'promptlsp/runs');
      void vscode.window.showErrorMessage(`promptlsp: ${failure.kind === 'cancelled' ? 'cancelled' : failure.message}`);
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
    if (choice !== undefined) {
      this.log.info(`run ${choice.id}: ${choice.label.replace(/^\$\([^)]*\)\s*/, '')} · ${choice.description} · ${choice.detail}`);
      this.log.show(true);
    }
  }

  /** Cancel the run of the active file, or every run when that file has none. */
  cancel(): void {
    const active = vscode.window.activeTextEditor?.document.uri.toString();
    const sources = active !== undefined && this.active.has(active) ? [this.active.get(active)!] : [...this.active.values()];
    if (sources.length === 0) {
      void vscode.window.showInformationMessage('promptlsp: no run in progress.');
      return;
    }
    sources.forEach((s) => s.cancel());
  }

  dispose(): void {
    this.active.forEach((s) => s.cancel());
    this.active.clear();
  }
}
