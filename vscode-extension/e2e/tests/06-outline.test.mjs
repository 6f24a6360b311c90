// h. The outline, from the server's document symbols: the Outline view shows the prompt, the
// criteria by name and the examples by id grouped by split, and picking an entry moves the
// cursor to it; "Go to Symbol in Editor" (Ctrl+Shift+O) finds a criterion by its name.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { log, waitFor, withSession } from '../lib/harness.mjs';
import { columnOf, EDITOR_SETTINGS, lineNumber, openWithServer, waitForCursor } from '../lib/editor.mjs';

/** The outline expected of a prompt file's text: [level, name] rows in order, read from the text. */
function expectedOutline(text) {
  const criteria = [...text.matchAll(/^\[\[criteria\]\]\nname = "([^"]+)"/gm)].map((m) => m[1]);
  const examples = text.split(/^\[\[examples\]\]\n/m).slice(1).map((block) => ({
    id: block.match(/^id = "([^"]+)"/m)[1],
    split: block.match(/^split = "([^"]+)"/m)[1],
  }));
  const splits = [...new Set(examples.map((e) => e.split))];
  assert.deepEqual(splits, ['train', 'validation'], 'the example file has train then validation examples');
  return [
    [1, 'prompt'], [2, 'template'],
    [1, 'criteria'], ...criteria.map((name) => [2, name]),
    [1, 'examples'],
    ...splits.flatMap((split) => [[2, split], ...examples.filter((e) => e.split === split).map((e) => [3, e.id])]),
  ];
}

/** The Outline view's rows as [level, name] (the tree is virtualized: only the rendered rows). */
async function outlineRows(pane) {
  return pane.locator('.monaco-list-row').evaluateAll((rows) => rows
    .sort((a, b) => Number(a.getAttribute('data-index')) - Number(b.getAttribute('data-index')))
    .map((row) => [Number(row.getAttribute('aria-level')), row.querySelector('.label-name')?.textContent.trim() ?? '']));
}

test('outline: prompt, criteria by name, examples by id grouped by split; picking one moves the cursor', { timeout: 240000 }, async () => {
  await withSession('h-outline', { settings: EDITOR_SETTINGS }, async (s) => {
    const expected = expectedOutline(s.fileText);
    assert.ok(expected.length > 15, 'the sentiment example has a dozen examples');
    await openWithServer(s.page, path.basename(s.file));

    // Collapse the file tree and open the Outline section of the Explorer: room for every row.
    const folders = s.page.locator('.pane-header[aria-label*="Explorer Section"]').first();
    if ((await folders.getAttribute('aria-expanded')) === 'true') await folders.click();
    const header = s.page.locator('.pane-header', { hasText: /^\s*Outline/ }).first();
    await header.waitFor({ state: 'visible', timeout: 30000 });
    if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
    const pane = s.page.locator('.pane', { has: header }).first();
    const rows = await waitFor('the whole outline in the Outline view', async () => {
      const found = await outlineRows(pane);
      return JSON.stringify(found) === JSON.stringify(expected) ? found : null;
    }, { timeout: 60000 }).catch(async (error) => {
      throw new Error(`${error.message}\n  shown:    ${JSON.stringify(await outlineRows(pane))}\n  expected: ${JSON.stringify(expected)}`);
    });
    log(`outline: ${JSON.stringify(rows)}`);
    // each split's row counts its examples
    for (const split of ['train', 'validation']) {
      const count = (s.fileText.match(new RegExp(`^split = "${split}"$`, 'gm')) ?? []).length;
      const row = pane.locator('.monaco-list-row', { has: s.page.locator('.label-name', { hasText: new RegExp(`^${split}$`) }) }).first();
      assert.equal((await row.locator('.label-description').innerText()).trim(), `${count} examples`, `the ${split} row`);
    }
    await s.screenshot('outline-view');

    // Picking an example (a validation one, far down the file) moves the cursor to its id.
    const target = expected.filter(([level]) => level === 3).at(-2)[1];
    const idLine = `id = "${target}"`;
    await pane.locator('.monaco-list-row', { has: s.page.locator('.label-name', { hasText: new RegExp(`^${target}$`) }) }).first().click();
    await waitForCursor(s.page, lineNumber(s.fileText, idLine), columnOf(idLine, target));
    log(`picked ${target}: cursor on its id`);
    await s.screenshot('outline-picked');

    // Ctrl+Shift+O (Go to Symbol in Editor): a criterion found by name, Enter moves the cursor there.
    const criterion = expected.find(([level], i) => level === 2 && expected[i - 1]?.[1] === 'criteria')[1];
    await s.page.keyboard.press('Control+Shift+O');
    const input = s.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 15000 });
    await input.fill(`@${criterion}`);
    const symbolRows = s.page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    await waitFor(`"${criterion}" alone in Go to Symbol`, async () => {
      const texts = (await symbolRows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
      return texts.length === 1 && texts[0].startsWith(criterion);
    }, { timeout: 30000 });
    await s.screenshot('go-to-symbol');
    await input.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 15000 });
    const nameLine = `name = "${criterion}"`;
    await waitForCursor(s.page, lineNumber(s.fileText, nameLine), columnOf(nameLine, criterion));
    await s.screenshot('go-to-symbol-picked');
  });
});
