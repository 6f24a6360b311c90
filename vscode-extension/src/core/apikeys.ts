/** API keys: names of environment variables, values kept in VS Code's SecretStorage only. */
import { ENV_NAME } from './settings';

export const DEFAULT_KEY_ENV = 'OPENAI_API_KEY';
const SECRET_PREFIX = 'promptlsp.apiKey.';

export function secretKey(envName: string): string {
  return `${SECRET_PREFIX}${envName}`;
}

/** An error message for the input box, or undefined when `name` is a valid variable name. */
export function validateEnvName(name: string): string | undefined {
  if (name.trim() === '') return 'Enter the name of an environment variable, e.g. OPENAI_API_KEY';
  if (!ENV_NAME.test(name.trim())) return 'Letters, digits and _ only, not starting with a digit (e.g. OPENAI_API_KEY)';
  return undefined;
}

export function validateKey(value: string): string | undefined {
  if (value.trim() === '') return 'Enter the key (it is stored in VS Code\'s secret storage, never in settings)';
  if (/[\r\n]/.test(value.trim())) return 'A key is one line';
  return undefined;
}

export function defaultEnvName(setting: unknown): string {
  return typeof setting === 'string' && ENV_NAME.test(setting.trim()) ? setting.trim() : DEFAULT_KEY_ENV;
}

/** The server's environment: the extension host's plus the stored keys (keys win). */
export function serverEnvironment(
  base: Record<string, string | undefined>,
  keys: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (typeof v === 'string') env[k] = v;
  }
  for (const [k, v] of Object.entries(keys)) {
    if (ENV_NAME.test(k) && typeof v === 'string' && v !== '') env[k] = v;
  }
  return env;
}

/** `text` with every secret value replaced, for anything that may reach a log. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('****');
  }
  return out;
}

/** The list of stored names, updated (sorted, unique). */
export function withName(names: readonly string[], name: string): string[] {
  return [...new Set([...names, name])].sort();
}

export function withoutName(names: readonly string[], name: string): string[] {
  return names.filter((n) => n !== name);
}
