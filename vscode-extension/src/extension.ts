/** promptlsp for VS Code: wires the server, the commands, the views and the status bar. */
import * as vscode from 'vscode';
import { defaultEnvName, validateEnvName, validateKey } from './core/apikeys';
import { redactingChannel } from './core/logchannel';
import { activeModelLabel, needsRestart } from './core/settings';
import { onDidChangeInterpreter } from './python';
import { Proposals } from './proposals';
import { Runs } from './runs';
import { KeyStore } from './secrets';
import { ServerManager, settingsReader } from './server';
import { ResultsView } from './views/results';
import { StatusBar } from './views/status';

let server: ServerManager | undefined;

// Setting or clearing a key restarts the server once, through keys.onDidChange (activate()).
async function setApiKey(keys: KeyStore): Promise<void> {
  const name = await vscode.window.showInputBox({
    title: 'promptlsp: Set API key (1/2)',
    prompt: 'Name of the environment variable the server reads the key from',
    value: defaultEnvName(settingsReader()('apiKeyEnv')),
    validateInput: validateEnvName,
    ignoreFocusOut: true,
  });
  if (name === undefined) {
    return;
  }
  const key = await vscode.window.showInputBox({
    title: `promptlsp: Set API key (2/2)`,
    prompt: `The value of ${name.trim()} (kept in VS Code's secret storage, passed only to the server process)`,
    password: true,
    validateInput: validateKey,
    ignoreFocusOut: true,
  });
  if (key === undefined) {
    return;
  }
  await keys.set(name.trim(), key.trim());
  void vscode.window.showInformationMessage(`Stored ${name.trim()} in VS Code's secret storage; the promptlsp server restarts with it.`);
}

async function clearApiKey(keys: KeyStore): Promise<void> {
  const names = keys.names();
  if (names.length === 0) {
    void vscode.window.showInformationMessage('promptlsp: no API keys are stored.');
    return;
  }
  const all = '$(trash) All stored keys';
  const choice = await vscode.window.showQuickPick([...names, all], { title: 'promptlsp: Clear API key', placeHolder: 'Which key to remove from the secret storage?' });
  if (choice === undefined) {
    return;
  }
  const removed = choice === all ? names : [choice];
  for (const name of removed) {
    await keys.delete(name);
  }
  void vscode.window.showInformationMessage(`Removed ${removed.join(', ')} from VS Code's secret storage; the promptlsp server restarts without ${removed.length === 1 ? 'it' : 'them'}.`);
}

async function statusMenu(runs: Runs, server: ServerManager, log: vscode.LogOutputChannel): Promise<void> {
  const items: (vscode.QuickPickItem & { run: () => unknown })[] = [
    { label: '$(settings-gear) Open model settings', description: 'promptlsp.models.*', run: () => vscode.commands.executeCommand('workbench.action.openSettings', 'promptlsp.models') },
    { label: '$(history) Show run history', description: 'of the active prompt file', run: () => runs.showRuns() },
    { label: '$(output) Show server log', run: () => log.show(true) },
    { label: '$(debug-restart) Restart server', run: () => server.start('restart from the status bar') },
  ];
  const choice = await vscode.window.showQuickPick(items, { title: 'promptlsp' });
  await choice?.run();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const keys = new KeyStore(context);
  // Everything written to the output (ours, the client's log, the server's stderr, the LSP
  // trace) goes through the redaction of every API key value.
  const log = redactingChannel(vscode.window.createOutputChannel('promptlsp', { log: true }), (text) => keys.redact(text));
  const manager = new ServerManager(log, keys);
  server = manager;
  const status = new StatusBar('promptlsp.showMenu');
  const proposals = new Proposals(log, () => manager.readyClient(), (text) => manager.safe(text));
  const results = new ResultsView();
  const runs = new Runs(manager, status, proposals, results, log);
  context.subscriptions.push(log, status, proposals, results, runs);
  void vscode.commands.executeCommand('setContext', 'promptlsp.active', true);

  const refreshStatus = () => status.update({ model: activeModelLabel(settingsReader()), server: manager.state, problem: manager.problem });
  refreshStatus();
  context.subscriptions.push(manager.onDidChangeState(refreshStatus));

  const command = (id: string, handler: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, handler));
  command('promptlsp.optimizePrompt', (arg) => runs.optimize(arg));
  command('promptlsp.evaluatePrompt', (arg) => runs.evaluate(arg));
  command('promptlsp.runExample', (arg, example) => runs.runExample(arg, example));
  command('promptlsp.showRuns', (arg) => runs.showRuns(arg));
  command('promptlsp.cancelRun', () => runs.cancel());
  command('promptlsp.acceptProposal', (arg) => proposals.accept(arg));
  command('promptlsp.rejectProposal', (arg) => proposals.reject(arg));
  command('promptlsp.restartServer', async () => {
    await manager.start('the Restart server command');
    if (manager.state === 'running') {
      void vscode.window.showInformationMessage('promptlsp: the server restarted.');
    }
  });
  command('promptlsp.setApiKey', () => setApiKey(keys));
  command('promptlsp.clearApiKey', () => clearApiKey(keys));
  command('promptlsp.openSettings', (arg) =>
    vscode.commands.executeCommand('workbench.action.openSettings', typeof arg === 'string' ? arg : '@ext:promptlsp.promptlsp'));
  command('promptlsp.showLog', () => log.show(true));
  command('promptlsp.showMenu', () => statusMenu(runs, manager, log));

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('promptlsp')) {
        return;
      }
      refreshStatus();
      if (needsRestart((section) => e.affectsConfiguration(section))) {
        void manager.requestRestart('promptlsp.interpreter changed');
      }
      // every other setting reaches the running server through workspace/configuration
    }),
    keys.onDidChange((name) => void manager.requestRestart(`API key ${name} changed`)),
  );

  if (vscode.extensions.getExtension('ms-python.python') !== undefined) {
    void onDidChangeInterpreter(log, () => {
      const setting = settingsReader()('interpreter');
      if (typeof setting !== 'string' || setting.trim() === '') {
        void manager.requestRestart("the Python extension's interpreter changed");
      }
    }).then((d) => d && context.subscriptions.push(d));
  }

  void manager.start('activation'); // commands wait for it through readyClient()
}

export async function deactivate(): Promise<void> {
  const running = server;
  server = undefined;
  await running?.dispose();
}
