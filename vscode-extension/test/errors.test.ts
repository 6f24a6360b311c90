import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeRequestError } from '../src/core/errors';

class ResponseError extends Error {
  constructor(public code: number, message: string, public data?: unknown) {
    super(message);
  }
}

describe('describeRequestError', () => {
  test('RequestCancelled and a locally cancelled request are "cancelled"', () => {
    assert.deepEqual(describeRequestError(new ResponseError(-32800, 'Request cancelled'), 'promptlsp/optimize'), { kind: 'cancelled' });
    assert.deepEqual(describeRequestError(new ResponseError(-32802, 'Server cancelled'), 'promptlsp/optimize'), { kind: 'cancelled' });
    const canceled = new Error('Canceled');
    canceled.name = 'Canceled';
    assert.deepEqual(describeRequestError(canceled, 'promptlsp/optimize'), { kind: 'cancelled' });
    assert.deepEqual(describeRequestError(new Error('connection closed'), 'promptlsp/optimize', true), { kind: 'cancelled' });
  });
  test('a refused run (-32803) shows the server message as is', () => {
    const message = 'sentiment.prompt.toml has 1 error(s); fix them first (first: [template-var-missing] ...)';
    assert.deepEqual(describeRequestError(new ResponseError(-32803, message), 'promptlsp/optimize'), { kind: 'refused', message });
    // refused wins over a cancellation that raced with it
    assert.equal(describeRequestError(new ResponseError(-32803, message), 'promptlsp/optimize', true).kind, 'refused');
  });
  test('an old server without the method says how to upgrade', () => {
    const failure = describeRequestError(new ResponseError(-32601, 'Method Not Found'), 'promptlsp/estimate');
    assert.equal(failure.kind, 'error');
    assert.match(failure.kind === 'error' ? failure.message : '', /does not know promptlsp\/estimate.*pip install -U promptlsp/);
  });
  test('a stopped client', () => {
    const failure = describeRequestError(new ResponseError(-32096, 'Client is not running'), 'promptlsp/evaluate');
    assert.match(failure.kind === 'error' ? failure.message : '', /server is not running/);
  });
  test('anything else keeps its message', () => {
    assert.deepEqual(describeRequestError('boom', 'promptlsp/runs'), { kind: 'error', message: 'promptlsp/runs failed: boom' });
  });
});
