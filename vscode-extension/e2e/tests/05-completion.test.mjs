// g. Completion in the editor, from the server: typing `{{ ` in the template on a line of emoji
// and CJK text (VS Code closes it to `{{ }}`) pops up the examples' variables, accepting one
// inserts it inside the braces; on a new line of an
// `[[examples]]` table the popup offers the keys the table lacks, with the schema's documentation.
// The file saved at the end is the file typed, byte for byte, and `promptlsp check` finds nothing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { log, REPO, withSession } from '../lib/harness.mjs';
import {
  EDITOR_SETTINGS, goTo, lineNumber, normalize, openWithServer, save, showSuggestDetails, suggestRows,
  waitForLine, waitForSuggestions,
} from '../lib/editor.mjs';
import { checkDiagnostics, readBytes } from '../lib/prompt-file.mjs';

const schema = JSON.parse(fs.readFileSync(path.join(REPO, 'prompts-spec', 'prompt.schema.json'), 'utf8'));
const exampleKeys = schema.definitions.example.properties;

// The line the variable is typed on comes after a line of emoji and CJK text and has some
// itself: the server's edit ranges are in UTF-16 columns (😀 is two of them).
const TYPED_ON = '商品 😀 日本語:';
const LAMP_VARS = 'vars = { review = "Came in a brown box, as described.", product = "lamp" }';
const FILE = `version = 1
name = "reviews"
task = "Classify a product review (😀, 日本語 too) as positive, negative or neutral."

[prompt]
template = """
Here is a customer review 😀 — 日本語のレビューもあります:
{{ review }}

${TYPED_ON}
Answer with one word: positive, negative or neutral."""

[[criteria]]
name = "exact label"
type = "equals"

[[examples]]
id = "mug-handle"
vars = { review = "取っ手がすぐ取れた 😀", product = "mug" }
expected = "negative"
split = "train"

[[examples]]
id = "kettle-quiet"
vars = { review = "Boils fast and stays quiet.", product = "kettle" }
expected = "positive"
split = "validation"

[[examples]]
id = "lamp-box"
${LAMP_VARS}
`;

const labels = (rows) => rows.map((row) => row.label);

// VS Code's default bracket auto-closing: `{{ ` typed becomes `{{ }}` with the cursor inside
const SETTINGS = { ...EDITOR_SETTINGS, 'editor.autoClosingBrackets': 'languageDefined' };

test('completion: template variables inside {{ }} after emoji/CJK text, example keys with their docs', { timeout: 240000 }, async () => {
  await withSession('g-completion', { fileName: 'reviews.prompt.toml', fileText: FILE, settings: SETTINGS }, async (s) => {
    const before = readBytes(s.file);
    await openWithServer(s.page, path.basename(s.file));

    // 1. `{{ ` (trigger characters) at the end of the emoji/CJK line: the examples' variables
    const variableLine = lineNumber(FILE, TYPED_ON);
    await goTo(s.page, variableLine, 1);
    await s.page.keyboard.press('End');
    await s.page.keyboard.type(' {{ ');
    await waitForLine(s.page, variableLine, `${TYPED_ON} {{ }}`);
    const variables = await waitForSuggestions(s.page, 'the template variables in the suggest widget',
      (rows) => rows.some((row) => row.label === 'review'));
    log(`suggestions inside {{ }}: ${JSON.stringify(variables)}`);
    assert.deepEqual(labels(variables), ['product', 'review'], 'exactly the variables the examples define');
    assert.ok(variables.every((row) => row.icon === 'codicon-symbol-variable'), 'shown as variables (server items)');
    await s.screenshot('variables');
    await s.page.keyboard.type('pr');
    await waitForSuggestions(s.page, '"product" alone and focused after typing "pr"',
      (rows) => rows.length === 1 && rows[0].label === 'product' && rows[0].focused, { trigger: false });
    await s.page.keyboard.press('Enter');
    await s.page.keyboard.type(' ');
    await waitForLine(s.page, variableLine, `${TYPED_ON} {{ product }}`);
    assert.deepEqual(await suggestRows(s.page), [], 'the popup closed');
    await s.screenshot('variable-inserted');

    // 2. a new line in the last [[examples]] table: the keys it lacks, documented from the schema
    const keyLine = lineNumber(FILE, LAMP_VARS) + 1;
    await goTo(s.page, keyLine - 1, 1);
    await s.page.keyboard.press('End');
    await s.page.keyboard.press('Enter');
    const keys = await waitForSuggestions(s.page, 'the example keys in the suggest widget',
      (rows) => rows.some((row) => row.label === 'expected'));
    log(`suggestions in [[examples]]: ${JSON.stringify(keys)}`);
    const keyRows = keys.filter((row) => row.icon === 'codicon-symbol-property');
    assert.deepEqual(labels(keyRows).sort(), ['assert', 'expected', 'split'], 'the keys of an example not yet given');
    assert.ok(!labels(keys).includes('id') && !labels(keys).includes('vars'), 'not the keys already given');
    await s.page.keyboard.type('exp');
    await waitForSuggestions(s.page, '"expected" focused after typing "exp"',
      (rows) => rows[0]?.label === 'expected' && rows[0].focused, { trigger: false });
    const docs = await showSuggestDetails(s.page, normalize(exampleKeys.expected.description));
    log(`documentation of "expected": ${normalize(docs)}`);
    await s.screenshot('key-documentation');
    await s.page.keyboard.press('Enter');
    await s.page.keyboard.type(' = "neutral"');
    await waitForLine(s.page, keyLine, 'expected = "neutral"');

    // 3. saved: exactly the typed text, nothing else changed, and a valid prompt file
    const after = await save(s.page, s.file, before);
    const expected = FILE
      .replace(`\n${TYPED_ON}\n`, `\n${TYPED_ON} {{ product }}\n`)
      .replace(`\n${LAMP_VARS}\n`, `\n${LAMP_VARS}\nexpected = "neutral"\n`);
    assert.equal(after.toString('utf8'), expected, 'the file on disk is the original plus exactly what was typed');
    assert.deepEqual(checkDiagnostics(s.file), [], 'the completed file has no diagnostics');
    await s.screenshot('saved');
  });
});
