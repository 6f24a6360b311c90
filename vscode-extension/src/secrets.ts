/**
 * API keys in VS Code's SecretStorage. The names of the stored variables (not secret) are kept
 * in globalState so they can be listed; the values only ever go to the server's environment.
 */
import * as vscode from 'vscode';
import { secretKey, withName, withoutName } from './core/apikeys';

const NAMES = 'promptlsp.apiKeyNames';

export class KeyStore {
  constructor(private readonly context: vscode.ExtensionContext) {}

  names(): string[] {
    const names = this.context.globalState.get<unknown>(NAMES);
    return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
  }

  async set(name: string, value: string): Promise<void> {
    await this.context.secrets.store(secretKey(name), value);
    await this.context.globalState.update(NAMES, withName(this.names(), name));
  }

  async delete(name: string): Promise<void> {
    await this.context.secrets.delete(secretKey(name));
    await this.context.globalState.update(NAMES, withoutName(this.names(), name));
  }

  /** name -> key, for the server's environment. */
  async all(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of this.names()) {
      const value = await this.context.secrets.get(secretKey(name));
      if (value) {
        out[name] = value;
      }
    }
    return out;
  }

  onDidChange(listener: () => void): vscode.Disposable {
    return this.context.secrets.onDidChange((e) => {
      if (e.key.startsWith(secretKey(''))) {
        listener();
      }
    });
  }
}
