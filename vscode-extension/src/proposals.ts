/**
 * Proposed prompts: after a run that found a better prompt, the optimize result's `proposal` (the
 * best candidate's edit of the document's version; when the document changed since, the same
 * candidate's "Apply rewritten prompt" code action, rebased by the server) applied to the current
 * text gives the proposed text (served under the `promptlsp-proposed:` scheme), and a diff opens
 * with Accept / Reject.
 * Accept applies the same edits as a plain WorkspaceEdit (no change annotation, so no refactor
 * preview: the diff was the preview) to the version they were made for, then saves.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { EditError, TextEdit, positionAt } from './core/edits';
import { baseName, formatScore } from './core/format';
import {
  CandidateRef,
  Pick,
  Proposal,
  REWRITE_KIND,
  RunSummary,
  buildProposal,
  diffTitle,
  pickRewriteAction,
  proposalPick,
  versionProblem,
} from './core/proposal';
import { TakeOnce, retry } from './core/slots';

export const PROPOSED_SCHEME = 'promptlsp-proposed';

interface Entry {
  proposedUri: vscode.Uri;
  documentUri: vscode.Uri;
  candidate: CandidateRef;
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

/** Waits after each attempt at the server's rewrite actions that still shows an older run. */
const PICK_DELAYS = [300, 600, 900, 1200, 1500];

