/** "Optimize prompt" / "Evaluate prompt" code lenses on the `template` key of `[prompt]`. */
import * as vscode from 'vscode';
import { findTemplateKey } from './core/codelens';

export class TemplateCodeLens implements vscode.CodeLensProvider {
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const key = findTemplateKey(document.getText());
    if (key === undefined) {
      return [];
    }
    const range = new vscode.Range(key.line, key.start, key.line, key.end);
    return [
      new vscode.CodeLens(range, { title: 'Optimize prompt', command: 'promptlsp.optimizePrompt', arguments: [document.uri], tooltip: 'Estimate, then optimize this prompt on its examples (GRAD-SUM or TGD)' }),
      new vscode.CodeLens(range, { title: 'Evaluate prompt', command: 'promptlsp.evaluatePrompt', arguments: [document.uri], tooltip: 'Run this prompt on its examples and score them' }),
    ];
  }
}
