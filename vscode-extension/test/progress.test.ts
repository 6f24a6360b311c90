import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProgressTracker, parseProgressMessage } from '../src/core/progress';

describe('parseProgressMessage', () => {
  test('reads the server report', () => {
    assert.deepEqual(parseProgressMessage('iteration 1/3 · best 0.500 · 12 calls · $0.0000'), { iteration: 1, total: 3, best: 0.5, calls: 12 });
  });
  test('partial and unrelated messages', () => {
    assert.deepEqual(parseProgressMessage('validating · 0.750'), {});
    assert.deepEqual(parseProgressMessage('3/12 examples'), {});
    assert.deepEqual(parseProgressMessage('best 1.000'), { best: 1 });
  });
});

describe('ProgressTracker', () => {
  test('turns percentages into increments that add up to 100', () => {
    const t = new ProgressTracker();
    const updates = [
      t.update({ kind: 'begin', title: 'Optimizing sentiment.prompt.toml', message: 'gradsum', percentage: 0, cancellable: true }),
      t.update({ kind: 'report', message: 'iteration 1/2 · best 0.250 · 40 calls · $0.0000', percentage: 50 }),
      t.update({ kind: 'report', message: 'validating · 0.750' }),
      t.update({ kind: 'report', message: 'iteration 2/2 · best 0.750 · 80 calls · $0.0000', percentage: 100 }),
      t.update({ kind: 'end', message: 'finished: validation score 0.250 → 0.750' }),
    ];
    assert.deepEqual(updates[1], { message: 'iteration 1/2 · best 0.250 · 40 calls · $0.0000', increment: 50 });
    assert.deepEqual(updates[2], { message: 'validating · 0.750' });
    const total = updates.reduce((sum, u) => sum + (u?.increment ?? 0), 0);
    assert.equal(total, 100);
    assert.equal(t.best, 0.75);
    assert.deepEqual(updates[4], { message: 'finished: validation score 0.250 → 0.750' }, 'end reports its message; the bar is already full');
  });
  test('never goes backwards or past 100', () => {
    const t = new ProgressTracker();
    assert.deepEqual(t.update({ kind: 'report', percentage: 60 }), { increment: 60 });
    assert.equal(t.update({ kind: 'report', percentage: 30 }), undefined);
    assert.deepEqual(t.update({ kind: 'report', percentage: 250 }), { increment: 40 });
  });
  test('ignores malformed values', () => {
    const t = new ProgressTracker();
    assert.equal(t.update(null), undefined);
    assert.equal(t.update('iteration 1/2'), undefined);
    assert.equal(t.update({ kind: 'whatever', message: 'x' }), undefined);
    assert.equal(t.update({ kind: 'report', percentage: 'half' }), undefined);
    assert.equal(t.best, undefined);
  });
});
