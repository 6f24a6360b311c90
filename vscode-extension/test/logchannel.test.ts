import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redactor } from '../src/core/apikeys';
import { redactingChannel } from '../src/core/logchannel';
import type { Timers } from '../src/core/restart';

const KEY = 'team-proxy-key-0123456789';

/** The parts of a VS Code LogOutputChannel the language client and the extension use. */
class FakeChannel {
  readonly name = 'promptlsp';
  logLevel = 2;
  written: string[] = [];
  shown = 0;
  disposed = false;
  append(value: string): void {
    this.written.push(`append:${value}`);
  }
  appendLine(value: string): void {
    this.written.push(`line:${value}`);
  }
  replace(value: string): void {
    this.written.push(`replace:${value}`);
  }
  clear(): void {
    this.written.push('clear');
  }
  trace(message: string, ...args: unknown[]): void {
    this.written.push(`trace:${[message, ...args.map(String)].join(' ')}`);
  }
  debug(message: string, ...args: unknown[]): void {
    this.written.push(`debug:${[message, ...args.map(String)].join(' ')}`);
  }
  info(message: string, ...args: unknown[]): void {
    this.written.push(`info:${[message, ...args.map(String)].join(' ')}`);
  }
  warn(message: string, ...args: unknown[]): void {
    this.written.push(`warn:${[message, ...args.map(String)].join(' ')}`);
  }
  error(error: string | Error, ...args: unknown[]): void {
    const text = error instanceof Error ? `${error.name}: ${error.message} | ${error.stack ?? ''}` : error;
    this.written.push(`error:${[text, ...args.map(String)].join(' ')}`);
  }
  show(): void {
    this.shown++;
  }
  dispose(): void {
    this.disposed = true;
  }
}

class ManualTimers implements Timers {
  private pending = new Map<number, () => void>();
  private next = 1;
  setTimeout(fn: () => void): unknown {
    const id = this.next++;
    this.pending.set(id, fn);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  fireAll(): void {
    const fns = [...this.pending.values()];
    this.pending.clear();
    fns.forEach((fn) => fn());
  }
  get size(): number {
    return this.pending.size;
  }
}

function setup() {
  const fake = new FakeChannel();
  const redactor = new Redactor();
  redactor.remember([KEY]);
  const timers = new ManualTimers();
  const channel = redactingChannel(fake, (text) => redactor.redact(text), timers);
  return { fake, channel, timers, redactor };
}

function leaks(fake: FakeChannel): string[] {
  return fake.written.filter((line) => line.includes(KEY) || line.includes('sk-proj-'));
}

describe('redactingChannel', () => {
  test('every write method passes its text through the redaction', () => {
    const { fake, channel } = setup();
    channel.appendLine(`[Trace] sending {"apiKey": "${KEY}"}`);
    channel.info(`env has ${KEY}`, { key: KEY }, KEY, 42);
    channel.warn(`w ${KEY}`);
    channel.debug(`d ${KEY}`);
    channel.trace(`t ${KEY}`);
    channel.error(`e ${KEY}`);
    channel.error(new Error(`401 Incorrect API key provided: ${KEY}`));
    channel.replace(`r ${KEY}`);
    channel.append(`server stderr: litellm.AuthenticationError sk-proj-AbCdEfGhIjKlMnOpQrStUv\n`);
    assert.deepEqual(leaks(fake), [], fake.written.join('\n'));
    assert.equal(fake.written[0], 'line:[Trace] sending {"apiKey": "****"}');
    assert.equal(fake.written[1], 'info:env has **** {"key":"****"} **** 42');
    assert.match(fake.written[6], /^error:Error: 401 Incorrect API key provided: \*\*\*\* \| Error: 401/);
    assert.equal(fake.written.length, 9);
  });

  test('a key split across two chunks of the server stderr is still blanked out', () => {
    const { fake, channel, timers } = setup();
    channel.append(`ERROR key=${KEY.slice(0, 10)}`);
    assert.deepEqual(fake.written, [], 'a partial line waits for its end');
    channel.append(`${KEY.slice(10)} rejected\nnext `);
    assert.deepEqual(fake.written, ['append:ERROR key=**** rejected\n']);
    assert.equal(timers.size, 1, 'the rest of the line is flushed after a moment');
    timers.fireAll();
    assert.deepEqual(fake.written, ['append:ERROR key=**** rejected\n', 'append:next ']);
  });

  test('a pending partial line is written before any other line, in order', () => {
    const { fake, channel, timers } = setup();
    channel.append('[LSP   - 10:00:00] ');
    channel.appendLine(`{"key":"${KEY}"}`);
    assert.deepEqual(fake.written, ['append:[LSP   - 10:00:00] ', 'line:{"key":"****"}']);
    assert.equal(timers.size, 0);
    channel.append('tail');
    channel.dispose();
    assert.deepEqual(fake.written.slice(2), ['append:tail']);
    assert.equal(fake.disposed, true);
  });

  test('keys stored after the channel was made are blanked out too', () => {
    const { fake, channel, redactor } = setup();
    redactor.remember(['a-key-set-later-999']);
    channel.appendLine('using a-key-set-later-999');
    assert.deepEqual(fake.written, ['line:using ****']);
  });

  test('everything else is the channel itself', () => {
    const { fake, channel } = setup();
    assert.equal(channel.name, 'promptlsp');
    assert.equal(channel.logLevel, 2);
    fake.logLevel = 1;
    assert.equal(channel.logLevel, 1);
    channel.show();
    assert.equal(fake.shown, 1);
    channel.clear();
    assert.deepEqual(fake.written, ['clear']);
    assert.equal('trace' in channel, true);
  });

  test('works on a frozen channel object (an object literal of methods, like VS Code\'s)', () => {
    const written: string[] = [];
    const frozen = Object.freeze({
      name: 'promptlsp',
      append: (value: string) => void written.push(value),
      appendLine: (value: string) => void written.push(`${value}\n`),
      info: (value: string) => void written.push(`info ${value}`),
    });
    const channel = redactingChannel(frozen, (text) => text.split(KEY).join('****'));
    channel.appendLine(`key ${KEY}`);
    channel.info(`key ${KEY}`);
    assert.deepEqual(written, ['key ****\n', 'info key ****']);
    assert.equal(channel.name, 'promptlsp');
  });
});
