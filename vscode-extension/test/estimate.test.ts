import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MalformedAnswer, decide, describeEstimate, parseEstimate } from '../src/core/estimate';

const thresholds = { calls: 100, usd: 0.1 };

describe('parseEstimate', () => {
  test('reads the server estimate', () => {
    assert.deepEqual(parseEstimate({ method: 'gradsum', iterations: 2, calls: 92, tokens: 41000, costUsd: 0, overBudget: null }), {
      method: 'gradsum',
      iterations: 2,
      calls: 92,
      tokens: 41000,
      costUsd: 0,
      overBudget: null,
      summary: null,
    });
  });
  test('an unknown price is null, not zero', () => {
    assert.equal(parseEstimate({ method: 'tgd', calls: 10, costUsd: null }).costUsd, null);
  });
  test('rejects malformed answers', () => {
    assert.throws(() => parseEstimate(null), MalformedAnswer);
    assert.throws(() => parseEstimate([1, 2]), MalformedAnswer);
    assert.throws(() => parseEstimate({ method: 'gradsum' }), /"calls"/);
    assert.throws(() => parseEstimate({ calls: '12' }), /"calls"/);
    assert.throws(() => parseEstimate({ calls: -1 }), /"calls"/);
    assert.throws(() => parseEstimate({ calls: 1, costUsd: '0.1' }), /"costUsd"/);
    assert.throws(() => parseEstimate({ calls: 1, overBudget: 5 }), /"overBudget"/);
  });
});

describe('decide', () => {
  test('below both thresholds: run without asking', () => {
    const d = decide(parseEstimate({ method: 'gradsum', iterations: 2, calls: 92, tokens: 41000, costUsd: 0 }), thresholds, 'sentiment.prompt.toml');
    assert.equal(d.action, 'run');
    assert.equal(d.action === 'run' && d.summary, 'gradsum, 2 iterations: at most 92 calls, 41,000 tokens, $0.00');
  });
  test('exactly at the threshold does not ask', () => {
    assert.equal(decide(parseEstimate({ calls: 100, costUsd: 0.1 }), thresholds, 'f').action, 'run');
  });
  test('above the call threshold: confirm', () => {
    const d = decide(parseEstimate({ method: 'tgd', iterations: 3, calls: 150, tokens: 90000, costUsd: 0.05 }), thresholds, 'sentiment.prompt.toml');
    assert.equal(d.action, 'confirm');
    assert.match(d.action === 'confirm' ? d.message : '', /^Optimizing sentiment\.prompt\.toml may cost more than 100 calls \(tgd, 3 iterations: at most 150 calls/);
  });
  test('above the cost threshold: confirm', () => {
    const d = decide(parseEstimate({ calls: 20, costUsd: 0.25 }), thresholds, 'f');
    assert.equal(d.action, 'confirm');
    assert.match(d.action === 'confirm' ? d.message : '', /more than \$0\.10/);
  });
  test("the server's summary is used as is when it sends one (no second wording)", () => {
    const summary = 'gradsum on sentiment.prompt.toml: 2 iterations, at most 92 calls, 41000 tokens, $0.0000';
    const estimate = parseEstimate({ method: 'gradsum', iterations: 2, calls: 92, tokens: 41000, costUsd: 0, summary });
    assert.equal(describeEstimate(estimate), summary);
    const d = decide(parseEstimate({ method: 'tgd', calls: 150, costUsd: 0, summary: 'tgd on f: at most 150 calls' }), thresholds, 'f');
    assert.equal(d.action === 'confirm' && d.summary, 'tgd on f: at most 150 calls');
    assert.match(d.action === 'confirm' ? d.message : '', /\(tgd on f: at most 150 calls\)/);
    assert.equal(parseEstimate({ calls: 1, summary: '  ' }).summary, null, 'a blank summary falls back to local wording');
  });
  test('unknown cost only counts calls', () => {
    assert.equal(decide(parseEstimate({ calls: 20, costUsd: null }), thresholds, 'f').action, 'run');
    assert.match(describeEstimate(parseEstimate({ calls: 20, costUsd: null })), /unknown cost/);
  });
  test('over budget: refuse with the server message, whatever the thresholds', () => {
    const d = decide(parseEstimate({ calls: 5, costUsd: 0, overBudget: 'the run would exceed the budget\'s max_calls' }), { calls: 1000, usd: 100 }, 'f.prompt.toml');
    assert.deepEqual(d, { action: 'refuse', message: "Not optimizing f.prompt.toml: the run would exceed the budget's max_calls" });
  });
});
