import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration, formatRun, formatRuns } from '../src/core/history';

const run = {
  id: 'run-20261121-abc',
  file: '/w/sentiment.prompt.toml',
  method: 'gradsum',
  status: 'finished',
  startedAt: 1795300000,
  endedAt: 1795300125.5,
  initialScore: 0.25,
  bestScore: 1,
  scoredOn: 'validation',
  iterations: 2,
  accounting: { total: { calls: 92, costUsd: 0 } },
  message: 'improved on validation',
};

describe('formatRun', () => {
  test('a finished run', () => {
    assert.deepEqual(formatRun(run, true), {
      id: 'run-20261121-abc',
      label: '$(check) gradsum · 0.250 → 1.000',
      description: 'finished · 2 iterations · 92 calls · $0.00',
      detail: 'run run-20261121-abc · started 2026-11-21 22:26 · took 2m 6s · scored on validation · improved on validation',
    });
  });
  test('cancelled, interrupted and running runs have their own icons and missing scores show n/a', () => {
    assert.equal(formatRun({ id: 'a', status: 'cancelled', method: 'tgd' })?.label, '$(circle-slash) tgd · n/a → n/a');
    assert.equal(formatRun({ id: 'b', status: 'interrupted' })?.label, '$(warning) run · n/a → n/a');
    assert.equal(formatRun({ id: 'c', status: 'running', method: 'critique' })?.label, '$(sync~spin) critique · n/a → n/a');
    assert.equal(formatRun({ id: 'd', status: 'finished', method: 'example', bestScore: 1 })?.label, '$(check) example · score 1.000');
  });
  test('a run stopped by the budget ends normally: a check, and it says why', () => {
    const item = formatRun({ ...run, status: 'budget-exhausted', message: 'stopped before the iteration that would exceed the budget' }, true);
    assert.equal(item?.label, '$(check) gradsum · 0.250 → 1.000');
    assert.equal(item?.description, 'stopped by the budget · 2 iterations · 92 calls · $0.00');
    assert.match(item?.detail ?? '', /stopped before the iteration that would exceed the budget$/);
  });
  test('one key style: the snake_case of older servers is not read', () => {
    const item = formatRun({ id: 'r1', status: 'failed', method: 'tgd', initial_score: 0.5, best_score: 0.5, started_at: 1795300000 }, true);
    assert.equal(item?.label, '$(error) tgd · n/a → n/a');
    assert.equal(item?.detail, 'run r1');
    assert.equal(formatRun({ run: { id: 'r2', status: 'finished' } }), undefined);
  });
  test('entries without an id are skipped', () => {
    assert.equal(formatRun({ status: 'finished' }), undefined);
    assert.equal(formatRun('run-1'), undefined);
    assert.deepEqual(formatRuns([null, { status: 'x' }, { id: 'ok', status: 'finished' }]).map((r) => r.id), ['ok']);
  });
  test('a malformed answer throws', () => {
    assert.throws(() => formatRuns(null), /run list/);
    assert.throws(() => formatRuns({ runs: [] }), /run list/);
    assert.deepEqual(formatRuns([]), []);
  });
  test('durations', () => {
    assert.equal(formatDuration(4_000), '4s');
    assert.equal(formatDuration(126_000), '2m 6s');
    assert.equal(formatDuration(3_725_000), '1h 2m');
  });
});
