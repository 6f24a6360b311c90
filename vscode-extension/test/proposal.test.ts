import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MalformedAnswer } from '../src/core/estimate';
import {
  buildProposal,
  classifyRun,
  diffTitle,
  parseProposal,
  parseRunSummary,
  pickRewriteAction,
  proposalPick,
  statusKind,
  versionProblem,
} from '../src/core/proposal';

const URI = 'file:///w/sentiment.prompt.toml';
const TEXT = '[prompt]\ntemplate = """\nHere is a review 😀: {{ review }}\nWhat is the sentiment?"""\n';

function action(runId: string, candidate: string, version: number, newText: string, title = 'Apply rewritten prompt (score 0.250 → 1.000)') {
  const annotationId = `promptlsp.apply-candidate:${runId}:${candidate}`;
  return {
    title,
    kind: 'refactor.rewrite',
    edit: {
      documentChanges: [
        {
          textDocument: { uri: URI, version },
          edits: [{ range: { start: { line: 1, character: 14 }, end: { line: 3, character: 22 } }, newText, annotationId }],
        },
      ],
      changeAnnotations: { [annotationId]: { label: title, needsConfirmation: true } },
    },
  };
}

const BEST = '\nReview: {{ review }}\nAnswer with exactly one word: positive, negative or neutral.';

describe('parseRunSummary and classifyRun', () => {
  const base = { runId: 'run-abc', status: 'finished', method: 'gradsum', initialScore: 0.25, bestScore: 1, scoredOn: 'validation', candidates: [{}, {}], message: '' };
  test('a better prompt', () => {
    const outcome = classifyRun(parseRunSummary(base), 'sentiment.prompt.toml');
    assert.deepEqual(outcome, { kind: 'improved', message: 'Optimization of sentiment.prompt.toml finished: validation score 0.250 → 1.000.' });
  });
  test('best == current is "no better prompt", not a diff', () => {
    const outcome = classifyRun(parseRunSummary({ ...base, bestScore: 0.25, message: 'kept the original' }), 'f.prompt.toml');
    assert.equal(outcome.kind, 'no-improvement');
    assert.match(outcome.message, /No better prompt found for f\.prompt\.toml: validation score 0\.250 → 0\.250 \(kept the original\)/);
  });
  test('no candidates is "no better prompt"', () => {
    assert.equal(classifyRun(parseRunSummary({ ...base, candidates: [] }), 'f').kind, 'no-improvement');
    assert.equal(classifyRun(parseRunSummary({ ...base, bestScore: null }), 'f').kind, 'no-improvement');
  });
  test('cancelled and failed runs', () => {
    assert.equal(classifyRun(parseRunSummary({ ...base, status: 'cancelled' }), 'f').kind, 'cancelled');
    const failed = classifyRun(parseRunSummary({ ...base, status: 'failed', message: 'budget exhausted' }), 'f');
    assert.deepEqual(failed, { kind: 'failed', message: 'Optimization of f failed (budget exhausted).' });
  });
  test('a budget-exhausted run is a normal end: improved, with the server message as a note', () => {
    const summary = { ...base, status: 'budget-exhausted', message: 'stopped before the iteration that would exceed the budget' };
    assert.deepEqual(classifyRun(parseRunSummary(summary), 'sentiment.prompt.toml'), {
      kind: 'improved',
      message:
        'Optimization of sentiment.prompt.toml finished: validation score 0.250 → 1.000 (stopped by the budget: stopped before the iteration that would exceed the budget).',
    });
  });
  test('a budget-exhausted run without a better prompt is "no better prompt", not a failure', () => {
    const outcome = classifyRun(parseRunSummary({ ...base, status: 'budget-exhausted', bestScore: 0.25, message: 'max_calls reached' }), 'f');
    assert.deepEqual(outcome, {
      kind: 'no-improvement',
      message: 'No better prompt found for f: validation score 0.250 → 0.250 (stopped by the budget: max_calls reached). The file is unchanged.',
    });
  });
  test('only failed and interrupted (and unknown) statuses are failures', () => {
    assert.deepEqual(
      ['finished', 'budget-exhausted', 'cancelled', 'failed', 'interrupted', 'something-new'].map(statusKind),
      ['ended', 'ended', 'cancelled', 'failed', 'failed', 'failed'],
    );
    assert.deepEqual(classifyRun(parseRunSummary({ ...base, status: 'interrupted', message: 'the server stopped' }), 'f'), {
      kind: 'failed',
      message: 'Optimization of f was interrupted (the server stopped).',
    });
    assert.equal(classifyRun(parseRunSummary({ ...base, status: 'something-new' }), 'f').message, 'Optimization of f ended with status "something-new".');
  });
  test('malformed summaries', () => {
    assert.throws(() => parseRunSummary(undefined), MalformedAnswer);
    assert.throws(() => parseRunSummary({ runId: 'x' }), /"status"/);
    const loose = parseRunSummary({ status: 'finished', initialScore: 'high', bestScore: NaN });
    assert.equal(loose.initialScore, null);
    assert.equal(loose.bestScore, null);
  });
  test('diff title', () => {
    assert.equal(diffTitle('sentiment.prompt.toml', 0.25, 1), 'sentiment.prompt.toml: current ↔ proposed (score 0.250 → 1.000)');
    assert.equal(diffTitle('x.prompt.toml', null, 0.5), 'x.prompt.toml: current ↔ proposed (score n/a → 0.500)');
  });
});

