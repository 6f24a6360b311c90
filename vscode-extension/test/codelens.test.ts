import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { findTemplateKey, keyParts } from '../src/core/codelens';

describe('findTemplateKey', () => {
  test('the template key of [prompt]', () => {
    const text = 'task = "x"\n\n[prompt]\nsystem = "s"\ntemplate = """\nHi {{ name }}"""\n';
    assert.deepEqual(findTemplateKey(text), { line: 4, start: 0, end: 8 });
  });
  test('indented, quoted keys and headers', () => {
    assert.deepEqual(findTemplateKey('[ "prompt" ]\n  "template" = "x"\n'), { line: 1, start: 2, end: 12 });
    assert.deepEqual(findTemplateKey("['prompt'] # the prompt\ntemplate='x'\n"), { line: 1, start: 0, end: 8 });
  });
  test('dotted keys at the top level', () => {
    assert.deepEqual(findTemplateKey('task = "x"\nprompt.template = "y"\n'), { line: 1, start: 0, end: 15 });
    assert.deepEqual(findTemplateKey('prompt . template = "y"\n'), { line: 0, start: 0, end: 17 });
  });
  test('an inline table', () => {
    assert.deepEqual(findTemplateKey('prompt = { system = "s", template = "t" }\n'), { line: 0, start: 25, end: 33 });
  });
  test('not a template of another table, nor text inside a multi-line string', () => {
    const text = [
      'task = """',
      '[prompt]',
      'template = "inside the task string"',
      '"""',
      '[models.task]',
      'template = "not this"',
      '[[examples]]',
      'vars = { template = "no" }',
      "notes = '''",
      '[prompt]',
      "template = 'still a string'",
      "'''",
      '[prompt]',
      'template = "this one"',
    ].join('\n');
    assert.deepEqual(findTemplateKey(text), { line: 13, start: 0, end: 8 });
  });
  test('escaped quotes in a multi-line basic string do not end it', () => {
    const text = 'task = """a \\""" b\n[prompt]\ntemplate = "no"\n"""\n[prompt]\ntemplate = "yes"\n';
    assert.deepEqual(findTemplateKey(text), { line: 5, start: 0, end: 8 });
  });
  test('a # inside a string is not a comment', () => {
    const text = 'task = "a # b \\"""\n[prompt]\ntemplate = "x"\n';
    assert.deepEqual(findTemplateKey(text), { line: 2, start: 0, end: 8 });
  });
  test('CRLF files and files without a template', () => {
    assert.deepEqual(findTemplateKey('[prompt]\r\ntemplate = "x"\r\n'), { line: 1, start: 0, end: 8 });
    assert.equal(findTemplateKey('[prompt]\nsystem = "x"\n'), undefined);
    assert.equal(findTemplateKey(''), undefined);
    assert.equal(findTemplateKey('[[prompt]]\ntemplate = "array of tables is not [prompt]"\n'), undefined);
  });
  test('key parts', () => {
    assert.deepEqual(keyParts('a . "b.c" . \'d\''), ['a', 'b.c', 'd']);
  });
  test('every example in prompts-spec/examples has a template lens', () => {
    const dir = join(__dirname, '..', '..', '..', 'prompts-spec', 'examples');
    const files = readdirSync(dir).filter((f) => f.endsWith('.prompt.toml'));
    assert.ok(files.length > 0);
    for (const file of files) {
      const text = readFileSync(join(dir, file), 'utf8');
      const key = findTemplateKey(text);
      assert.ok(key, `${file}: no template key found`);
      assert.match(text.split(/\r?\n/)[key.line].slice(key.start, key.end), /^template$/, file);
    }
  });
});
