/** Small formatting helpers shared by the pure modules (no `vscode` import). */

/** A score as the server prints it: three decimals, or "n/a" when unknown. */
export function formatScore(score: unknown): string {
  return typeof score === 'number' && Number.isFinite(score) ? score.toFixed(3) : 'n/a';
}

/** A cost in USD, or "unknown cost" when the price map has no entry. */
export function formatUsd(usd: unknown): string {
  if (typeof usd !== 'number' || !Number.isFinite(usd)) {
    return 'unknown cost';
  }
  return usd === 0 || usd >= 0.1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

/** An answer's object read as the fields of protocol type `T` (protocol.ts): the names checked
 * when compiling, the values still `unknown` until checked. */
export type Fields<T> = { [K in keyof T]?: unknown };

export function isFields<T>(value: unknown): value is Fields<T> {
  return isRecord(value);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function finiteNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The last path segment of a uri or path ("file:///a/b/x.prompt.toml" -> "x.prompt.toml"). */
export function baseName(uriOrPath: string): string {
  const clean = uriOrPath.replace(/[?#].*$/, '').replace(/[\\/]+$/, '');
  const name = clean.slice(Math.max(clean.lastIndexOf('/'), clean.lastIndexOf('\\')) + 1);
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}
