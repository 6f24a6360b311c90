/** The status bar item: model, spinner while a run is in progress, last score. */
import * as vscode from 'vscode';
import { RunActivities, StatusState, statusText } from '../core/status';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: StatusState = { model: 'file models', server: 'stopped' };
  private readonly runs = new RunActivities();

  constructor(command: string) {
    this.item = vscode.window.createStatusBarItem('promptlsp.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'promptlsp';
    this.item.command = command;
    this.render();
    this.item.show();
  }

  update(change: Partial<StatusState>): void {
    this.state = { ...this.state, ...change };
    this.render();
  }

  /** A run starts: the spinner shows until every run has ended. Returns the run's ticket. */
  begin(activity: string): number {
    const ticket = this.runs.begin(activity);
    this.update(this.runs.current);
    return ticket;
  }

  /** The best score so far of the run with this ticket. */
  best(ticket: number, score: number): void {
    this.runs.best(ticket, score);
    this.update(this.runs.current);
  }

  /** The run with this ticket ended (again is harmless). */
  end(ticket: number): void {
    if (this.runs.end(ticket)) {
      this.update(this.runs.current);
    }
  }

  /** The score of the last finished run or evaluation. */
  score(lastScore: number | null | undefined): void {
    if (typeof lastScore === 'number') {
      this.update({ lastScore });
    }
  }

  private render(): void {
    const { text, tooltip } = statusText(this.state);
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = { label: `promptlsp: ${text.replace(/\$\([^)]*\)\s*/g, '')}` };
    this.item.backgroundColor = this.state.server === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
