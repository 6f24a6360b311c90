/**
 * VS Code settings (section `promptlsp`) -> the JSON the server reads from initializationOptions
 * and workspace/configuration:
 *
 *   {"models": {"task": "openai/gpt-4o-mini", "judge": "...", "optimizer": "..."},
 *    "apiBase": "...", "apiKeyEnv": "TEAM_KEY", "jsonSchema": true, "concurrency": 8,
 *    "budget": {"maxCalls": 300, "maxTokens": 200000, "maxUsd": 1.5},
 *    "method": "tgd", "iterations": 3}
 *
 * Empty strings, nulls and ill-typed values are dropped, so an unset setting never overrides
 * what a prompt file says.
 */
import { isRecord } from './format';

/** Reads one setting by its key inside the section, e.g. `get('models.task')`. */
export type SettingsReader = (key: string) => unknown;

export interface ServerSettings {
  models?: { task?: string; judge?: string; optimizer?: string };
  apiBase?: string;
  apiKeyEnv?: string;
  jsonSchema?: boolean;
  concurrency?: number;
  budget?: { maxCalls?: number; maxTokens?: number; maxUsd?: number };
  method?: 'gradsum' | 'tgd';
  iterations?: number;
}

/** Settings whose change needs a server restart (the rest reach the server without one). */
export const RESTART_SETTINGS = ['promptlsp.interpreter'] as const;

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A reader over a plain object, with dotted keys looked up both flat and nested. */
export function readerFromObject(values: Record<string, unknown>): SettingsReader {
  return (key: string) => {
    if (key in values) {
      return values[key];
    }
    let node: unknown = values;
    for (const part of key.split('.')) {
      if (!isRecord(node)) {
        return undefined;
      }
      node = node[part];
    }
    return node;
  };
}

function str(value: unknown): string | undefined {
  if (typeof value !== 'string') {
    return undefined;
  }
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function positiveInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? value : undefined;
}

function positiveNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** The server's settings JSON from the VS Code settings (a pure function). */
export function toServerSettings(get: SettingsReader): ServerSettings {
  const out: ServerSettings = {};
  const models: NonNullable<ServerSettings['models']> = {};
  for (const role of ['task', 'judge', 'optimizer'] as const) {
    const model = str(get(`models.${role}`));
    if (model !== undefined) {
      models[role] = model;
    }
  }
  if (Object.keys(models).length > 0) {
    out.models = models;
  }
  const apiBase = str(get('apiBase'));
  if (apiBase !== undefined) {
    out.apiBase = apiBase;
  }
  const apiKeyEnv = str(get('apiKeyEnv'));
  if (apiKeyEnv !== undefined && ENV_NAME.test(apiKeyEnv)) {
    out.apiKeyEnv = apiKeyEnv;
  }
  const jsonSchema = get('jsonSchema');
  if (typeof jsonSchema === 'boolean') {
    out.jsonSchema = jsonSchema;
  }
  const concurrency = positiveInt(get('concurrency'));
  if (concurrency !== undefined) {
    out.concurrency = concurrency;
  }
  const budget: NonNullable<ServerSettings['budget']> = {};
  const maxCalls = positiveInt(get('budget.maxCalls'));
  const maxTokens = positiveInt(get('budget.maxTokens'));
  const maxUsd = positiveNumber(get('budget.maxUsd'));
  if (maxCalls !== undefined) budget.maxCalls = maxCalls;
  if (maxTokens !== undefined) budget.maxTokens = maxTokens;
  if (maxUsd !== undefined) budget.maxUsd = maxUsd;
  if (Object.keys(budget).length > 0) {
    out.budget = budget;
  }
  const method = str(get('method'));
  if (method === 'gradsum' || method === 'tgd') {
    out.method = method;
  }
  const iterations = positiveInt(get('iterations'));
  if (iterations !== undefined) {
    out.iterations = iterations;
  }
  return out;
}

export interface ConfirmThresholds {
  calls: number;
  usd: number;
}

export const DEFAULT_THRESHOLDS: ConfirmThresholds = { calls: 100, usd: 0.1 };

/** `promptlsp.confirmAboveCalls` / `confirmAboveUsd`, defaults for missing or bad values. */
export function confirmThresholds(get: SettingsReader): ConfirmThresholds {
  const calls = get('confirmAboveCalls');
  const usd = get('confirmAboveUsd');
  return {
    calls: typeof calls === 'number' && Number.isFinite(calls) && calls >= 0 ? calls : DEFAULT_THRESHOLDS.calls,
    usd: typeof usd === 'number' && Number.isFinite(usd) && usd >= 0 ? usd : DEFAULT_THRESHOLDS.usd,
  };
}

/** What the status bar names as the active model. */
export function activeModelLabel(get: SettingsReader): string {
  return str(get('models.task')) ?? 'file models';
}

/** Whether a configuration change needs a restart; `affects` is `event.affectsConfiguration`. */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return RESTART_SETTINGS.some((key) => affects(key));
}
