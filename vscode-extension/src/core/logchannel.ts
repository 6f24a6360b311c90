/**
 * An output channel that passes every line written to it through a redaction function: the
 * channel given to the language client (its log, the server's stderr and the LSP trace) and
 * used by the extension itself, so that no API key value reaches the *promptlsp* output.
 *
 * Works on any object shaped like VS Code's (Log)OutputChannel without importing `vscode`:
 * the text-writing methods are wrapped, everything else (name, logLevel, show, …) is the
 * channel's own. `append` text is held until a line ends (or `flushMs` passes without one), so
 * a key split across two chunks of the server's stderr is still recognized.
 */
import { Timers, realTimers } from './restart';

/** The methods that write text; a channel may lack some of them (a plain OutputChannel). */
const LOG_METHODS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

type Method = (...args: unknown[]) => unknown;

function redactArg(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') {
    return redact(value);
  }
  if (value instanceof Error) {
    const copy = new Error(redact(value.message));
    copy.name = value.name;
    copy.stack = value.stack === undefined ? undefined : redact(value.stack);
    return copy;
  }
  if (value !== null && typeof value === 'object') {
    try {
      return redact(JSON.stringify(value));
    } catch {
      return redact(String(value));
    }
  }
  return value; // numbers, booleans, undefined: nothing to hide
}

export function redactingChannel<T extends object>(
  channel: T,
  redact: (text: string) => string,
  timers: Timers = realTimers,
  flushMs = 200,
): T {
  const target = channel as unknown as Record<string, unknown>;
  const call = (name: string, ...args: unknown[]): unknown => (target[name] as Method).apply(channel, args);
  let pending = '';
  let timer: unknown = undefined;

  const stopTimer = () => {
    if (timer !== undefined) {
      timers.clearTimeout(timer);
      timer = undefined;
    }
  };
  const flush = () => {
    stopTimer();
    if (pending !== '') {
      const text = pending;
      pending = '';
      call('append', redact(text));
    }
  };

  const wrapped: Record<string, Method> = {
    append: (value: unknown) => {
      pending += String(value);
      const end = pending.lastIndexOf('\n');
      if (end >= 0) {
        const lines = pending.slice(0, end + 1);
        pending = pending.slice(end + 1);
        call('append', redact(lines));
      }
      if (pending === '') {
        stopTimer();
      } else if (timer === undefined) {
        timer = timers.setTimeout(flush, flushMs);
      }
    },
    appendLine: (value: unknown) => {
      flush();
      call('appendLine', redact(String(value)));
    },
    replace: (value: unknown) => {
      stopTimer();
      pending = '';
      call('replace', redact(String(value)));
    },
    clear: () => {
      stopTimer();
      pending = '';
      call('clear');
    },
    dispose: () => {
      flush();
      call('dispose');
    },
  };
  for (const name of LOG_METHODS) {
    wrapped[name] = (...args: unknown[]) => {
      flush();
      call(name, ...args.map((a) => redactArg(a, redact)));
    };
  }

  // The proxy's own target is a blank object, so that a frozen channel cannot break the Proxy
  // invariants; every property is read from (and written to) the channel itself.
  return new Proxy({} as T, {
    get(_, property) {
      const value = Reflect.get(channel, property, channel);
      if (typeof property === 'string' && typeof value === 'function' && Object.prototype.hasOwnProperty.call(wrapped, property)) {
        return wrapped[property];
      }
      return typeof value === 'function' ? value.bind(channel) : value;
    },
    has(_, property) {
      return Reflect.has(channel, property);
    },
    set(_, property, value) {
      return Reflect.set(channel, property, value, channel);
    },
  });
}
