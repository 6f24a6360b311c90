/**
 * Restart guard: settings changes, secret changes and the Python extension can all ask for a
 * restart at once (a settings sync writes several keys in a row). Requests are debounced, and
 * never run two restarts at the same time: a request that arrives while one is running causes
 * exactly one more restart after it. Waiters always resolve. The restart function reports its
 * own failures; anything it still throws goes to `onError`, never silently dropped.
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

type Waiter = () => void;

export class RestartGuard {
  private timer: unknown = undefined;
  private running = false;
  private again = false;
  private reasons: string[] = [];
  /** Callers waiting for the next restart to finish. */
  private waiting: Waiter[] = [];
  private idleWaiters: Waiter[] = [];
  private immediate = false;
  private disposed = false;
  /** How many restarts ran (for tests and the log). */
  public count = 0;

  constructor(
    private readonly restart: (reasons: string[]) => Promise<void>,
    private readonly delayMs = 1000,
    private readonly timers: Timers = realTimers,
    private readonly onError: (error: unknown) => void = (error) => console.error('promptlsp: restart failed', error),
  ) {}

  /** Ask for a restart after `delayMs` of quiet; resolves when a restart covering it is done. */
  request(reason: string): Promise<void> {
    return this.enqueue(reason, this.delayMs);
  }

  /** Restart as soon as possible (the Restart command), still never two at once. */
  now(reason: string): Promise<void> {
    return this.enqueue(reason, 0);
  }

  get busy(): boolean {
    return this.running || this.timer !== undefined;
  }

  /** Resolves once no restart is running or scheduled (asks for none). */
  idle(): Promise<void> {
    if (!this.busy || this.disposed) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) {
      this.timers.clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.waiting.splice(0).forEach((resolve) => resolve());
    this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  private enqueue(reason: string, delay: number): Promise<void> {
    if (this.disposed) {
      return Promise.resolve();
    }
    if (!this.reasons.includes(reason)) {
      this.reasons.push(reason);
    }
    const done = new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.running) {
      this.again = true; // one more restart when the running one ends
      return done;
    }
    if (this.timer !== undefined && this.immediate) {
      return done; // an immediate restart is already due: it covers this request too
    }
    this.schedule(delay);
    return done;
  }

  private schedule(delay: number): void {
    if (this.timer !== undefined) {
      this.timers.clearTimeout(this.timer);
    }
    this.immediate = delay === 0;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.fire();
    }, delay);
  }

  private async fire(): Promise<void> {
    if (this.disposed) {
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    const reasons = this.reasons.splice(0);
    const waiting = this.waiting.splice(0);
    try {
      this.count++;
      await this.restart(reasons);
    } catch (error) {
      try {
        this.onError(error);
      } catch {
        // the reporter itself failed: the waiters must still be released
      }
    } finally {
      this.running = false;
    }
    waiting.forEach((resolve) => resolve());
    if (this.again && !this.disposed) {
      this.again = false;
      this.schedule(this.delayMs);
    } else if (this.timer === undefined) {
      this.idleWaiters.splice(0).forEach((resolve) => resolve());
    }
  }
}
