// a. A broken prompt file shows the server's diagnostic as a squiggle and in the Problems panel.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { exampleWithoutModels, log, waitFor, withSession } from '../lib/harness.mjs';
import { checkDiagnostics } from '../lib/prompt-file.mjs';
import { openFile, openProblems } from '../lib/workbench.mjs';

const normalize = (text) => text.replace(/\s+/g, ' ').trim();

test('a broken file shows a squiggle and its Problems entry with the server message', { timeout: 240000 }, async () => {
  const broken = exampleWithoutModels().replace('type = "equals"', 'type = "equal"');
  assert.notEqual(broken, exampleWithoutModels(), 'the example changed: the broken variant no longer applies');
  await withSession('a-diagnostics', { fileName: 'broken.prompt.toml', fileText: broken }, async (s) => {
    const expected = checkDiagnostics(s.file);
    assert.equal(expected.length, 1, `expected one diagnostic from promptlsp check, got ${JSON.stringify(expected)}`);
    const [diagnostic] = expected;
    assert.equal(diagnostic.code, 'assertion-unknown');
    log(`expecting: ${diagnostic.message}`);

    await openFile(s.page, path.basename(s.file));
    await s.page.locator('.editor-instance .monaco-editor .squiggly-error').first().waitFor({ state: 'visible', timeout: 90000 });
    // the squiggle sits on the line of the diagnostic (lines are 0-based in the LSP range)
    const squiggleTop = await s.page.locator('.editor-instance .monaco-editor .squiggly-error').first().evaluate(
      (el) => el.getBoundingClientRect().top,
    );
    const lineTop = await s.page.evaluate((lineText) => {
      for (const line of document.querySelectorAll('.editor-instance .monaco-editor .view-lines .view-line')) {
        if (line.textContent.replace(/\u00a0/g, ' ').includes(lineText)) return line.getBoundingClientRect().top;
      }
      return null;
    }, 'type = "equal"');
    assert.ok(lineTop !== null && Math.abs(squiggleTop - lineTop) < 4, `squiggle at y=${squiggleTop}, the broken line at y=${lineTop}`);
    await s.screenshot('squiggle');

    const panel = await openProblems(s.page);
    await waitFor('the diagnostic in the Problems panel', async () =>
      normalize(await panel.innerText()).includes(normalize(diagnostic.message)),
    { timeout: 30000 });
    const text = normalize(await panel.innerText());
    assert.match(text, /assertion-unknown/, 'the Problems entry shows the diagnostic code');
    assert.match(text, /broken\.prompt\.toml/);
    // the entry leads to the squiggle: clicking it selects the diagnostic's range
    await panel.locator('.monaco-list-row', { hasText: 'assertion-unknown' }).first().click();
    const { start, end } = diagnostic.range;
    const where = `Ln ${start.line + 1}, Col ${end.character + 1} (${end.character - start.character} selected)`;
    await waitFor(`the selection ${where}`, async () =>
      (await s.page.locator('.part.statusbar').innerText()).includes(where), { timeout: 15000 });
    await s.page.locator('.editor-instance .monaco-editor .squiggly-error').first().waitFor({ state: 'visible' });
    await s.screenshot('problems');
  });
});
