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

/**
 * The server's environment: the extension host's plus the stored keys (keys win), and
 * `PYTHONMALLOC=malloc` unless the host sets it — the allocator `promptlsp serve` would otherwise
 * restart itself with (memory given back after a large file is closed), without the restart.
 */
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
  if (env.PYTHONMALLOC === undefined) env.PYTHONMALLOC = 'malloc';
  return env;
}

/** `text` with every secret value replaced, for anything that may reach a log. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  // longest first, so that a key containing another is blanked out whole
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 4) out = out.split(secret).join('****');
  }
  return out;
}

/** Shapes of well-known keys, blanked out even when their value is not stored here. */
const KEY_PATTERNS: readonly [RegExp, string][] = [
  [/\bsk-[A-Za-z0-9_-]{16,}/g, '****'], // OpenAI, Anthropic (sk-ant-…), many proxies
  [/\bAIza[0-9A-Za-z_-]{30,}/g, '****'], // Google
  [/\b(Bearer\s+)[A-Za-z0-9._~+/=-]{16,}/gi, '$1****'], // Authorization headers
];

/** Names of environment variables whose values are secrets by their name (OPENAI_API_KEY,
 * HF_TOKEN, AWS_SECRET_ACCESS_KEY, …; not TOKENIZERS_PARALLELISM). */
const SECRET_NAME = /(^|_)(API_?KEY|TOKEN|SECRET|PASSWORD)(_|$)/i;

/** The values in `env` of the variables in `names`, and of every variable named like a secret
 * whose value looks like one (8+ characters, no spaces: never "false" or "1"). */
export function secretEnvValues(env: Record<string, string | undefined>, names: Iterable<string> = []): string[] {
  const wanted = new Set(names);
  return Object.entries(env)
    .filter(([name, value]) =>
      typeof value === 'string' && value !== '' &&
      (wanted.has(name) || (SECRET_NAME.test(name) && value.trim().length >= 8 && !/\s/.test(value.trim()))))
    .map(([, value]) => value as string);
}

/**
 * Blanks out secrets in any text that may reach the output channel, the LSP trace or a message:
 * the values of every API key stored or passed to the server in this session (they are never
 * forgotten, so a key cleared while the old server still runs stays hidden) and well-known key
 * shapes.
 */
export class Redactor {
  private readonly secrets = new Set<string>();

  /** Values to blank out from now on. */
  remember(values: Iterable<string>): void {
    for (const value of values) {
      if (typeof value === 'string' && value.trim().length >= 4) {
        this.secrets.add(value);
        this.secrets.add(value.trim());
      }
    }
  }

  redact(text: string): string {
    let out = redact(text, this.secrets);
    for (const [pattern, replacement] of KEY_PATTERNS) {
      out = out.replace(pattern, replacement);
    }
    return out;
  }
}

/** The list of stored names, updated (sorted, unique). */
export function withName(names: readonly string[], name: string): string[] {
  return [...new Set([...names, name])].sort();
}

export function withoutName(names: readonly string[], name: string): string[] {
  return names.filter((n) => n !== name);
}
