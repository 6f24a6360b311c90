// Small, selector-level helpers for driving the VS Code workbench in Chromium. Every helper
// waits on a DOM condition with a timeout; none relies on a fixed sleep.

import { FatalError, log, waitFor } from './harness.mjs';

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Open a workspace file from the Explorer and wait until its editor is active. */
export async function openFile(page, fileName) {
  const item = page.getByRole('treeitem', { name: new RegExp(escape(fileName)) }).first();
  await item.waitFor({ state: 'visible', timeout: 60000 });
  await item.click();
  await page.locator(`.tabs-container .tab.active[aria-label*="${fileName}"]`).waitFor({ timeout: 30000 });
  await page.locator('.editor-instance .monaco-editor .view-lines').first().waitFor({ timeout: 30000 });
  // the editor must have focus for keyboard commands to reach it
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click({ position: { x: 5, y: 5 } });
}

/** Run a command by its title from the command palette (F1). */
export async function runCommand(page, title) {
  await focusWorkbench(page);
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 15000 });
  await input.fill(`>${title}`);
  const row = page
    .locator('.quick-input-widget .quick-input-list .monaco-list-row')
    .filter({ hasText: new RegExp(`^\\s*${escape(title)}`) })
    .first();
  await waitFor(`"${title}" in the command palette`, async () => {
    const rows = await page.locator('.quick-input-widget .quick-input-list .monaco-list-row').allInnerTexts();
    return rows.some((text) => text.trim().startsWith(title));
  }, { timeout: 30000 });
  await row.click();
  await input.waitFor({ state: 'hidden', timeout: 15000 });
  log(`ran command "${title}"`);
}

async function focusWorkbench(page) {
  // Close a leftover quick input so F1 opens a fresh palette.
  if (await page.locator('.quick-input-widget .quick-input-box input').isVisible().catch(() => false)) {
    await page.keyboard.press('Escape');
  }
}

/** The visible notification toasts. */
export function toasts(page) {
  return page.locator('.notifications-toasts .notification-toast');
}

/**
 * Text of a visible error: a modal dialog (e.g. "Command ... resulted in an error") or an error
 * notification; '' when there is none. Used to fail fast instead of waiting for a timeout.
 */
export async function visibleError(page) {
  return page.evaluate(() => {
    const shown = (el) => el && el.offsetParent !== null;
    const texts = [];
    for (const dialog of document.querySelectorAll('.monaco-dialog-box')) {
      if (shown(dialog) && dialog.querySelector('.codicon-error, .codicon-warning')) texts.push(dialog.innerText);
    }
    for (const toast of document.querySelectorAll('.notifications-toasts .notification-toast')) {
      if (shown(toast) && toast.querySelector('.codicon-error')) texts.push(toast.innerText);
    }
    return texts.join('\n---\n').replace(/\s+/g, ' ').trim();
  });
}

/** Wait for a toast whose text matches `pattern` (failing at once on an error); returns its locator. */
export async function waitForToast(page, pattern, timeout = 30000) {
  const toast = toasts(page).filter({ hasText: pattern }).first();
  await waitFor(`a notification matching ${pattern}`, async () => {
    if (await toast.isVisible()) return true;
    const error = await visibleError(page);
    if (error) throw new FatalError(`an error is shown instead: ${error}`);
    return false;
  }, { timeout });
  return toast;
}

/** Click the button labelled `label` in the toast matching `pattern`. */
export async function clickToastButton(page, pattern, label, timeout = 30000) {
  const toast = await waitForToast(page, pattern, timeout);
  const button = toast.locator('.monaco-button', { hasText: new RegExp(`^\\s*${escape(label)}\\s*$`) }).first();
  await button.waitFor({ state: 'visible', timeout });
  await button.click();
  log(`clicked "${label}" on the notification ${pattern}`);
}

/** {text, spinning} of the extension's status bar item(s). */
export async function statusState(page) {
  return page.evaluate(() => {
    const items = [...document.querySelectorAll('.part.statusbar .statusbar-item')].filter(
      (el) => el.id.startsWith('promptlsp.') || /promptlsp/i.test(el.getAttribute('aria-label') || ''),
    );
    return {
      found: items.length,
      text: items.map((el) => el.innerText.trim()).join(' | '),
      label: items.map((el) => el.getAttribute('aria-label') || '').join(' | '),
      // $(sync~spin) while a run is in progress ($(loading~spin) while the server starts)
      spinning: items.some((el) => el.querySelector('.codicon-modifier-spin, [class*="~spin"], .codicon-loading')),
      running: items.some((el) => el.querySelector('.codicon-sync.codicon-modifier-spin, .codicon-sync[class*="spin"]')),
      // $(beaker) <model>: the server is up and idle
      ready: items.some((el) => el.querySelector('.codicon-beaker')),
    };
  });
}

/** Active editor tab labels (aria-label), all groups. */
export async function tabLabels(page) {
  return page.locator('.tabs-container .tab').evaluateAll((tabs) =>
    tabs.map((tab) => `${tab.getAttribute('aria-label') || ''} ${tab.innerText}`.trim()),
  );
}

/** Visible hover text, or '' when none is visible. */
export async function visibleHoverText(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.monaco-hover')]
      .filter((el) => el.offsetParent !== null && !el.classList.contains('hidden'))
      .map((el) => el.innerText)
      .join('\n'),
  );
}

/**
 * Move the mouse over `text` on the line of the active editor that starts with `lineStart`
 * (after trimming); positions are computed from the rendered line (monospace).
 */
export async function hoverText(page, lineStart, text) {
  const box = await waitFor(`an editor line starting with "${lineStart}"`, () =>
    page.evaluate(
      ({ lineStart, text }) => {
        const editor = document.querySelector('.editor-instance .monaco-editor');
        if (!editor) return null;
        for (const line of editor.querySelectorAll('.view-lines .view-line')) {
          const content = line.textContent.replace(/\u00a0/g, ' ');
          if (!content.trim().startsWith(lineStart)) continue;
          const index = content.indexOf(text);
          const span = line.querySelector('span');
          if (index < 0 || !span) continue;
          const rect = span.getBoundingClientRect();
          // width of one character from a measured range over the whole line text
          const range = document.createRange();
          range.selectNodeContents(span);
          const full = range.getBoundingClientRect();
          const charWidth = full.width / Math.max(1, span.textContent.length);
          return { x: full.left + charWidth * (index + text.length / 2), y: rect.top + rect.height / 2 };
        }
        return null;
      },
      { lineStart, text },
    ),
  );
  await page.mouse.move(box.x - 40, box.y + 30);
  await page.mouse.move(box.x, box.y, { steps: 5 });
  return box;
}

/** Text of the Problems panel (opening it with Ctrl+Shift+M when it is not visible). */
export async function openProblems(page) {
  const panel = page.locator('.markers-panel');
  if (!(await panel.isVisible().catch(() => false))) {
    await page.keyboard.press('Control+Shift+M');
  }
  await panel.waitFor({ state: 'visible', timeout: 15000 });
  return panel;
}
