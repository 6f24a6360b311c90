// f. "promptlsp: Evaluate prompt" shows the per-example results in the "Prompt Evaluation" view.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { log, waitFor, withSession } from '../lib/harness.mjs';
import { readBytes } from '../lib/prompt-file.mjs';
import { openFile, runCommand, statusState, waitForToast } from '../lib/workbench.mjs';

test('Evaluate prompt shows per-example results in the results view', { timeout: 300000 }, async () => {
  await withSession('f-evaluate', { latency: 0.2 }, async (s) => {
    const before = readBytes(s.file);
    const ids = [...s.fileText.matchAll(/^id = "([^"]+)"/gm)].map((m) => m[1]);
    assert.ok(ids.length >= 4, 'the example has example ids');
    await openFile(s.page, path.basename(s.file));
    await waitFor('the promptlsp status bar item with the server running', async () => (await statusState(s.page)).ready, { timeout: 90000 });
    await runCommand(s.page, 'promptlsp: Evaluate prompt');
    const progress = await waitForToast(s.page, /evaluat|critiqu/i, 60000);
    log(`progress: ${(await progress.innerText()).replace(/\s+/g, ' ')}`);
    await s.screenshot('progress');

    const pane = s.page.locator('.pane', { has: s.page.locator('.pane-header', { hasText: /Prompt Evaluation/i }) }).first();
    await pane.waitFor({ state: 'visible', timeout: 120000 });
    const headline = new RegExp(`score \\d\\.\\d{3}.*\\d+/${ids.length} passed`);
    await waitFor('the evaluation headline in the results view', async () => headline.test(await pane.innerText()), { timeout: 120000 });
    await progress.waitFor({ state: 'hidden', timeout: 30000 });
    // Collapse the file tree so that the results view has room for every example.
    const folders = s.page.locator('.pane-header[aria-label*="Explorer Section"]').first();
    if ((await folders.getAttribute('aria-expanded')) === 'true') await folders.click();
    const rowTexts = async () =>
      (await pane.locator('.monaco-list-row').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim()).filter(Boolean);
    const rows = await waitFor(`a row for each of the ${ids.length} examples`, async () => {
      const texts = await rowTexts();
      return ids.every((id) => texts.some((t) => t.startsWith(id))) ? texts : null;
    }, { timeout: 30000 });
    log(`results view: ${(await pane.innerText()).replace(/\s+/g, ' ')}`);
    assert.match(await pane.innerText(), new RegExp(`0/${ids.length} passed`), 'the weak prompt passes no example');
    for (const id of ids) {
      const row = rows.find((t) => t.startsWith(id));
      // the scripted model answers in prose to the weak prompt: the exact-label check fails
      assert.match(row, /score 0\.000 · failed/, `the row of ${id}: ${row}`);
    }
    // a row expands to the example's details: the model's output and the failing check's reason
    const first = pane.locator('.monaco-list-row', { hasText: ids[0] }).first();
    await first.click();
    await waitFor(`the details of ${ids[0]}`, async () => /Hard to say/.test((await rowTexts()).join('\n')), { timeout: 15000 });
    log(`expanded: ${JSON.stringify(await rowTexts())}`);
    await s.screenshot('results');
    assert.ok(readBytes(s.file).equals(before), 'evaluating does not change the file');
  });
});