/** The optimize result's proposal, as the server sends it (camelCase). */
function proposal(over: Record<string, unknown> = {}) {
  const a = action('run-abc', 'c1', 7, BEST);
  return { uri: URI, version: 7, candidateId: 'c1', initialScore: 0.25, bestScore: 1, scoredOn: 'validation', edit: a.edit, withdrawn: null, ...over };
}

describe('the proposal carried by the optimize result', () => {
  test('parsed with the summary, its scores its own (no title parsed)', () => {
    const summary = parseRunSummary({ runId: 'run-abc', status: 'finished', initialScore: 0.25, bestScore: 1, candidates: [{}], proposal: proposal() });
    assert.deepEqual(summary.proposal && { ...summary.proposal, edit: null }, { ...proposal(), edit: null });
    assert.equal(parseRunSummary({ status: 'finished' }).proposal, null);
    assert.equal(parseRunSummary({ status: 'finished', proposal: null }).proposal, null);
  });
  test('its edit is the pick: uri, version, text edits', () => {
    const pick = proposalPick(parseProposal(proposal())!);
    assert.equal(pick.kind, 'ok');
    if (pick.kind !== 'ok') return;
    assert.deepEqual([pick.uri, pick.version, pick.edits.length, pick.edits[0].newText], [URI, 7, 1, BEST]);
    assert.equal(pick.title, 'candidate c1 (score 0.250 → 1.000)');
    assert.equal(buildProposal(pick, URI, TEXT).proposedText, '[prompt]\ntemplate = """\nReview: {{ review }}\nAnswer with exactly one word: positive, negative or neutral."""\n');
  });
  test('a withdrawn proposal gives the reason', () => {
    const reason = 'prompt.template changed since run run-abc';
    assert.deepEqual(proposalPick(parseProposal(proposal({ edit: null, withdrawn: reason }))!), {
      kind: 'withdrawn', title: 'candidate c1 (score 0.250 → 1.000)', reason,
    });
    assert.equal(proposalPick(parseProposal(proposal({ edit: null }))!).kind, 'withdrawn');
  });
  test('malformed proposals', () => {
    assert.throws(() => parseProposal({ uri: URI }), MalformedAnswer);
    assert.throws(() => parseProposal(proposal({ edit: 'x' })), /WorkspaceEdit/);
    assert.throws(() => proposalPick(parseProposal(proposal({ edit: {} }))!), /no text edits/);
  });
});

