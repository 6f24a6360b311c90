/**
 * Small bookkeeping for commands that await between their check and their action, so that a
 * second click in between finds the work already claimed.
 */

/**
 * One holder per key (one run per file). A command reserves its key right after checking it is
 * free, before anything asynchronous, and releases it when it ends; a release by a holder that
 * no longer holds the key (its entry was replaced or cleared) changes nothing.
 */
export class Reservations<V> {
  private readonly held = new Map<string, V>();

  /** Reserve `key` for `holder`; false (and nothing changes) when the key is already held. */
  reserve(key: string, holder: V): boolean {
    if (this.held.has(key)) {
      return false;
    }
    this.held.set(key, holder);
    return true;
  }

  /** Free `key` if `holder` still holds it; true when it did. */
  release(key: string, holder: V): boolean {
    if (this.held.get(key) !== holder) {
      return false;
    }
    return this.held.delete(key);
  }

  get(key: string): V | undefined {
    return this.held.get(key);
  }

  has(key: string): boolean {
    return this.held.has(key);
  }

  values(): V[] {
    return [...this.held.values()];
  }

  get size(): number {
    return this.held.size;
  }

  /** Forget every holder (they keep running; their releases become no-ops). */
  clear(): V[] {
    const all = this.values();
    this.held.clear();
    return all;
  }
}

/**
 * Entries that an action takes out before its first await (Accept: a second Accept from the
 * notification, the editor title or a double click finds nothing), then either settles (done)
 * or restores (the action failed; the entry can be taken again).
 */
export class TakeOnce<V> {
  private readonly available = new Map<string, V>();
  private readonly taken = new Map<string, V>();

  add(key: string, value: V): void {
    this.taken.delete(key);
    this.available.set(key, value);
  }

  /** An entry that can be taken, in insertion order for values(). */
  get(key: string): V | undefined {
    return this.available.get(key);
  }

  /** An entry, taken or not (what a diff still shows while an action runs). */
  lookup(key: string): V | undefined {
    return this.available.get(key) ?? this.taken.get(key);
  }

  /** Take the entry out (synchronously); undefined when it is gone or already taken. */
  take(key: string): V | undefined {
    const value = this.available.get(key);
    if (value === undefined) {
      return undefined;
    }
    this.available.delete(key);
    this.taken.set(key, value);
    return value;
  }

  /** Put a taken entry back after a failed action; false when it was removed meanwhile. */
  restore(key: string, value: V): boolean {
    if (this.taken.get(key) !== value) {
      return false;
    }
    this.taken.delete(key);
    this.available.set(key, value);
    return true;
  }

  /** The action that took the entry is done with it. */
  settle(key: string, value: V): void {
    if (this.taken.get(key) === value) {
      this.taken.delete(key);
    }
  }

  /** Remove an entry, taken or not (a newer proposal replaces it; it cannot be restored). */
  remove(key: string): boolean {
    const had = this.available.delete(key);
    return this.taken.delete(key) || had;
  }

  /** The entries that can be taken. */
  values(): V[] {
    return [...this.available.values()];
  }

  /** Every entry, taken or not. */
  all(): [string, V][] {
    return [...this.available.entries(), ...this.taken.entries()];
  }

  clear(): void {
    this.available.clear();
    this.taken.clear();
  }
}

/**
 * Call `attempt` until `done` says its result is good, waiting `delays[i]` ms after attempt i
 * when it is not; never waits after the last attempt. Returns the last result.
 */
export async function retry<T>(
  attempt: () => Promise<T>,
  done: (result: T) => boolean,
  delays: readonly number[],
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  let result = await attempt();
  for (const delay of delays) {
    if (done(result)) {
      return result;
    }
    await sleep(delay);
    result = await attempt();
  }
  return result;
}
