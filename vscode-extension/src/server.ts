/**
 * Starts, stops and restarts the promptlsp language server (`python -m promptlsp serve`): picks
 * the interpreter, probes it (Python ≥ 3.10, promptlsp importable) and says exactly how to fix
 * it when not, passes the stored API keys in the process environment, and maps the settings.
 */
import { execFile } from 'child_process';
import * as vscode from 'vscode';
import {
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
} from 'vscode-languageclient/node';
import { secretEnvValues, serverEnvironment } from './core/apikeys';
import { clientLensCommand } from './core/lenses';
import { Interpreter, PROBE_ARGS, ProbeRun, chooseInterpreter, fixFor, parseProbe, startFailure } from './core/interpreter';
import { RestartGuard } from './core/restart';
import { SettingsReader, toServerSettings } from './core/settings';
import type { ServerState } from './core/status';
import { activeInterpreter } from './python';
import { KeyStore } from './secrets';

export const SECTION = 'promptlsp';

export function settingsReader(scope?: vscode.ConfigurationScope): SettingsReader {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  return (key: string) => config.get(key);
}

function runProbe(command: string, env: Record<string, string>, cwd: string | undefined): Promise<ProbeRun> {
  return new Promise((resolve) => {
    execFile(command, [...PROBE_ARGS], { env, cwd, timeout: 20000, windowsHide: true }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { killed?: boolean; code?: string | number }) | null;
      resolve({
        stdout: String(stdout ?? ''),
        stderr: String(stderr ?? ''),
        exitCode: err === null ? 0 : typeof err.code === 'number' ? err.code : null,
        spawnError: err !== null && typeof err.code === 'string' ? err.code : undefined,
        timedOut: err !== null && err.killed === true,
      });
    });
  });
}

