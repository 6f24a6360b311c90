import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  activeModelLabel,
  confirmThresholds,
  needsRestart,
  readerFromObject,
  toServerSettings,
} from '../src/core/settings';

describe('toServerSettings', () => {
  test('maps every VS Code setting to the server JSON shape', () => {
    const get = readerFromObject({
      interpreter: '/usr/bin/python3',
      models: { task: 'openai/gpt-4o-mini', judge: 'openai/gpt-4o', optimizer: 'anthropic/claude-3-5-haiku-latest' },
      apiBase: 'http://localhost:4000',
      apiKeyEnv: 'TEAM_KEY',
      jsonSchema: true,
      concurrency: 8,
      budget: { maxCalls: 300, maxTokens: 200000, maxUsd: 1.5 },
      method: 'tgd',
      iterations: 3,
      confirmAboveCalls: 100,
    });
    assert.deepEqual(toServerSettings(get), {
      models: { task: 'openai/gpt-4o-mini', judge: 'openai/gpt-4o', optimizer: 'anthropic/claude-3-5-haiku-latest' },
      apiBase: 'http://localhost:4000',
      apiKeyEnv: 'TEAM_KEY',
      jsonSchema: true,
      concurrency: 8,
      budget: { maxCalls: 300, maxTokens: 200000, maxUsd: 1.5 },
      method: 'tgd',
      iterations: 3,
    });
  });

  test('reads flat dotted keys as VS Code getConfiguration().get does', () => {
    const get = readerFromObject({ 'models.task': 'openai/gpt-4o-mini', 'budget.maxUsd': 0.5 });
    assert.deepEqual(toServerSettings(get), { models: { task: 'openai/gpt-4o-mini' }, budget: { maxUsd: 0.5 } });
  });

  test('drops empty strings, nulls and defaults so the file wins', () => {
    const get = readerFromObject({
      interpreter: '',
      models: { task: '', judge: '   ', optimizer: null },
      apiBase: '',
      apiKeyEnv: '',
      jsonSchema: null,
      concurrency: null,
      budget: { maxCalls: null, maxTokens: null, maxUsd: null },
      method: '',
      iterations: null,
    });
    assert.deepEqual(toServerSettings(get), {});
  });

  test('drops ill-typed and out-of-range values', () => {
    const get = readerFromObject({
      models: { task: 42 },
      apiKeyEnv: 'sk-this-is-a-key-not-a-name!',
      concurrency: 0,
      budget: { maxCalls: 2.5, maxTokens: -1, maxUsd: 0 },
      method: 'random-search',
      iterations: '3',
    });
    assert.deepEqual(toServerSettings(get), {});
  });

  test('trims model ids', () => {
    assert.deepEqual(toServerSettings(readerFromObject({ 'models.task': '  openai/gpt-4o-mini ' })), {
      models: { task: 'openai/gpt-4o-mini' },
    });
  });
});

describe('confirmThresholds', () => {
  test('defaults to 100 calls and $0.10', () => {
    assert.deepEqual(confirmThresholds(readerFromObject({})), { calls: 100, usd: 0.1 });
  });
  test('uses configured values, including zero', () => {
    assert.deepEqual(confirmThresholds(readerFromObject({ confirmAboveCalls: 0, confirmAboveUsd: 2 })), { calls: 0, usd: 2 });
  });
  test('ignores negative or non-numeric values', () => {
    assert.deepEqual(confirmThresholds(readerFromObject({ confirmAboveCalls: -5, confirmAboveUsd: 'a lot' })), { calls: 100, usd: 0.1 });
  });
});

describe('activeModelLabel and needsRestart', () => {
  test('shows the task model, else "file models"', () => {
    assert.equal(activeModelLabel(readerFromObject({ 'models.task': 'openai/gpt-4o-mini' })), 'openai/gpt-4o-mini');
    assert.equal(activeModelLabel(readerFromObject({ 'models.task': '' })), 'file models');
  });
  test('only the interpreter needs a restart', () => {
    assert.equal(needsRestart((s) => s === 'promptlsp.interpreter'), true);
    assert.equal(needsRestart((s) => s === 'promptlsp.models.task'), false);
    assert.equal(needsRestart(() => false), false);
  });
});
