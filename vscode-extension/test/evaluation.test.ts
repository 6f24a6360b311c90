import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MalformedAnswer } from '../src/core/estimate';
import {
  evaluationHeadline,
  evaluationOutcome,
  exampleDescription,
  exampleDetails,
  exampleRunMessage,
  exampleTooltip,
  parseEvaluation,
  parseExampleRun,
} from '../src/core/evaluation';

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
      exampleId: 'tablet-kids',
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
      exampleId: 'toaster-cord',
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
  test('the score is the answer\'s score only: no fallback to initialScore / bestScore', () => {
    const view = parseEvaluation({ status: 'finished', initialScore: 0.25, bestScore: 0.25 });
    assert.equal(view.score, null);
    assert.deepEqual(view.examples, []);
  });
  test('no example could be scored: said so, not a score', () => {
    const view = parseEvaluation({ ...answer, score: null, examples: answer.examples.map((e) => ({ ...e, score: null, passed: null, error: 'rate limited' })) });
    assert.equal(view.score, null);
    const outcome = evaluationOutcome(view, 'sentiment.prompt.toml');
    assert.equal(outcome.kind, 'done');
    assert.match(outcome.message, /^Evaluated sentiment\.prompt\.toml: no example could be scored/);
    assert.doesNotMatch(outcome.message, /0\.500|n\/a/);
    assert.equal(evaluationHeadline(view, 'sentiment.prompt.toml'), 'sentiment.prompt.toml: no example could be scored · 0/2 passed');
  });
  test('the status comes first: a failed run is an error with the server message', () => {
    const view = parseEvaluation({ ...answer, status: 'failed', message: 'the judge model is not available', score: 0.5 });
    assert.deepEqual(evaluationOutcome(view, 'f.prompt.toml'), {
      kind: 'failed',
      message: 'Evaluation of f.prompt.toml failed (the judge model is not available).',
    });
    assert.equal(evaluationOutcome(parseEvaluation({ ...answer, status: 'interrupted' }), 'f').kind, 'failed');
  });
  test('a cancelled run is "cancelled"', () => {
    assert.deepEqual(evaluationOutcome(parseEvaluation({ ...answer, status: 'cancelled' }), 'f.prompt.toml'), {
      kind: 'cancelled',
      message: 'Cancelled the evaluation of f.prompt.toml.',
    });
  });
  test('finished and budget-exhausted runs report the score', () => {
    assert.deepEqual(evaluationOutcome(parseEvaluation(answer), 'f.prompt.toml'), {
      kind: 'done',
      message: 'Evaluated f.prompt.toml: score 0.500 on validation, 1/2 examples passed. Critiques show as diagnostics in the file.',
    });
    const budget = evaluationOutcome(parseEvaluation({ ...answer, status: 'budget-exhausted', message: 'max_calls reached' }), 'f.prompt.toml');
    assert.equal(budget.kind, 'done');
    assert.match(budget.message, /score 0\.500 on validation, 1\/2 examples passed \(stopped by the budget: max_calls reached\)/);
  });
  test('errors and odd values', () => {
    const view = parseEvaluation({ status: 'finished', score: null, examples: [{ exampleId: 7, expected: 'single', output: { a: 1 }, error: 'timeout', checks: [null] }] });
    const e = view.examples[0];
    assert.equal(e.id, '7');
    assert.deepEqual(e.expected, ['single']);
    assert.equal(e.output, '{"a":1}');
    assert.equal(exampleDescription(e), 'score n/a · error');
    assert.equal(e.checks[0].name, 'check 1');
  });
  test('one key style: an example is named by its camelCase exampleId only', () => {
    const view = parseEvaluation({ status: 'finished', score: null, examples: [{ example_id: 'snake', id: 'plain' }] });
    assert.equal(view.examples[0].id, 'example 1');
  });
  test('malformed answers throw', () => {
    assert.throws(() => parseEvaluation(null), MalformedAnswer);
    assert.throws(() => parseEvaluation({ score: 0.5, examples: [] }), /"status" must be a string/);
    assert.throws(() => parseEvaluation({ status: 'finished', examples: {} }), /"examples" must be a list/);
    assert.throws(() => parseEvaluation({ status: 'finished', examples: ['x'] }), /examples\[0\]/);
  });
});

describe('parseExampleRun', () => {
  const answer = {
    runId: 'example-1', exampleId: '良い😀',
    result: { exampleId: '良い😀', split: 'train', score: 1, passed: true, output: 'positive\n', error: null, checks: [{ name: 'label', score: 1, passed: true, reason: 'equal' }], cached: true },
  };
  test('the runExample answer and its message', () => {
    const view = parseExampleRun(answer);
    assert.equal(view.runId, 'example-1');
    assert.equal(view.example.id, '良い😀');
    assert.equal(view.example.checks[0].reason, 'equal');
    assert.equal(exampleRunMessage(view), '良い😀 passed: score 1.000 · "positive" (from the cache).');
  });
  test('a failed call and a malformed answer', () => {
    const failed = parseExampleRun({ ...answer, result: { ...answer.result, output: null, passed: false, score: null, error: 'task model call failed: 500', cached: false } });
    assert.equal(exampleRunMessage(failed), '良い😀 could not be scored: task model call failed: 500.');
    assert.throws(() => parseExampleRun({ runId: 'x' }), MalformedAnswer);
    assert.throws(() => parseExampleRun('nope'), MalformedAnswer);
  });
});