/** A server lens's command, as the extension's command on `target` (lenses.ts). */
function mapLens(lens: vscode.CodeLens, target: vscode.Uri): void {
  if (lens.command !== undefined) {
    const mapped = clientLensCommand(lens.command, target);
    lens.command = { ...lens.command, command: mapped.command, arguments: mapped.arguments };
  }
}

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly guard: RestartGuard;
  private readonly stateEmitter = new vscode.EventEmitter<void>();
  public state: ServerState = 'stopped';
  public problem: string | undefined;
  readonly onDidChangeState = this.stateEmitter.event;

  /** `log` should be a redacting channel (see core/logchannel): the language client writes the
   * server's log, stderr and the LSP trace to it. */
  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly keys: KeyStore,
  ) {
    this.guard = new RestartGuard((reasons) => this.restart(reasons), 1000, undefined, (error) =>
      this.log.error(this.safe(`restarting the promptlsp server failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)));
  }

  /** Start now (activation, the Restart command); never two restarts at once. */
  start(reason: string): Promise<void> {
    return this.guard.now(reason);
  }

  /** Restart after a quiet second (settings, keys, interpreter changes), debounced. */
  requestRestart(reason: string): Promise<void> {
    return this.guard.request(reason);
  }

  private setState(state: ServerState, problem?: string): void {
    this.state = state;
    this.problem = problem === undefined ? undefined : this.safe(problem);
    this.stateEmitter.fire();
  }

  /** The running client, waiting for a start in progress; else says why and returns undefined. */
  async readyClient(): Promise<LanguageClient | undefined> {
    await this.guard.idle();
    if (this.client !== undefined && this.client.state === State.Running) {
      return this.client;
    }
    if (this.client !== undefined && this.client.state === State.Starting) {
      try {
        await this.client.start();
        return this.client;
      } catch {
        // reported below
      }
    }
    const message = this.problem ?? 'The promptlsp server is not running. See the promptlsp output, then run "promptlsp: Restart server".';
    void this.showProblem(message);
    return undefined;
  }

  private async showProblem(message: string, command?: string): Promise<void> {
    const buttons = ['Open setting', ...(command ? ['Copy command'] : []), 'Show log'];
    const choice = await vscode.window.showErrorMessage(this.safe(message), ...buttons);
    if (choice === 'Open setting') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'promptlsp.interpreter');
    } else if (choice === 'Copy command' && command) {
      await vscode.env.clipboard.writeText(command);
    } else if (choice === 'Show log') {
      this.log.show(true);
    }
  }

  private async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    try {
      if (client.isRunning()) {
        await client.stop(5000);
      }
    } catch (error) {
      this.log.warn(`stopping the server: ${error instanceof Error ? error.message : String(error)}`);
    }
    try {
      await client.dispose();
    } catch {
      // already stopped
    }
  }

  /** Start the server (stopping the old one). Reports every failure (status, log, message with
   * the fix); never throws. */
  private async restart(reasons: string[]): Promise<void> {
    let interpreter: Interpreter | undefined;
    try {
      this.log.info(`starting the promptlsp server (${reasons.join('; ')})`);
      await this.stop();
      this.setState('starting');
      const folder = vscode.workspace.workspaceFolders?.[0];
      const read = settingsReader(folder?.uri);
      const setting = read('interpreter');
      const fromPython = typeof setting === 'string' && setting.trim() !== '' ? undefined : await activeInterpreter(this.log, folder?.uri);
      interpreter = chooseInterpreter({
        setting,
        pythonExtension: fromPython,
        workspaceFolder: folder?.uri.fsPath,
        home: process.env.HOME ?? process.env.USERPROFILE,
        platform: process.platform,
      });
      const keys = await this.keys.all();
      const env = serverEnvironment(process.env, keys);
      // every key the server gets, stored or inherited, is blanked out of anything shown
      this.keys.remember(secretEnvValues(env, [...Object.keys(keys), String(read('apiKeyEnv') ?? '')]));
      const cwd = folder?.uri.fsPath;
      this.log.info(`interpreter: ${interpreter.command} (${interpreter.source}); API keys in the environment: ${Object.keys(keys).join(', ') || 'none'}`);

      const probe = parseProbe(await runProbe(interpreter.command, env, cwd));
      if (!probe.ok) {
        const fix = fixFor(probe, interpreter);
        this.log.error(this.safe(fix.message));
        this.setState('failed', fix.message);
        void this.showProblem(fix.message, fix.command);
        return;
      }
      this.log.info(`Python ${probe.python.join('.')}, promptlsp ${probe.promptlsp}${probe.executable ? ` (${probe.executable})` : ''}`);

      const serverOptions: ServerOptions = {
        command: interpreter.command,
        args: ['-m', 'promptlsp', 'serve', '--stdio'],
        options: { env, cwd },
      };
      const lensDocuments = new WeakMap<vscode.CodeLens, vscode.Uri>();
      const clientOptions: LanguageClientOptions = {
        documentSelector: [
          { scheme: 'file', language: 'prompt-toml' },
          { scheme: 'untitled', language: 'prompt-toml' },
          // also when a user maps *.prompt.toml to plain `toml` (files.associations) so that
          // Even Better TOML, which only serves the `toml` language, reads them too
          { scheme: 'file', pattern: '**/*.prompt.toml' },
        ],
        outputChannel: this.log,
        traceOutputChannel: this.log,
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        initializationOptions: toServerSettings(read),
        synchronize: { configurationSection: SECTION },
        connectionOptions: { maxRestartCount: 4 },
        middleware: {
          // The server's lenses run its own commands; here they run the extension's (lenses.ts).
          // An example's lens comes without its command and is resolved when shown.
          provideCodeLenses: async (document, token, next) => {
            const lenses = await next(document, token);
            for (const lens of lenses ?? []) {
              mapLens(lens, document.uri);
              lensDocuments.set(lens, document.uri);
            }
            return lenses;
          },
          resolveCodeLens: async (lens, token, next) => {
            const resolved = await next(lens, token);
            const target = lensDocuments.get(lens);
            if (resolved && target !== undefined) {
              mapLens(resolved, target);
            }
            return resolved;
          },
          workspace: {
            // The server pulls section "promptlsp": answer with its settings JSON, not the raw
            // VS Code values (empty strings and nulls dropped, camelCase shape).
            configuration: async (params, token, next) => {
              const raw = await next(params, token);
              if (!Array.isArray(raw)) {
                return raw;
              }
              return params.items.map((item, i) => {
                if (item.section !== SECTION) {
                  return raw[i];
                }
                const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
                return toServerSettings(settingsReader(scope));
              });
            },
          },
        },
      };
      const client = new LanguageClient('promptlsp', 'promptlsp', serverOptions, clientOptions);
      client.onDidChangeState((e) => {
        if (this.client !== client) {
          return;
        }
        if (e.newState === State.Running) {
          this.setState('running');
        } else if (e.newState === State.Stopped && this.state !== 'starting') {
          this.setState('failed', 'The promptlsp server stopped. See the promptlsp output, then run "promptlsp: Restart server".');
        }
      });
      this.client = client;
      await client.start(); // a failure is reported by restart()
      this.setState('running');
      this.log.info('the promptlsp server is running');
    } catch (error) {
      const fix = startFailure(error, interpreter);
      const stack = error instanceof Error && error.stack ? `\n${error.stack}` : '';
      this.log.error(this.safe(`${fix.message}${stack}`));
      this.setState('failed', fix.message);
      void this.showProblem(fix.message, fix.command);
    }
  }

  /** Text with every API key blanked out, for anything shown or logged. */
  safe(text: string): string {
    return this.keys.redact(text);
  }

  async dispose(): Promise<void> {
    this.guard.dispose();
    await this.stop();
    this.stateEmitter.dispose();
  }
}
