/** The extension manifest (package.json) against what the code and the e2e tests rely on. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const contributes = pkg.contributes;

const EXPECTED_COMMANDS: Record<string, string> = {
  'promptlsp.optimizePrompt': 'promptlsp: Optimize prompt',
  'promptlsp.evaluatePrompt': 'promptlsp: Evaluate prompt',
  'promptlsp.runExample': 'promptlsp: Run example',
  'promptlsp.restartServer': 'promptlsp: Restart server',
  'promptlsp.setApiKey': 'promptlsp: Set API key',
  'promptlsp.clearApiKey': 'promptlsp: Clear API key',
  'promptlsp.showRuns': 'promptlsp: Show run history',
  'promptlsp.acceptProposal': 'promptlsp: Accept proposed prompt',
  'promptlsp.rejectProposal': 'promptlsp: Reject proposed prompt',
  'promptlsp.cancelRun': 'promptlsp: Cancel run',
  'promptlsp.openSettings': 'promptlsp: Open settings',
};
// vscode-languageclient registers the server's executeCommand ids as VS Code commands
const SERVER_COMMANDS = ['promptlsp.optimize', 'promptlsp.evaluate', 'promptlsp.runs', 'promptlsp.candidates', 'promptlsp.cancel', 'promptlsp.estimate', 'promptlsp.evaluateExample'];

function parseVersion(v: string): number[] {
  return v.replace(/^[\^~>=<\s]+/, '').split('.').map((x) => Number.parseInt(x, 10));
}

function cmp(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  }
  return 0;
}

describe('package.json', () => {
  const declared = new Map<string, string>(contributes.commands.map((c: { command: string; title: string; category?: string }) => [c.command, c.category ? `${c.category}: ${c.title}` : c.title]));

  test('commands have the ids and palette titles the e2e tests drive', () => {
    for (const [id, title] of Object.entries(EXPECTED_COMMANDS)) {
      assert.equal(declared.get(id), title, id);
    }
  });

  test('no command id collides with the server executeCommand ids', () => {
    for (const id of SERVER_COMMANDS) {
      assert.equal(declared.has(id), false, id);
    }
  });

  test('every registered command is declared and every declared command is registered', () => {
    const source = readFileSync(join(root, 'src', 'extension.ts'), 'utf8');
    const registered = new Set([...source.matchAll(/command\('(promptlsp\.[A-Za-z]+)'/g)].map((m) => m[1]));
    assert.deepEqual([...registered].sort(), [...declared.keys()].sort());
  });

  test('menus reference declared commands; Accept/Reject show on the proposed diff', () => {
    for (const [menu, items] of Object.entries(contributes.menus) as [string, { command: string; when?: string }[]][]) {
      for (const item of items) assert.ok(declared.has(item.command), `${menu}: ${item.command}`);
    }
    const title = contributes.menus['editor/title'];
    const on = (id: string) => title.find((i: { command: string }) => i.command === id)?.when;
    assert.equal(on('promptlsp.acceptProposal'), 'resourceScheme == promptlsp-proposed');
    assert.equal(on('promptlsp.rejectProposal'), 'resourceScheme == promptlsp-proposed');
    assert.match(on('promptlsp.optimizePrompt'), /resourceLangId == prompt-toml/);
  });

  test('settings: every key, the server settings shape and the confirm defaults', () => {
    const props = contributes.configuration.properties;
    for (const key of ['interpreter', 'models.task', 'models.judge', 'models.optimizer', 'apiBase', 'apiKeyEnv', 'jsonSchema', 'concurrency', 'budget.maxCalls', 'budget.maxTokens', 'budget.maxUsd', 'method', 'iterations', 'confirmAboveCalls', 'confirmAboveUsd', 'trace.server']) {
      assert.ok(props[`promptlsp.${key}`], key);
    }
    assert.equal(props['promptlsp.confirmAboveCalls'].default, 100);
    assert.equal(props['promptlsp.confirmAboveUsd'].default, 0.1);
    assert.deepEqual(props['promptlsp.method'].enum.filter(Boolean), ['gradsum', 'tgd']);
    // machine-scoped user settings are ignored in remote windows (code-server): not for these
    for (const [key, value] of Object.entries(props) as [string, { scope?: string }][]) {
      assert.ok(!String(value.scope ?? '').startsWith('machine'), `${key} has scope ${value.scope}`);
    }
  });

  test('engines.vscode accepts VS Code 1.139 and @types/vscode is not newer than it', () => {
    const engine = pkg.engines.vscode as string;
    assert.match(engine, /^\^1\.\d+\.\d+$/);
    const min = parseVersion(engine);
    assert.ok(cmp([1, 139, 0], min) >= 0);
    const types = parseVersion(pkg.devDependencies['@types/vscode']);
    assert.ok(cmp(types, min) <= 0, `@types/vscode ${types.join('.')} > engines ${min.join('.')}`);
  });

  test('language, grammar and tomlValidation files exist and parse', () => {
    const [language] = contributes.languages;
    assert.equal(language.id, 'prompt-toml');
    assert.ok(language.filenamePatterns.includes('*.prompt.toml'));
    const config = JSON.parse(readFileSync(join(root, language.configuration), 'utf8'));
    assert.equal(config.comments.lineComment, '#');
    const [grammar] = contributes.grammars;
    const tm = JSON.parse(readFileSync(join(root, grammar.path), 'utf8'));
    assert.equal(tm.scopeName, grammar.scopeName);
    const [validation] = contributes.tomlValidation;
    assert.equal(validation.fileMatch, '*.prompt.toml');
    assert.equal(validation.url, './schemas/prompt.schema.json');
  });

  test('the build copied the schema byte for byte from prompts-spec', () => {
    const bundled = join(root, 'schemas', 'prompt.schema.json');
    assert.ok(existsSync(bundled), 'run the build first (npm test does)');
    assert.equal(readFileSync(bundled, 'utf8'), readFileSync(join(root, '..', 'prompts-spec', 'prompt.schema.json'), 'utf8'));
  });

  test('the bundle exists and .vscodeignore keeps what the manifest needs', () => {
    assert.ok(existsSync(join(root, pkg.main)), pkg.main);
    const ignore = readFileSync(join(root, '.vscodeignore'), 'utf8');
    for (const keep of ['!dist/extension.js', '!schemas/prompt.schema.json', '!syntaxes/**', '!language-configuration.json', '!README.md', '!LICENSE']) {
      assert.ok(ignore.includes(keep), keep);
    }
  });
});
