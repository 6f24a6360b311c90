/** The per-example evaluation results (a tree view in the Explorer: "Prompt Evaluation"). */
import * as vscode from 'vscode';
import {
  DetailRow,
  EvaluationView,
  ExampleView,
  evaluationHeadline,
  exampleDescription,
  exampleDetails,
  exampleTooltip,
} from '../core/evaluation';

export const RESULTS_VIEW = 'promptlsp.results';

type Node = { kind: 'example'; example: ExampleView } | { kind: 'detail'; row: DetailRow; parent: string };

export class ResultsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private view: EvaluationView | undefined;
  private readonly tree: vscode.TreeView<Node>;

  constructor() {
    this.tree = vscode.window.createTreeView(RESULTS_VIEW, { treeDataProvider: this, showCollapseAll: true });
  }

  async show(view: EvaluationView, fileName: string): Promise<void> {
    this.view = view;
    this.tree.message = view.examples.length > 0
      ? evaluationHeadline(view, fileName)
      : `${evaluationHeadline(view, fileName)} — the server sent no per-example results`;
    this.changed.fire(undefined);
    await vscode.commands.executeCommand(`${RESULTS_VIEW}.focus`);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'example') {
      const e = node.example;
      const item = new vscode.TreeItem(e.id, vscode.TreeItemCollapsibleState.Collapsed);
      item.description = exampleDescription(e);
      item.tooltip = exampleTooltip(e);
      item.contextValue = 'promptlsp.example';
      item.iconPath = new vscode.ThemeIcon(
        e.error ? 'warning' : e.passed === true ? 'pass' : e.passed === false ? 'error' : 'circle-outline',
      );
      return item;
    }
    const item = new vscode.TreeItem(node.row.label, vscode.TreeItemCollapsibleState.None);
    item.description = node.row.description;
    item.tooltip = node.row.tooltip;
    item.contextValue = 'promptlsp.exampleDetail';
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (this.view === undefined) {
      return [];
    }
    if (node === undefined) {
      return this.view.examples.map((example) => ({ kind: 'example', example }));
    }
    if (node.kind === 'example') {
      return exampleDetails(node.example).map((row) => ({ kind: 'detail', row, parent: node.example.id }));
    }
    return [];
  }

  dispose(): void {
    this.tree.dispose();
    this.changed.dispose();
  }
}
