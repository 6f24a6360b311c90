// c/d/e. "promptlsp: Optimize prompt" from the command palette against the scripted stub model:
// progress notification, the current ↔ proposed diff, then Accept (file rewritten: only the
// template changes), Reject (file untouched) or Cancel mid-run (file untouched, spinner stops).

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { FatalError, exampleWithoutModels, log, waitFor, withSession } from '../lib/harness.mjs';
import { goodTemplate, readBytes, runsOf, sameOutsideTemplate, templateOf } from '../lib/prompt-file.mjs';
import {
  clickToastButton, openFile, runCommand, statusState, tabLabels, toasts, visibleError, waitForToast,
} from '../lib/workbench.mjs';

// Every model call waits this long: a run takes ~10 s, so Cancel lands mid-run.
const LATENCY = 0.5;
const PROGRESS = /iteration|optimiz/i;
const DIFF_TITLE = /current ↔ proposed/;

async function startOptimization(s) {
  await openFile(s.page, path.basename(s.file));
  // the status bar item shows $(beaker) <model> once the server runs
  await waitFor('the promptlsp status bar item with the server running', async () => (await statusState(s.page)).ready, { timeout: 90000 });
  log(`status bar: ${JSON.stringify(await statusState(s.page))}`);
  await runCommand(s.page, 'promptlsp: Optimize prompt');
  const progress = await waitForToast(s.page, PROGRESS, 60000);
  log(`progress: ${(await progress.innerText()).replace(/\s+/g, ' ')}`);
  return progress;
}

async function waitForProposal(s) {
  const title = await waitFor('the current ↔ proposed diff editor', async () => {
    const found = (await tabLabels(s.page)).find((label) => DIFF_TITLE.test(label));
    if (found) return found;
    const error = await visibleError(s.page);
    if (error) throw new FatalError(`an error is shown instead: ${error}`);
    return null;
  }, { timeout: 120000 });
  log(`diff editor: ${title}`);
  assert.ok(title.includes(`${path.basename(s.file)}: current ↔ proposed`), title);
  assert.match(title, /\(score [^)]*→[^)]*\)/, 'the diff title carries the score before → after');
  await s.page.locator('.monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 30000 });
  // the proposal notification (non-modal) with its two buttons
  const toast = toasts(s.page).filter({ has: s.page.locator('.monaco-button', { hasText: /^\s*Accept\s*$/ }) }).first();
  await toast.waitFor({ state: 'visible', timeout: 60000 });
  await toast.locator('.monaco-button', { hasText: /^\s*Reject\s*$/ }).first().waitFor({ state: 'visible' });
  return title;
}

async function proposalToast(s) {
  return toasts(s.page).filter({ has: s.page.locator('.monaco-button', { hasText: /^\s*Accept\s*$/ }) }).first();
}

test('Optimize prompt, then Accept: only the template changes on disk', { timeout: 300000 }, async () => {
  await withSession('c-optimize-accept', { latency: LATENCY }, async (s) => {
    const before = readBytes(s.file);
    const good = goodTemplate();
    await startOptimization(s);
    await s.screenshot('progress');
    await waitForProposal(s);
    await s.screenshot('diff');
    assert.ok(readBytes(s.file).equals(before), 'nothing is written before Accept');

    await (await proposalToast(s)).locator('.monaco-button', { hasText: /^\s*Accept\s*$/ }).first().click();
    log('clicked Accept');
    await waitFor('the accepted prompt on disk', () => !readBytes(s.file).equals(before), { timeout: 30000 });
    const after = readBytes(s.file);
    assert.equal(templateOf(s.file), good, 'the template on disk is the stub model\'s improved one');
    assert.ok(sameOutsideTemplate(before, after), 'every byte outside the template string is unchanged');
    await waitForToast(s.page, /applied/i, 15000);
    await waitFor('no unsaved changes in the editor', async () =>
      (await s.page.locator('.tabs-container .tab.dirty').count()) === 0, { timeout: 15000 });
    await waitFor('the status bar stops spinning', async () => !(await statusState(s.page)).spinning, { timeout: 15000 });
    const runs = runsOf(s.workspace);
    log(`runs: ${JSON.stringify(runs)}`);
    assert.equal(runs[0]?.status, 'finished');
    await s.screenshot('accepted');
  });
});

