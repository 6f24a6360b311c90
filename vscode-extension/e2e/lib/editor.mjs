// Helpers for the text editor itself: where the cursor is, moving it (Go to Line), the suggest
// widget and its details pane, saving. Like workbench.mjs, every helper waits on a DOM condition
// with a timeout; none relies on a fixed sleep.

import fs from 'node:fs';

import { log, waitFor } from './harness.mjs';
import { openFile, statusState } from './workbench.mjs';

/**
 * Settings that make typing deterministic and keep VS Code's own guesses out of what the tests
 * check: no auto-closed brackets/quotes (the typed text is exactly what lands in the file) and no
 * word-based suggestions (a suggestion can only come from the language server).
 */
export const EDITOR_SETTINGS = {
  'editor.autoClosingBrackets': 'never',
  'editor.autoClosingQuotes': 'never',
  'editor.autoSurround': 'never',
  'editor.autoIndent': 'none',
  'editor.wordBasedSuggestions': 'off',
  'editor.snippetSuggestions': 'inline',
  'editor.suggest.showStatusBar': false,
  'editor.suggest.preview': false,
  'editor.inlineSuggest.enabled': false,
  'editor.parameterHints.enabled': false,
  'editor.formatOnType': false,
  'editor.formatOnSave': false,
  'editor.renameOnType': false,
  'outline.collapseItems': 'alwaysExpand',
  'breadcrumbs.enabled': false,
};

/** Open `fileName` and wait until the extension's server is up (status bar item idle). */
export async function openWithServer(page, fileName) {
  await openFile(page, fileName);
  await waitFor('the promptlsp status bar item with the server running', async () => (await statusState(page)).ready, { timeout: 90000 });
}

/** {line, column} (1-based) of the cursor, from the status bar ("Ln 12, Col 5"), or null. */
export async function cursorPosition(page) {
  const text = await page.locator('.part.statusbar').innerText();
  const match = text.match(/Ln (\d+), Col (\d+)/);
  return match ? { line: Number(match[1]), column: Number(match[2]) } : null;
}

/** Wait until the cursor is at (line, column), 1-based; returns it. */
export async function waitForCursor(page, line, column, timeout = 15000) {
  return waitFor(`the cursor at Ln ${line}, Col ${column}`, async () => {
    const at = await cursorPosition(page);
    return at && at.line === line && at.column === column ? at : null;
  }, { timeout });
}

/** Ctrl+G ("Go to Line/Column"): put the cursor at (line, column), 1-based, and wait for it there. */
export async function goTo(page, line, column = 1) {
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 15000 });
  await input.fill(`:${line}:${column}`);
  // the quick pick previews the position as it is typed; Enter accepts it and closes the widget
  await waitFor(`the Go to Line row for ${line}:${column}`, async () =>
    /line\s+\d+/i.test(await page.locator('.quick-input-widget').innerText()), { timeout: 15000 });
  await input.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 15000 });
  await waitForCursor(page, line, column);
  await waitForEditorFocus(page);
}

/** Whether the keyboard focus is in the active text editor (keys reach it). */
export async function editorHasFocus(page) {
  return page.evaluate(() => Boolean(document.activeElement?.closest('.editor-instance .monaco-editor')));
}

/** Wait until the keyboard focus is back in the text editor (a closing quick input returns it later). */
export async function waitForEditorFocus(page, timeout = 15000) {
  await waitFor('the keyboard focus in the editor', () => editorHasFocus(page), { timeout, interval: 100 });
}

/** 1-based line number of the first line of `text` (split at \n) for which `test(line)` holds. */
export function lineNumber(text, test) {
  const index = text.split('\n').findIndex((line) => (typeof test === 'string' ? line === test : test(line)));
  if (index < 0) throw new Error(`no line matching ${test} in the file`);
  return index + 1;
}

/**
 * 1-based column just before `needle` on `line` (or after it with `after`), as Go to Line and the
 * status bar count it. Only for an ASCII prefix: the status bar counts 😀 as one column.
 */
export function columnOf(line, needle, { after = false } = {}) {
  const index = line.indexOf(needle);
  if (index < 0) throw new Error(`${JSON.stringify(needle)} is not on the line ${JSON.stringify(line)}`);
  const end = index + (after ? needle.length : 0);
  if (!/^[\x00-\x7f]*$/.test(line.slice(0, end))) throw new Error(`columnOf: not ASCII before ${end} on ${JSON.stringify(line)}`);
  return end + 1;
}

