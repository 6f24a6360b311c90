import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MalformedAnswer } from '../src/core/estimate';
import { evaluationHeadline, exampleDescription, exampleDetails, exampleTooltip, parseEvaluation } from '../src/core/evaluation';

const answer = {
  runId: 'run-1',
  status: 'finished',
  initialScore: 0.5,
  bestScore: 0.5,
  scoredOn: 'validation',
  score: 0.5,
  message: '',
  examples: [
    {
      example_id: 'tablet-kids',
      split: 'validation',
      vars: { review: 'My kids use this tablet every day.' },
      expected: ['positive'],
      output: 'positive',
      score: 1,
      passed: true,
      error: null,
      checks: [{ name: 'exact label', type: 'equals', score: 1, passed: true, weight: 1, reason: 'output equals "positive"' }],
    },
    {
      example_id: 'toaster-cord',
      split: 'validation',
      vars: { review: 'Works like my old toaster.' },
      expected: ['neutral'],
      output: 'The sentiment of this review is neutral.',
      score: 0,
      passed: false,
      error: null,
      checks: [{ name: 'exact label', type: 'equals', score: 0, passed: false, weight: 1, reason: 'expected "neutral", got a sentence' }],
    },
  ],
};

describe('parseEvaluation', () => {
  test('reads the examples with their checks', () => {
    const view = parseEvaluation(answer);
    assert.equal(view.score, 0.5);
    assert.equal(view.examples.length, 2);
    assert.equal(view.examples[1].checks[0].reason, 'expected "neutral", got a sentence');
    assert.equal(evaluationHeadline(view, 'sentiment.prompt.toml'), 'sentiment.prompt.toml: score 0.500 on validation · 1/2 passed');
  });
  test('description, tooltip and detail rows show input, output, expected and each reason', () => {
    const failed = parseEvaluation(answer).examples[1];
    assert.equal(exampleDescription(failed), 'score 0.000 · failed · validation');
    const tip = exampleTooltip(failed);
    for (const part of ['review = Works like my old toaster.', 'Output: The sentiment of this review is neutral.', 'Expected: neutral', 'exact label: 0.000 fail — expected "neutral", got a sentence']) {
      assert.ok(tip.includes(part), `tooltip lacks ${part}:\n${tip}`);
    }
    assert.deepEqual(exampleDetails(failed).map((r) => r.label), ['input review', 'output', 'expected', 'check exact label']);
  });
  test('an answer without examples (a summary only) still gives a score', () => {
    const view = parseEvaluation({ status: 'finished', initialScore: 0.25, bestScore: 0.25 });
    assert.equal(view.score, 0.25);
    assert.deepEqual(view.examples, []);
  });
  test('errors and odd values', () => {
    const view = parseEvaluation({ score: null, examples: [{ example_id: 7, expected: 'single', output: { a: 1 }, error: 'timeout', checks: [null] }] });
    const e = view.examples[0];
    assert.equal(e.id, '7');
    assert.deepEqual(e.expected, ['single']);
    assert.equal(e.output, '{"a":1}');
    assert.equal(exampleDescription(e), 'score n/a · error');
    assert.equal(e.checks[0].name, 'check 1');
  });
  test('malformed answers throw', () => {
    assert.throws(() => parseEvaluation(null), MalformedAnswer);
    assert.throws(() => parseEvaluation({ examples: {} }), /"examples" must be a list/);
    assert.throws(() => parseEvaluation({ examples: ['x'] }), /examples\[0\]/);
  });
});
