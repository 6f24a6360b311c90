import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RestartGuard, Timers } from '../src/core/restart';

/** Manual clock: timers fire only when the test advances time. */
class FakeTimers implements Timers {
  now = 0;
  private next = 1;
  private pending = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
      await flush();
    }
    this.now = until;
    await flush();
  }
  get size(): number {
    return this.pending.size;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('RestartGuard', () => {
  test('debounces a burst of requests into one restart with all reasons', async () => {
    const timers = new FakeTimers();
    const calls: string[][] = [];
    const guard = new RestartGuard(async (reasons) => void calls.push(reasons), 1000, timers);
    void guard.request('a');
    await timers.advance(500);
    void guard.request('b');
    await timers.advance(500);
    void guard.request('a');
    assert.equal(calls.length, 0, 'nothing runs while requests keep coming');
    await timers.advance(1000);
    assert.deepEqual(calls, [['a', 'b']]);
    assert.equal(guard.busy, false);
  });

  test('never runs two restarts at once; a request during one causes exactly one more', async () => {
    const timers = new FakeTimers();
    let running = 0;
    let maxRunning = 0;
    const gates: Array<() => void> = [];
    const guard = new RestartGuard(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const gate = deferred();
        gates.push(gate.resolve);
        await gate.promise;
        running--;
      },
      1000,
      timers,
    );
    void guard.now('first');
    await timers.advance(0);
    assert.equal(guard.count, 1);
    for (let i = 0; i < 5; i++) void guard.request(`during ${i}`);
    await timers.advance(5000);
    assert.equal(guard.count, 1, 'no second restart while the first runs');
    gates.shift()!();
    await flush();
    await timers.advance(1000);
    assert.equal(guard.count, 2, 'one more restart for all the requests made meanwhile');
    gates.shift()!();
    await flush();
    await timers.advance(5000);
    assert.equal(guard.count, 2);
    assert.equal(maxRunning, 1);
  });

  test('a restart that throws is reported to onError, not swallowed, and request() still resolves', async () => {
    const timers = new FakeTimers();
    const reported: unknown[] = [];
    const guard = new RestartGuard(async () => {
      throw new Error('no python');
    }, 10, timers, (error) => reported.push(error));
    let done = false;
    void guard.request('x').then(() => (done = true));
    await timers.advance(10);
    assert.equal(done, true);
    assert.equal(reported.length, 1);
    assert.match(String(reported[0]), /no python/);
    assert.equal('lastError' in guard, false, 'nothing keeps the error where nobody reads it');
  });

  test('a failing onError still releases the waiters and the next restart runs', async () => {
    const timers = new FakeTimers();
    let calls = 0;
    const guard = new RestartGuard(async () => {
      calls++;
      throw new Error('boom');
    }, 10, timers, () => {
      throw new Error('reporter broke');
    });
    let done = false;
    void guard.request('x').then(() => (done = true));
    await timers.advance(10);
    assert.equal(done, true);
    assert.equal(guard.busy, false);
    void guard.now('again');
    await timers.advance(0);
    assert.equal(calls, 2);
  });

  test('now() is not pushed back by a later debounced request', async () => {
    const timers = new FakeTimers();
    const calls: string[][] = [];
    const guard = new RestartGuard(async (r) => void calls.push(r), 1000, timers);
    void guard.now('command');
    void guard.request('setting');
    await timers.advance(0);
    assert.deepEqual(calls, [['command', 'setting']]);
  });

  test('idle() waits for a scheduled restart without asking for another', async () => {
    const timers = new FakeTimers();
    const guard = new RestartGuard(async () => undefined, 1000, timers);
    await guard.idle(); // nothing scheduled: resolves at once
    void guard.request('x');
    let idle = false;
    void guard.idle().then(() => (idle = true));
    await flush();
    assert.equal(idle, false);
    await timers.advance(1000);
    assert.equal(idle, true);
    assert.equal(guard.count, 1);
  });

  test('dispose() cancels a pending restart and releases waiters', async () => {
    const timers = new FakeTimers();
    const guard = new RestartGuard(async () => undefined, 1000, timers);
    let released = false;
    void guard.request('x').then(() => (released = true));
    guard.dispose();
    await timers.advance(2000);
    assert.equal(guard.count, 0);
    assert.equal(released, true);
    assert.equal(timers.size, 0);
  });
});
