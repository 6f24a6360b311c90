/** The run report of the run history (score chart, critiques, diff, cost per phase) in one
 * webview panel, reused for the next run picked; scripts stay disabled. */
import * as vscode from 'vscode';
import type { RunReport } from '../core/report';

export class RunReportPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;

  show(report: RunReport, fileName: string): void {
    const title = `Run ${report.runId.slice(0, 8)} · ${fileName}`;
    if (this.panel === undefined) {
      this.panel = vscode.window.createWebviewPanel('promptlsp.runReport', title, vscode.ViewColumn.Beside, {
        enableScripts: false,
        localResourceRoots: [],
      });
      this.panel.onDidDispose(() => {
        this.panel = undefined;
      });
    }
    this.panel.title = title;
    this.panel.webview.html = report.html;
    this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
