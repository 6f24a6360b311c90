import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultEnvName, redact, secretKey, serverEnvironment, validateEnvName, validateKey, withName, withoutName } from '../src/core/apikeys';
import { baseName, formatScore, formatUsd } from '../src/core/format';
import { statusText } from '../src/core/status';

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
    assert.deepEqual(env, { PATH: '/bin', OPENAI_API_KEY: 'sk-new' });
  });
  test('redact blanks out key values', () => {
    assert.equal(redact('failed with key sk-secret-123 at sk-secret-123', ['sk-secret-123']), 'failed with key **** at ****');
    assert.equal(redact('abc', ['']), 'abc');
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
