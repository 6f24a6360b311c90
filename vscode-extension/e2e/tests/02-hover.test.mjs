// b. Hovering a key shows its JSON Schema description (prompts-spec/prompt.schema.json).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { log, REPO, waitFor, withSession } from '../lib/harness.mjs';
import { hoverText, openFile, visibleHoverText } from '../lib/workbench.mjs';

// markdown-free, whitespace-normalized text: the hover renders `code` and **bold** as HTML
const plain = (text) => text.replace(/[`*]/g, '').replace(/\s+/g, ' ').trim();

const schema = JSON.parse(fs.readFileSync(path.join(REPO, 'prompts-spec', 'prompt.schema.json'), 'utf8'));
const KEYS = [
  { key: 'template', line: 'template = """', description: schema.properties.prompt.properties.template.description },
  { key: 'criteria', line: '[[criteria]]', description: schema.properties.criteria.description },
];

test('hovering keys shows their JSON Schema descriptions', { timeout: 240000 }, async () => {
  await withSession('b-hover', {}, async (s) => {
    await openFile(s.page, path.basename(s.file));
    for (const { key, line, description } of KEYS) {
      assert.ok(description && description.length > 20, `the schema describes ${key}`);
      // The server may still be starting: hover again until the description shows.
      const shown = await waitFor(`the hover of ${key}`, async () => {
        await hoverText(s.page, line, key);
        const found = await waitFor('a hover', async () => plain(await visibleHoverText(s.page)), { timeout: 5000 }).catch(() => '');
        return found.includes(plain(description)) ? found : null;
      }, { timeout: 90000, interval: 500 });
      log(`hover of ${key}: ${shown}`);
      await s.screenshot(`hover-${key}`);
      await s.page.mouse.move(5, 400); // away, so the next hover is a fresh one
      await waitFor('the hover to close', async () => !(await visibleHoverText(s.page)), { timeout: 10000 });
    }
  });
});
