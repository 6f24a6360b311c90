// i. Rename (F2) of a template variable, from the server: on `{{ review }}` it renames the use in
// the template and every example's `vars` key in one edit; from an example's key it renames them
// all back. The saved file is checked byte for byte; a name the server refuses is refused with
// the server's reason and changes nothing.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { log, waitFor, withSession } from '../lib/harness.mjs';
import {
  columnOf, EDITOR_SETTINGS, editorHasFocus, goTo, lineNumber, openWithServer, renderedLine, save, waitForLine,
} from '../lib/editor.mjs';
import { readBytes } from '../lib/prompt-file.mjs';
import { toasts } from '../lib/workbench.mjs';

const USE = '{{ review }}';
const KEY = 'vars = { review = "';

/** F2 at the cursor: wait for the rename box and return its input (its value checked). */
async function openRename(page, current) {
  const input = page.locator('.monaco-editor .rename-box input');
  // F2 again if no box came (a key pressed while the server was still busy may be lost)
  let pressed = 0;
  await waitFor('the rename box', async () => {
    if (await input.isVisible()) return true;
    if (Date.now() - pressed > 5000 && (await editorHasFocus(page))) {
      if (pressed) log('no rename box 5 s after F2: pressing F2 again');
      pressed = Date.now();
      await page.keyboard.press('F2');
    }
    return false;
  }, { timeout: 45000 });
  // the server's prepareRename gives the range and the placeholder
  await waitFor(`the rename box to hold "${current}"`, async () => (await input.inputValue()) === current, { timeout: 15000 });
  return input;
}

test('rename a template variable with F2: the template use and every example key, byte-exact', { timeout: 240000 }, async () => {
  await withSession('i-rename', { settings: EDITOR_SETTINGS }, async (s) => {
    const original = readBytes(s.file);
    const text = s.fileText;
    const keys = text.split(KEY).length - 1;
    assert.ok(keys >= 10 && text.split(USE).length - 1 === 2, 'the example file: {{ review }} in the template and the constraint, a dozen vars keys');
    await openWithServer(s.page, path.basename(s.file));

    // F2 on the variable in the template (the first {{ review }}: the second is an [optimize] constraint)
    const useLine = lineNumber(text, USE);
    const useAt = columnOf(USE, 'review') + 2; // inside the name
    await goTo(s.page, useLine, useAt);

    // a name the server refuses: its reason is shown (a notification) and nothing changes
    let input = await openRename(s.page, 'review');
    await input.fill('2nd');
    await input.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 15000 });
    const reason = toasts(s.page).filter({ hasText: /'2nd' is not a valid template variable name/ }).first();
    await reason.waitFor({ state: 'visible', timeout: 30000 });
    log(`refused: ${(await reason.innerText()).replace(/\s+/g, ' ')}`);
    await s.screenshot('rename-refused');
    assert.equal(await s.page.locator('.tabs-container .tab.dirty').count(), 0, 'a refused rename edits nothing');
    assert.equal(await renderedLine(s.page, useLine), USE);
    assert.ok(readBytes(s.file).equals(original));

    await goTo(s.page, useLine, useAt);
    input = await openRename(s.page, 'review');
    await s.screenshot('rename-box');
    await input.fill('review_text');
    await input.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 15000 });
    await waitForLine(s.page, useLine, '{{ review_text }}');
    const renamed = await save(s.page, s.file, original);
    // expected: the template's use and every example's key, nothing else (the constraint's text stays)
    const [head, tail] = [text.slice(0, text.indexOf(USE)), text.slice(text.indexOf(USE) + USE.length)];
    const expected = `${head}{{ review_text }}${tail.replaceAll(KEY, 'vars = { review_text = "')}`;
    assert.equal(expected.split('vars = { review_text = "').length - 1, keys);
    assert.equal(renamed.toString('utf8'), expected, 'on disk: the template use and every vars key renamed, every other byte unchanged');
    await s.screenshot('renamed');

    // F2 on an example's key (the last example's) renames every key and the use back
    const keyLineText = expected.split('\n').filter((line) => line.startsWith('vars = { review_text = "')).at(-1);
    const keyLine = lineNumber(expected, keyLineText);
    await goTo(s.page, keyLine, columnOf(keyLineText, 'review_text') + 1);
    input = await openRename(s.page, 'review_text');
    await input.fill('review');
    await input.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 15000 });
    await waitForLine(s.page, keyLine, keyLineText.replace('review_text', 'review'));
    const back = await save(s.page, s.file, renamed);
    assert.ok(back.equals(original), 'renamed back from an example key: byte-identical to the original file');
    await s.screenshot('renamed-back');
  });
});