test('Optimize prompt, then Reject: the file stays byte-identical', { timeout: 300000 }, async () => {
  await withSession('d-optimize-reject', { latency: LATENCY }, async (s) => {
    const before = readBytes(s.file);
    await startOptimization(s);
    await waitForProposal(s);
    await s.screenshot('diff');
    const toast = await proposalToast(s);
    await toast.locator('.monaco-button', { hasText: /^\s*Reject\s*$/ }).first().click();
    log('clicked Reject');
    await toast.waitFor({ state: 'hidden', timeout: 15000 });
    await waitForToast(s.page, /rejected|unchanged/i, 15000);
    await waitFor('the status bar stops spinning', async () => !(await statusState(s.page)).spinning, { timeout: 15000 });
    assert.ok(readBytes(s.file).equals(before), 'the file on disk is byte-identical after Reject');
    assert.equal(await s.page.locator('.tabs-container .tab.dirty').count(), 0, 'no unsaved edit was left in the editor');
    await s.screenshot('rejected');
    assert.ok(readBytes(s.file).equals(before), 'still byte-identical');
  });
});

test('Optimize prompt, then Cancel mid-run: file untouched, the spinner stops', { timeout: 300000 }, async () => {
  // slower calls: Cancel after iteration 1 lands with seconds of the run still to go
  // three iterations, so that after "iteration 1" most of the run is still to come
  const fileText = exampleWithoutModels().replace(/^iterations = \d+$/m, 'iterations = 3');
  assert.match(fileText, /^iterations = 3$/m);
  await withSession('e-optimize-cancel', { latency: 2 * LATENCY, fileText }, async (s) => {
    const before = readBytes(s.file);
    const progress = await startOptimization(s);
    await waitFor('the $(sync~spin) status bar item while running', async () => (await statusState(s.page)).running, { timeout: 30000 });
    // Mid-run: the first iteration is done (model calls made, more to come), the run goes on.
    await waitFor('an iteration reported in the progress notification', async () =>
      /iteration 1\b/i.test(await progress.innerText()), { timeout: 60000, interval: 100 });
    log(`progress: ${(await progress.innerText()).replace(/\s+/g, ' ')}; status: ${(await statusState(s.page)).text}`);
    await s.screenshot('running');
    await clickToastButton(s.page, PROGRESS, 'Cancel');
    const cancelledAt = Date.now();
    await waitFor('the status bar to stop spinning after Cancel', async () => !(await statusState(s.page)).spinning, { timeout: 5000, interval: 100 });
    log(`spinner stopped ${Date.now() - cancelledAt} ms after Cancel: ${JSON.stringify(await statusState(s.page))}`);
    await progress.waitFor({ state: 'hidden', timeout: 10000 });
    await waitForToast(s.page, /cancelled|canceled/i, 15000);
    await waitFor('the run recorded as cancelled', () => runsOf(s.workspace)[0]?.status === 'cancelled', { timeout: 15000 });
    await s.screenshot('cancelled');
    // An uncancelled run would propose within ~10 s: make sure nothing shows up meanwhile.
    const quietUntil = Date.now() + 12000;
    while (Date.now() < quietUntil) {
      assert.ok(!(await tabLabels(s.page)).some((label) => DIFF_TITLE.test(label)), 'no diff editor after Cancel');
      assert.equal(await (await proposalToast(s)).count(), 0, 'no Accept/Reject notification after Cancel');
      assert.ok(readBytes(s.file).equals(before), 'the file is untouched after Cancel');
      await s.page.waitForTimeout(500);
    }
    assert.ok(!(await statusState(s.page)).spinning);
  });
});