describe('pickRewriteAction: the same candidate rebased on the current text', () => {
  const ref = { runId: 'run-abc', candidateId: 'c1' };
  test('finds the candidate by its change annotation, whatever the order or the title', () => {
    const pick = pickRewriteAction([action('run-abc', 'c2', 8, 'worse'), action('run-abc', 'c1', 8, BEST, 'Renamed')], ref);
    assert.equal(pick.kind, 'ok');
    if (pick.kind !== 'ok') return;
    assert.deepEqual([pick.version, pick.uri, pick.edits[0].newText, pick.title], [8, URI, BEST, 'Renamed']);
  });
  test('skips other code actions', () => {
    const other = { title: 'Apply rewritten prompt (fake)', kind: 'quickfix', edit: action('run-abc', 'c1', 1, BEST).edit };
    const command = { title: 'Apply rewritten prompt (cmd)', command: 'x', kind: 'source' };
    assert.equal(pickRewriteAction([other, command, action('run-abc', 'c1', 1, BEST)], ref).kind, 'ok');
    assert.equal(pickRewriteAction([other], ref).kind, 'none');
    assert.equal(pickRewriteAction(null, ref).kind, 'none');
    assert.equal(pickRewriteAction([], ref).kind, 'none');
  });
  test('a disabled action gives its reason (the prompt changed since the run)', () => {
    const disabled = {
      title: 'Apply rewritten prompt (score 0.250 → 1.000)',
      kind: 'refactor.rewrite',
      disabled: { reason: 'prompt.template changed since run run-abc; run the optimizer again to get candidates for it' },
    };
    assert.deepEqual(pickRewriteAction([disabled], ref), {
      kind: 'withdrawn',
      title: disabled.title,
      reason: 'prompt.template changed since run run-abc; run the optimizer again to get candidates for it',
    });
  });
  test('actions of another (older) run are stale', () => {
    assert.equal(pickRewriteAction([action('run-old', 'c1', 7, BEST)], ref).kind, 'stale');
  });
  test('malformed answers', () => {
    assert.throws(() => pickRewriteAction({ title: 'x' }, ref), MalformedAnswer);
    const broken = action('run-abc', 'c1', 1, BEST);
    (broken.edit.documentChanges[0].edits[0] as { range: unknown }).range = {};
    assert.throws(() => pickRewriteAction([broken], ref), /edit 0/);
  });
});

describe('buildProposal and versionProblem', () => {
  test('the proposed text is exactly the current text with the action edits applied', () => {
    const pick = proposalPick(parseProposal(proposal())!);
    assert.equal(pick.kind, 'ok');
    if (pick.kind !== 'ok') return;
    const built = buildProposal(pick, URI, TEXT);
    assert.equal(built.currentText, TEXT);
    assert.equal(
      built.proposedText,
      '[prompt]\ntemplate = """\nReview: {{ review }}\nAnswer with exactly one word: positive, negative or neutral."""\n',
    );
    assert.equal(built.version, 7);
  });
  test('an edit that does not fit the text is refused (UTF-16 columns after an emoji)', () => {
    const bad = action('run-abc', 'c1', 7, BEST);
    bad.edit.documentChanges[0].edits[0].range.end = { line: 2, character: 18 }; // between the two halves of 😀
    const pick = proposalPick(parseProposal(proposal({ edit: bad.edit }))!);
    assert.equal(pick.kind, 'ok');
    if (pick.kind !== 'ok') return;
    assert.throws(() => buildProposal(pick, URI, TEXT), /surrogate pair/);
    assert.throws(() => buildProposal(pick, URI, 'short\n'), /past the end/);
  });
  test('version check', () => {
    assert.equal(versionProblem(7, 7, 'f'), undefined);
    assert.equal(versionProblem(null, 9, 'f'), undefined);
    assert.equal(versionProblem(7, 8, 'sentiment.prompt.toml'), 'sentiment.prompt.toml changed since the proposal was made (version 7, now 8)');
  });
});