const SUGGEST = '.editor-instance .monaco-editor .suggest-widget';

/** The suggest widget's rows: [{label, detail, focused, icon}] in display order ([] when it is hidden). */
export async function suggestRows(page) {
  return page.evaluate((selector) => {
    const widget = document.querySelector(selector);
    if (!widget || !widget.classList.contains('visible')) return [];
    return [...widget.querySelectorAll('.monaco-list-row')]
      .sort((a, b) => Number(a.getAttribute('data-index')) - Number(b.getAttribute('data-index')))
      .map((row) => ({
        label: (row.querySelector('.label-name') || row.querySelector('.monaco-icon-label'))?.textContent.trim() ?? '',
        detail: row.querySelector('.details-label')?.textContent.trim() ?? '',
        focused: row.classList.contains('focused'),
        icon: [...(row.querySelector('.suggest-icon')?.classList ?? [])].find((c) => c.startsWith('codicon-symbol-')) ?? '',
      }));
  }, SUGGEST);
}

/**
 * Wait for the suggest widget to show rows satisfying `accept(rows)` (returns the rows). The
 * widget opens by itself on the server's trigger characters; while it is not open (the server
 * was still reading the file when it was asked) Ctrl+Space asks again.
 */
export async function waitForSuggestions(page, what, accept, { timeout = 60000, trigger = true } = {}) {
  let lastAsked = 0;
  return waitFor(what, async () => {
    const rows = await suggestRows(page);
    if (rows.length && accept(rows)) return rows;
    if (trigger && !rows.length && Date.now() - lastAsked > 3000) {
      lastAsked = Date.now();
      await page.keyboard.press('Control+Space');
    }
    return null;
  }, { timeout, interval: 250 });
}

/** Text of the suggest widget's details pane (the focused item's documentation), '' when hidden. */
export async function suggestDetails(page) {
  return page.evaluate(() => {
    const pane = document.querySelector('.editor-instance .monaco-editor .suggest-details');
    return pane && pane.offsetParent !== null ? pane.innerText : '';
  });
}

/** Show the focused suggestion's documentation (Ctrl+Space toggles it while the list is open). */
export async function showSuggestDetails(page, expected, timeout = 15000) {
  let toggled = 0;
  return waitFor(`the suggestion's documentation containing ${JSON.stringify(expected)}`, async () => {
    const text = await suggestDetails(page);
    if (normalize(text).includes(normalize(expected))) return text;
    if (!text && Date.now() - toggled > 2000) {
      toggled = Date.now();
      await page.keyboard.press('Control+Space');
    }
    return null;
  }, { timeout, interval: 250 });
}

/** Whitespace-normalized, markdown-free text (rendered markdown drops ` and *). */
export const normalize = (text) => text.replace(/[`*]/g, '').replace(/\s+/g, ' ').trim();

/** The rendered text of the editor line `number` (1-based) while it is on screen, else null. */
export async function renderedLine(page, number) {
  return page.evaluate((number) => {
    const editor = document.querySelector('.editor-instance .monaco-editor');
    const numbers = [...(editor?.querySelectorAll('.margin-view-overlays .line-numbers') ?? [])];
    const gutter = numbers.find((el) => el.textContent.trim() === String(number));
    if (!gutter) return null;
    const top = gutter.parentElement.style.top;
    const line = [...editor.querySelectorAll('.view-lines .view-line')].find((el) => el.style.top === top);
    return line ? line.textContent.replace(/\u00a0/g, ' ') : null;
  }, number);
}

/** Wait until editor line `number` reads exactly `text`. */
export async function waitForLine(page, number, text, timeout = 15000) {
  let seen;
  try {
    return await waitFor(`line ${number} to read ${JSON.stringify(text)}`, async () => {
      seen = await renderedLine(page, number);
      return seen === text;
    }, { timeout });
  } catch (error) {
    throw new Error(`${error.message} (it reads ${JSON.stringify(seen)})`);
  }
}

/** Ctrl+S, then wait for the file on disk to change from `before` and no editor tab to be dirty. */
export async function save(page, file, before) {
  await page.keyboard.press('Control+S');
  await waitFor('the saved file on disk', () => !fs.readFileSync(file).equals(before), { timeout: 30000 });
  await waitFor('no unsaved editor', async () => (await page.locator('.tabs-container .tab.dirty').count()) === 0, { timeout: 15000 });
  log(`saved ${file}`);
  return fs.readFileSync(file);
}