export class Proposals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  /** Open proposals by proposed uri; Accept takes one out before its first await. */
  private readonly entries = new TakeOnce<Entry>();
  /** Every proposed uri of this session -> the document it proposes a change to. */
  private readonly origins = new Map<string, vscode.Uri>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private counter = 0;
  private readonly registration: vscode.Disposable;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly client: () => Promise<LanguageClient | undefined>,
    private readonly safe: (text: string) => string,
  ) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(PROPOSED_SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.entries.lookup(uri.toString())?.proposal.proposedText ?? '';
  }

  /** The document a `promptlsp-proposed:` uri proposes a change to (file or untitled). */
  documentUriFor(proposedUri: vscode.Uri): vscode.Uri | undefined {
    return this.origins.get(proposedUri.toString());
  }

  // Messages may quote the server or an error: never with a key in them.
  private info(text: string, ...buttons: string[]): Thenable<string | undefined> {
    return vscode.window.showInformationMessage(this.safe(text), ...buttons);
  }

  private warn(text: string): void {
    void vscode.window.showWarningMessage(this.safe(text));
  }

  private error(text: string): void {
    void vscode.window.showErrorMessage(this.safe(text));
  }

  /** The candidate's rewrite action for the document as it is now (LSP JSON). */
  private async fetchPick(client: LanguageClient, document: vscode.TextDocument, candidate: CandidateRef): Promise<Pick> {
    const text = document.getText();
    const params = {
      textDocument: { uri: client.code2ProtocolConverter.asUri(document.uri) },
      range: { start: { line: 0, character: 0 }, end: positionAt(text, text.length) },
      context: { diagnostics: [], only: [REWRITE_KIND], triggerKind: 1 },
    };
    // The server reads the run from its store; give it a moment if it still shows an older run.
    return retry(
      async () => pickRewriteAction(await client.sendRequest('textDocument/codeAction', params), candidate),
      (pick) => pick.kind !== 'stale' && pick.kind !== 'none',
      PICK_DELAYS,
      sleep,
    );
  }

  /** Open the diff for a finished run that found a better prompt, and ask Accept / Reject. */
  async propose(document: vscode.TextDocument, summary: RunSummary, headline: string): Promise<void> {
    const client = await this.client();
    if (client === undefined) {
      return;
    }
    const name = baseName(document.uri.path);
    const proposed = summary.proposal;
    if (proposed === null || summary.runId === null) {
      this.warn(`${headline} But the server offers no rewrite for ${name} (run ${summary.runId ?? 'unknown'}); see "promptlsp: Show run history".`);
      return;
    }
    const candidate: CandidateRef = { runId: summary.runId, candidateId: proposed.candidateId };
    let pick: Pick;
    try {
      pick = proposalPick(proposed);
      if (pick.kind === 'ok' && versionProblem(pick.version, document.version, name) !== undefined) {
        pick = await this.fetchPick(client, document, candidate); // edited during the run: the edit rebased
      }
    } catch (error) {
      this.error(`${headline} But the proposed prompt could not be read: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (pick.kind === 'withdrawn') {
      this.warn(`${headline} The proposed prompt cannot be applied: ${pick.reason}.`);
      return;
    }
    if (pick.kind !== 'ok') {
      this.warn(`${headline} But the server no longer offers the rewrite for ${name} (run ${summary.runId}); see "promptlsp: Show run history".`);
      return;
    }
    const stale = versionProblem(pick.version, document.version, name);
    if (stale !== undefined) {
      this.warn(`${headline} The proposed prompt cannot be shown: ${stale}. Run the optimizer again.`);
      return;
    }
    let proposal: Proposal;
    try {
      proposal = buildProposal(pick, document.uri.toString(), document.getText());
    } catch (error) {
      const reason = error instanceof EditError ? error.message : String(error);
      this.log.error(`the server's rewrite for ${name} does not fit the document: ${reason}`);
      this.error(`${headline} But the server's edit does not fit ${name}: ${reason}.`);
      return;
    }
    if (proposal.proposedText === proposal.currentText) {
      void this.info(`No better prompt found for ${name}: the best candidate is the current prompt. The file is unchanged.`);
      return;
    }
    this.closeFor(document.uri); // one proposal per file: a new run replaces the old one
    const proposedUri = vscode.Uri.from({ scheme: PROPOSED_SCHEME, path: document.uri.path, query: String(++this.counter) });
    const entry: Entry = {
      proposedUri,
      documentUri: document.uri,
      candidate,
      initialScore: proposed.initialScore,
      bestScore: proposed.bestScore,
      proposal,
    };
    this.entries.add(proposedUri.toString(), entry);
    this.origins.set(proposedUri.toString(), document.uri);
    this.log.info(`proposal for ${name} from run ${summary.runId}: ${pick.title}`);
    await vscode.commands.executeCommand(
      'vscode.diff',
      document.uri,
      proposedUri,
      diffTitle(name, proposed.initialScore, proposed.bestScore),
      { preview: false },
    );
    this.ask(entry, `${headline} Apply the proposed prompt?`);
  }

  /** The non-modal Accept / Reject question (does not block the command that asked). */
  private ask(entry: Entry, message: string): void {
    void this.info(message, 'Accept', 'Reject').then((choice) => {
      if (choice === 'Accept') {
        return this.accept(entry.proposedUri);
      }
      if (choice === 'Reject') {
        return this.reject(entry.proposedUri);
      }
      return undefined;
    });
  }

  /** The proposal a command is about (taken or not): the proposed uri, else the file's, else
   * the active editor's, else the newest. */
  private find(arg: unknown): Entry | undefined {
    const all = this.entries.all().map(([, entry]) => entry);
    if (arg instanceof vscode.Uri) {
      const direct = this.entries.lookup(arg.toString());
      if (direct) return direct;
      // the file itself (e.g. the left side of the diff): its proposal
      return all.reverse().find((e) => e.documentUri.toString() === arg.toString());
    }
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active !== undefined) {
      const entry = this.find(active);
      if (entry) return entry;
    }
    return this.entries.values().pop() ?? all.pop();
  }

  /** Nothing to act on: say so, unless `arg` is a proposal of this session already settled. */
  private nothingFor(arg: unknown, message: string): void {
    if (!(arg instanceof vscode.Uri && this.origins.has(arg.toString()))) {
      void this.info(message);
    }
  }

  async accept(arg?: unknown): Promise<void> {
    const found = this.find(arg);
    if (found === undefined) {
      this.nothingFor(arg, 'There is no proposed prompt to accept. Run "promptlsp: Optimize prompt" first.');
      return;
    }
    const key = found.proposedUri.toString();
    // Taken out before the first await: a second Accept (the notification and the editor title,
    // a double click) finds nothing to apply. Put back unless the edit was applied.
    const entry = this.entries.take(key);
    if (entry === undefined) {
      return; // already being accepted, or accepted or rejected
    }
    let applied = false;
    let putBack = true;
    let document: vscode.TextDocument;
    let name: string;
    try {
      document = await vscode.workspace.openTextDocument(entry.documentUri);
      name = baseName(document.uri.path);
      const changed = versionProblem(entry.proposal.version, document.version, name)
        ?? (document.getText() !== entry.proposal.currentText ? `${name} changed since the proposal was made` : undefined);
      if (changed !== undefined) {
        this.entries.restore(key, entry); // the refreshed question can take it again
        putBack = false;
        await this.refresh(entry, document, changed);
        return;
      }
      const edit = new vscode.WorkspaceEdit();
      for (const e of entry.proposal.edits) {
        edit.replace(document.uri, toRange(e), e.newText); // plain edits: no annotation, no preview
      }
      applied = await vscode.workspace.applyEdit(edit);
    } finally {
      if (!applied && putBack) {
        this.entries.restore(key, entry); // a no-op when a newer proposal replaced it
      }
    }
    if (!applied) {
      this.error(`VS Code did not apply the proposed prompt to ${name}; the file is unchanged.`);
      return;
    }
    this.entries.settle(key, entry);
    if (document.getText() !== entry.proposal.proposedText) {
      this.log.warn(`after applying the proposal, ${name} differs from the proposed text shown in the diff`);
    }
    const saved = await document.save();
    await this.closeTabs(entry.proposedUri);
    const scores = `score ${formatScore(entry.initialScore)} → ${formatScore(entry.bestScore)}`;
    if (saved) {
      void this.info(`Applied the rewritten prompt to ${name} and saved it (${scores}).`);
    } else {
      this.warn(`Applied the rewritten prompt to ${name} (${scores}), but it could not be saved.`);
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
      pick = await this.fetchPick(client, document, entry.candidate);
    } catch (error) {
      pick = { kind: 'withdrawn', title: '', reason: error instanceof Error ? error.message : String(error) };
    }
    if (pick.kind === 'withdrawn') {
      this.warn(`Cannot apply the proposed prompt: ${pick.reason}.`);
      return;
    }
    if (pick.kind !== 'ok' || versionProblem(pick.version, document.version, '') !== undefined) {
      this.warn(`Cannot apply the proposed prompt: ${why}, and the server no longer offers the rewrite. Run the optimizer again.`);
      return;
    }
    try {
      entry.proposal = buildProposal(pick, document.uri.toString(), document.getText());
    } catch (error) {
      this.error(`Cannot apply the proposed prompt: ${error instanceof Error ? error.message : String(error)}.`);
      return;
    }
    this.changed.fire(entry.proposedUri);
    this.ask(entry, `${why}; the diff now shows the proposal against the current text. Apply it?`);
  }

  async reject(arg?: unknown): Promise<void> {
    const found = this.find(arg);
    if (found === undefined) {
      this.nothingFor(arg, 'There is no proposed prompt to reject.');
      return;
    }
    const key = found.proposedUri.toString();
    const entry = this.entries.take(key);
    if (entry === undefined) {
      return; // being accepted, or already accepted or rejected
    }
    this.entries.settle(key, entry);
    await this.closeTabs(entry.proposedUri);
    void this.info(`Rejected the proposed prompt; ${baseName(entry.documentUri.path)} is unchanged.`);
  }

  private closeFor(documentUri: vscode.Uri): void {
    for (const [key, entry] of this.entries.all()) {
      if (entry.documentUri.toString() === documentUri.toString()) {
        this.entries.remove(key);
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
    this.origins.clear();
  }
}
