import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Redactor,
  defaultEnvName,
  redact,
  secretEnvValues,
  secretKey,
  serverEnvironment,
  validateEnvName,
  validateKey,
  withName,
  withoutName,
} from '../src/core/apikeys';
import { baseName, formatScore, formatUsd } from '../src/core/format';
import { RunActivities, statusText } from '../src/core/status';

describe('statusText', () => {
  test('idle: model and last score', () => {
    assert.equal(statusText({ model: 'openai/gpt-4o-mini', server: 'running', lastScore: 0.75 }).text, '$(beaker) openai/gpt-4o-mini · 0.750');
    assert.equal(statusText({ model: 'file models', server: 'running' }).text, '$(beaker) file models');
  });
  test('a spinner and the best score so far while a run is in progress', () => {
    assert.equal(statusText({ model: 'file models', server: 'running', activity: 'optimizing', best: 0.5 }).text, '$(sync~spin) file models · optimizing · best 0.500');
  });
  test('a failed server shows the problem in the tooltip', () => {
    const s = statusText({ model: 'file models', server: 'failed', problem: 'promptlsp is not installed for "python3"' });
    assert.equal(s.text, '$(error) promptlsp');
    assert.match(s.tooltip, /not installed/);
  });
});

function spinnerText(runs: RunActivities): string {
  return statusText({ model: 'm', server: 'running', ...runs.current }).text;
}

describe('RunActivities (the spinner counts runs)', () => {
  test('one run that ends does not stop the spinner of another still going', () => {
    const runs = new RunActivities();
    const a = runs.begin('optimizing');
    const b = runs.begin('evaluating');
    runs.best(b, 0.5);
    assert.equal(runs.count, 2);
    assert.deepEqual(runs.current, { activity: 'evaluating (+1 more)', best: 0.5 });
    assert.equal(runs.end(b), true);
    assert.deepEqual(runs.current, { activity: 'optimizing', best: undefined });
    assert.equal(spinnerText(runs), '$(sync~spin) m · optimizing');
    assert.equal(runs.end(a), true);
    assert.deepEqual(runs.current, { activity: undefined, best: undefined });
    assert.equal(spinnerText(runs), '$(beaker) m');
  });
  test('ending a run twice (Cancel, then its cleanup) counts once', () => {
    const runs = new RunActivities();
    const a = runs.begin('optimizing');
    const b = runs.begin('optimizing');
    assert.equal(runs.end(a), true);
    assert.equal(runs.end(a), false);
    assert.equal(runs.count, 1, 'the second end of a did not end b');
    runs.best(a, 1); // a late report of an ended run changes nothing
    assert.deepEqual(runs.current, { activity: 'optimizing', best: undefined });
    runs.end(b);
    assert.equal(runs.count, 0);
  });
});

describe('API keys', () => {
  test('environment variable names', () => {
    assert.equal(validateEnvName('OPENAI_API_KEY'), undefined);
    assert.equal(validateEnvName('_X1'), undefined);
    assert.ok(validateEnvName(''));
    assert.ok(validateEnvName('1ABC'));
    assert.ok(validateEnvName('sk-abc123'));
    assert.ok(validateKey(' '));
    assert.ok(validateKey('a\nb'));
    assert.equal(validateKey('sk-abc'), undefined);
  });
  test('default name from the apiKeyEnv setting', () => {
    assert.equal(defaultEnvName('TEAM_KEY'), 'TEAM_KEY');
    assert.equal(defaultEnvName(''), 'OPENAI_API_KEY');
    assert.equal(defaultEnvName('not a name'), 'OPENAI_API_KEY');
  });
  test('the server environment adds the keys to the host environment', () => {
    const env = serverEnvironment({ PATH: '/bin', OPENAI_API_KEY: 'old', UNSET: undefined }, { OPENAI_API_KEY: 'sk-new', 'BAD NAME': 'x', EMPTY: '' });
    assert.deepEqual(env, { PATH: '/bin', OPENAI_API_KEY: 'sk-new', PYTHONMALLOC: 'malloc' });
    assert.equal(serverEnvironment({ PYTHONMALLOC: 'pymalloc' }, {}).PYTHONMALLOC, 'pymalloc', "the user's choice is kept");
  });
  test('redact blanks out key values', () => {
    assert.equal(redact('failed with key sk-secret-123 at sk-secret-123', ['sk-secret-123']), 'failed with key **** at ****');
    assert.equal(redact('abc', ['']), 'abc');
    assert.equal(redact('key abcd-1234-efgh', ['abcd', 'abcd-1234-efgh']), 'key ****', 'the longer key first');
  });
  test('Redactor: every value remembered (stored keys, env keys), and well-known key shapes', () => {
    const r = new Redactor();
    r.remember(['team-proxy-key-42', 'xy']);
    assert.equal(r.redact('401 for team-proxy-key-42'), '401 for ****');
    assert.equal(r.redact('xy stays: too short to be a key'), 'xy stays: too short to be a key');
    r.remember(['second-key-value']); // a key stored later
    assert.equal(r.redact('team-proxy-key-42 second-key-value'), '**** ****');
    assert.equal(r.redact('Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrSt123'), 'Incorrect API key provided: ****');
    assert.equal(r.redact('Authorization: Bearer abcdefghijklmnop0123'), 'Authorization: Bearer ****');
    assert.equal(r.redact('task-list and risk-free text'), 'task-list and risk-free text');
  });
  test('secretEnvValues: the named variables and anything named like a key', () => {
    const env = {
      PATH: '/bin',
      TEAM_LLM: 'team',
      OPENAI_API_KEY: 'sk-0123456789',
      GITHUB_TOKEN: 'ghp_0123456789',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI',
      HOME: '/h',
      EMPTY_API_KEY: '',
      TOKENIZERS_PARALLELISM: 'false',
      SOME_TOKEN: 'true',
      MY_API_KEY: 'not a key with spaces',
    };
    assert.deepEqual(secretEnvValues(env, ['TEAM_LLM']).sort(), ['ghp_0123456789', 'sk-0123456789', 'team', 'wJalrXUtnFEMI']);
    assert.deepEqual(secretEnvValues({ PATH: '/bin' }), []);
  });
  test('stored names', () => {
    assert.equal(secretKey('OPENAI_API_KEY'), 'promptlsp.apiKey.OPENAI_API_KEY');
    assert.deepEqual(withName(['B', 'A'], 'A'), ['A', 'B']);
    assert.deepEqual(withoutName(['A', 'B'], 'A'), ['B']);
  });
});

describe('format', () => {
  test('scores, costs and file names', () => {
    assert.equal(formatScore(0.25), '0.250');
    assert.equal(formatScore(null), 'n/a');
    assert.equal(formatScore(Number.NaN), 'n/a');
    assert.equal(formatUsd(0), '$0.00');
    assert.equal(formatUsd(0.0123), '$0.0123');
    assert.equal(formatUsd(1.5), '$1.50');
    assert.equal(formatUsd(null), 'unknown cost');
    assert.equal(baseName('file:///w/my%20prompts/sentiment.prompt.toml'), 'sentiment.prompt.toml');
    assert.equal(baseName('/w/a b/x.prompt.toml?run=1'), 'x.prompt.toml');
  });
});
