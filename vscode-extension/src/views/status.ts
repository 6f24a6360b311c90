/** The status bar item: model, spinner while a run is in progress, last score. */
import * as vscode from 'vscode';
import { StatusState, statusText } from '../core/status';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: StatusState = { model: 'file models', server: 'stopped' };

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

  begin(activity: string): void {
    this.update({ activity, best: undefined });
  }

  end(lastScore?: number | null): void {
    this.update({ activity: undefined, best: undefined, ...(typeof lastScore === 'number' ? { lastScore } : {}) });
  }

  get current(): StatusState {
    return this.state;
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
