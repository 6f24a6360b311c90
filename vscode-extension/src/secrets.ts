/**
 * API keys in VS Code's SecretStorage. The names of the stored variables (not secret) are kept
 * in globalState so they can be listed; the values only ever go to the server's environment,
 * and every value seen is blanked out (redact) of anything logged or shown.
 */
import * as vscode from 'vscode';
import { Redactor, secretEnvValues, secretKey, withName, withoutName } from './core/apikeys';

const NAMES = 'promptlsp.apiKeyNames';

export class KeyStore {
  private readonly redactor = new Redactor();

  constructor(private readonly context: vscode.ExtensionContext) {
    this.redactor.remember(secretEnvValues(process.env)); // keys the host environment already has
    void this.all().catch(() => undefined); // the stored keys, before anything is logged
  }

  names(): string[] {
    const names = this.context.globalState.get<unknown>(NAMES);
    return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
  }

  async set(name: string, value: string): Promise<void> {
    this.redactor.remember([value]);
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
    this.redactor.remember(Object.values(out));
    return out;
  }

  /** More values to blank out (e.g. what the server's environment holds). */
  remember(values: Iterable<string>): void {
    this.redactor.remember(values);
  }

  /** `text` without any key value seen in this session. */
  redact(text: string): string {
    return this.redactor.redact(text);
  }

  /** A stored key was set or removed (here or in another window); gives its variable name. */
  onDidChange(listener: (name: string) => void): vscode.Disposable {
    const prefix = secretKey('');
    return this.context.secrets.onDidChange((e) => {
      if (e.key.startsWith(prefix)) {
        listener(e.key.slice(prefix.length));
      }
    });
  }
}
