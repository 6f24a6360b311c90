import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reservations, TakeOnce, retry } from '../src/core/slots';

describe('Reservations (one run per file)', () => {
  test('a second command on the same file is refused until the first releases it', () => {
    const runs = new Reservations<object>();
    const first = {};
    const second = {};
    assert.equal(runs.reserve('file:///a', first), true);
    assert.equal(runs.reserve('file:///a', second), false, 'two quick Optimize clicks: the second is busy');
    assert.equal(runs.get('file:///a'), first);
    assert.equal(runs.reserve('file:///b', second), true, 'another file is free');
    assert.equal(runs.size, 2);
    assert.equal(runs.release('file:///a', first), true);
    assert.equal(runs.reserve('file:///a', {}), true, 'free again once the first command ended');
  });
  test("a finished command never deletes another command's entry", () => {
    const runs = new Reservations<object>();
    const old = {};
    const next = {};
    runs.reserve('k', old);
    runs.clear(); // e.g. dispose, or the entry was replaced
    assert.equal(runs.reserve('k', next), true);
    assert.equal(runs.release('k', old), false, 'the old command ends late');
    assert.equal(runs.get('k'), next);
    assert.equal(runs.has('k'), true);
    assert.equal(runs.release('k', next), true);
    assert.equal(runs.has('k'), false);
  });
  test('clear returns the holders (to cancel them)', () => {
    const runs = new Reservations<string>();
    runs.reserve('a', 'A');
    runs.reserve('b', 'B');
    assert.deepEqual(runs.clear(), ['A', 'B']);
    assert.equal(runs.size, 0);
  });
});

describe('TakeOnce (Accept applies a proposal once)', () => {
  test('the second Accept finds nothing while the first is applying', () => {
    const book = new TakeOnce<{ text: string }>();
    const entry = { text: 'proposed' };
    book.add('p1', entry);
    assert.equal(book.take('p1'), entry);
    assert.equal(book.take('p1'), undefined, 'notification Accept after the editor-title Accept');
    assert.equal(book.get('p1'), undefined);
    assert.equal(book.lookup('p1'), entry, 'the diff still shows the proposed text');
    book.settle('p1', entry);
    assert.equal(book.lookup('p1'), undefined);
    assert.equal(book.take('p1'), undefined);
  });
  test('a failed apply puts the entry back, so it can be accepted again', () => {
    const book = new TakeOnce<string>();
    book.add('p1', 'E');
    assert.equal(book.take('p1'), 'E');
    assert.equal(book.restore('p1', 'E'), true);
    assert.equal(book.take('p1'), 'E');
  });
  test('an entry removed meanwhile (a newer proposal) is not put back', () => {
    const book = new TakeOnce<string>();
    book.add('p1', 'E');
    book.take('p1');
    assert.equal(book.remove('p1'), true);
    assert.equal(book.restore('p1', 'E'), false);
    assert.equal(book.lookup('p1'), undefined);
    book.add('p2', 'F');
    book.take('p2');
    assert.equal(book.restore('p2', 'other'), false, 'only the entry that was taken');
    assert.deepEqual(book.all(), [['p2', 'F']]);
    assert.deepEqual(book.values(), []);
  });
});

describe('retry', () => {
  test('never sleeps after the last attempt', async () => {
    const slept: number[] = [];
    let attempts = 0;
    const result = await retry(
      async () => ++attempts,
      () => false,
      [300, 600, 900],
      async (ms) => void slept.push(ms),
    );
    assert.equal(attempts, 4);
    assert.equal(result, 4);
    assert.deepEqual(slept, [300, 600, 900]);
  });
  test('stops at the first good result without sleeping', async () => {
    const slept: number[] = [];
    let attempts = 0;
    const result = await retry(async () => ++attempts, (n) => n >= 2, [300, 600, 900], async (ms) => void slept.push(ms));
    assert.equal(result, 2);
    assert.deepEqual(slept, [300]);
  });
});
