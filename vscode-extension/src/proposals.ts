/**
 * Proposed prompts: after a run that found a better prompt, the server's best "Apply rewritten
 * prompt" code action is fetched, its edits applied to the current text give the proposed text
 * (served under the `promptlsp-proposed:` scheme), and a diff opens with Accept / Reject.
 * Accept applies the same edits as a plain WorkspaceEdit (no change annotation, so no refactor
 * preview: the diff was the preview) to the version they were made for, then saves.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { EditError, TextEdit, positionAt } from './core/edits';
import { baseName, formatScore } from './core/format';
import {
  Pick,
  Proposal,
  REWRITE_KIND,
  RunSummary,
  buildProposal,
  diffTitle,
  pickRewriteAction,
  versionProblem,
} from './core/proposal';

export const PROPOSED_SCHEME = 'promptlsp-proposed';

interface Entry {
  proposedUri: vscode.Uri;
  documentUri: vscode.Uri;
  runId: string | null;
  initialScore: number | null;
  bestScore: number | null;
  proposal: Proposal;
}

function toRange(edit: TextEdit): vscode.Range {
  const { start, end } = edit.range;
  return new vscode.Range(start.line, start.character, end.line, end.character);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Proposals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly entries = new Map<string, Entry>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private counter = 0;
  private readonly registration: vscode.Disposable;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly client: () => Promise<LanguageClient | undefined>,
  ) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(PROPOSED_SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.entries.get(uri.toString())?.proposal.proposedText ?? '';
  }

  /** The server's rewrite actions for the whole document (LSP JSON, best first). */
  private async fetchPick(client: LanguageClient, document: vscode.TextDocument, runId: string | null): Promise<Pick> {
    const text = document.getText();
    const params = {
      textDocument: { uri: client.code2ProtocolConverter.asUri(document.uri) },
      range: { start: { line: 0, character: 0 }, end: positionAt(text, text.length) },
      context: { diagnostics: [], only: [REWRITE_KIND], triggerKind: 1 },
    };
    let pick: Pick = { kind: 'none' };
    // The server reads the run from its store; give it a moment if it still shows an older run.
    for (let attempt = 0; attempt < 6; attempt++) {
      pick = pickRewriteAction(await client.sendRequest('textDocument/codeAction', params), runId);
      if (pick.kind !== 'stale' && pick.kind !== 'none') {
        return pick;
      }
      await sleep(300 * (attempt + 1));
    }
    return pick;
  }

  /** Open the diff for a finished run that found a better prompt, and ask Accept / Reject. */
  async propose(document: vscode.TextDocument, summary: RunSummary, headline: string): Promise<void> {
    const client = await this.client();
    if (client === undefined) {
      return;
    }
    const name = baseName(document.uri.path);
    let pick: Pick;
    try {
      pick = await this.fetchPick(client, document, summary.runId);
    } catch (error) {
      void vscode.window.showErrorMessage(`${headline} But the proposed prompt could not be fetched: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (pick.kind === 'withdrawn') {
      void vscode.window.showWarningMessage(`${headline} The proposed prompt cannot be applied: ${pick.reason}.`);
      return;
    }
    if (pick.kind !== 'ok') {
      void vscode.window.showWarningMessage(`${headline} But the server offers no rewrite for ${name} (run ${summary.runId ?? 'unknown'}); see "promptlsp: Show run history".`);
      return;
    }
    const stale = versionProblem(pick.version, document.version, name);
    if (stale !== undefined) {
      void vscode.window.showWarningMessage(`${headline} The proposed prompt cannot be shown: ${stale}. Run the optimizer again.`);
      return;
    }
    let proposal: Proposal;
    try {
      proposal = buildProposal(pick, document.uri.toString(), document.getText());
    } catch (error) {
      const reason = error instanceof EditError ? error.message : String(error);
      this.log.error(`the server's rewrite for ${name} does not fit the document: ${reason}`);
      void vscode.window.showErrorMessage(`${headline} But the server's edit does not fit ${name}: ${reason}.`);
      return;
    }
    if (proposal.proposedText === proposal.currentText) {
      void vscode.window.showInformationMessage(`No better prompt found for ${name}: the best candidate is the current prompt. The file is unchanged.`);
      return;
    }
    this.closeFor(document.uri); // one proposal per file: a new run replaces the old one
    const proposedUri = vscode.Uri.from({ scheme: PROPOSED_SCHEME, path: document.uri.path, query: String(++this.counter) });
    const entry: Entry = {
      proposedUri,
      documentUri: document.uri,
      runId: summary.runId,
      initialScore: summary.initialScore,
      bestScore: summary.bestScore,
      proposal,
    };
    this.entries.set(proposedUri.toString(), entry);
    this.log.info(`proposal for ${name} from run ${summary.runId}: ${pick.title}`);
    await vscode.commands.executeCommand(
      'vscode.diff',
      document.uri,
      proposedUri,
      diffTitle(name, summary.initialScore, summary.bestScore),
      { preview: false },
    );
    this.ask(entry, `${headline} Apply the proposed prompt?`);
  }

  /** The non-modal Accept / Reject question (does not block the command that asked). */
  private ask(entry: Entry, message: string): void {
    void vscode.window.showInformationMessage(message, 'Accept', 'Reject').then((choice) => {
      if (choice === 'Accept') {
        return this.accept(entry.proposedUri);
      }
      if (choice === 'Reject') {
        return this.reject(entry.proposedUri);
      }
      return undefined;
    });
  }

  private find(arg: unknown): Entry | undefined {
    if (arg instanceof vscode.Uri) {
      const direct = this.entries.get(arg.toString());
      if (direct) return direct;
      // the file itself (e.g. the left side of the diff): its proposal
      return [...this.entries.values()].reverse().find((e) => e.documentUri.toString() === arg.toString());
    }
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active !== undefined) {
      const entry = this.find(active);
      if (entry) return entry;
    }
    return [...this.entries.values()].pop();
  }

  async accept(arg?: unknown): Promise<void> {
    const entry = this.find(arg);
    if (entry === undefined) {
      void vscode.window.showInformationMessage('There is no proposed prompt to accept. Run "promptlsp: Optimize prompt" first.');
      return;
    }
    if (!this.entries.has(entry.proposedUri.toString())) {
      return; // already accepted or rejected
    }
    const document = await vscode.workspace.openTextDocument(entry.documentUri);
    const name = baseName(document.uri.path);
    const changed = versionProblem(entry.proposal.version, document.version, name)
      ?? (document.getText() !== entry.proposal.currentText ? `${name} changed since the proposal was made` : undefined);
    if (changed !== undefined) {
      await this.refresh(entry, document, changed);
      return;
    }
    const edit = new vscode.WorkspaceEdit();
    for (const e of entry.proposal.edits) {
      edit.replace(document.uri, toRange(e), e.newText); // plain edits: no annotation, no preview
    }
    const applied = await vscode.workspace.applyEdit(edit);
    if (!applied) {
      void vscode.window.showErrorMessage(`VS Code did not apply the proposed prompt to ${name}; the file is unchanged.`);
      return;
    }
    if (document.getText() !== entry.proposal.proposedText) {
      this.log.warn(`after applying the proposal, ${name} differs from the proposed text shown in the diff`);
    }
    this.entries.delete(entry.proposedUri.toString());
    const saved = await document.save();
    await this.closeTabs(entry.proposedUri);
    const scores = `score ${formatScore(entry.initialScore)} → ${formatScore(entry.bestScore)}`;
    if (saved) {
      void vscode.window.showInformationMessage(`Applied the rewritten prompt to ${name} and saved it (${scores}).`);
    } else {
      void vscode.window.showWarningMessage(`Applied the rewritten prompt to ${name} (${scores}), but it could not be saved.`);
    }
  }

  /** The file changed after the diff opened: ask the server again (it rebases or withdraws). */
  private async refresh(entry: Entry, document: vscode.TextDocument, why: string): Promise<void> {
    const client = await this.client();
    if (client === undefined) {
      return;
    }
    let pick: Pick;
    try {
      pick = await this.fetchPick(client, document, entry.runId);
    } catch (error) {
      pick = { kind: 'withdrawn', title: '', reason: error instanceof Error ? error.message : String(error) };
    }
    if (pick.kind === 'withdrawn') {
      void vscode.window.showWarningMessage(`Cannot apply the proposed prompt: ${pick.reason}.`);
      return;
    }
    if (pick.kind !== 'ok' || versionProblem(pick.version, document.version, '') !== undefined) {
      void vscode.window.showWarningMessage(`Cannot apply the proposed prompt: ${why}, and the server no longer offers the rewrite. Run the optimizer again.`);
      return;
    }
    try {
      entry.proposal = buildProposal(pick, document.uri.toString(), document.getText());
    } catch (error) {
      void vscode.window.showErrorMessage(`Cannot apply the proposed prompt: ${error instanceof Error ? error.message : String(error)}.`);
      return;
    }
    this.changed.fire(entry.proposedUri);
    this.ask(entry, `${why}; the diff now shows the proposal against the current text. Apply it?`);
  }

  async reject(arg?: unknown): Promise<void> {
    const entry = this.find(arg);
    if (entry === undefined) {
      void vscode.window.showInformationMessage('There is no proposed prompt to reject.');
      return;
    }
    if (!this.entries.delete(entry.proposedUri.toString())) {
      return;
    }
    await this.closeTabs(entry.proposedUri);
    void vscode.window.showInformationMessage(`Rejected the proposed prompt; ${baseName(entry.documentUri.path)} is unchanged.`);
  }

  private closeFor(documentUri: vscode.Uri): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.documentUri.toString() === documentUri.toString()) {
        this.entries.delete(entry.proposedUri.toString());
        void this.closeTabs(entry.proposedUri);
      }
    }
  }

  private async closeTabs(proposedUri: vscode.Uri): Promise<void> {
    const target = proposedUri.toString();
    const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => {
      const input = tab.input;
      if (input instanceof vscode.TabInputTextDiff) {
        return input.modified.toString() === target || input.original.toString() === target;
      }
      return input instanceof vscode.TabInputText && input.uri.toString() === target;
    });
    if (tabs.length > 0) {
      await vscode.window.tabGroups.close(tabs, true);
    }
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
    this.entries.clear();
  }
}
