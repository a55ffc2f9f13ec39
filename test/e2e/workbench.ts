/**
 * Helpers for UI tests driving VS Code's webviews, Settings editor and theme picker in the browser
 * (ui.test.ts, monitor.test.ts; the workbench basics are in harness.ts). Every wait is for a real
 * signal with a deadline.
 */
import { readFileSync } from 'node:fs';
import type { Frame, Page } from 'playwright-core';
import { runCommand } from './harness';

/**
 * The frame holding a webview's page: VS Code puts it in an iframe inside the webview host's
 * iframe, so it is found among page.frames() by an element of its own.
 */
export async function webviewFrame(page: Page, selector: string, timeoutMs: number): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      if (await frame.$(selector).catch(() => null)) return frame;
    }
    if (Date.now() > deadline) throw new Error(`no frame with ${selector} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100)); // look again: the frames load one after the other
  }
}

/**
 * Sets a number setting the way a user does: Settings editor, search for the key, type the value
 * (VS Code writes settings.json itself). Leaves the Settings editor open.
 */
export async function setNumberSetting(page: Page, key: string, value: number, settingsFile: string): Promise<void> {
  await runCommand(page, 'Preferences: Open User Settings');
  const editor = page.locator('.settings-editor');
  await editor.waitFor({ state: 'visible', timeout: 15_000 });
  // The search box has the focus when the Settings editor opens.
  await editor.locator('.suggest-input-container.synthetic-focus').waitFor({ state: 'attached', timeout: 10_000 });
  await page.keyboard.type(key);
  const input = editor.locator(`[data-key="${key}"] input`).first();
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(String(value));
  await input.press('Tab');
  // VS Code wrote it: the signal is the file's content.
  const deadline = Date.now() + 15_000;
  const written = () => {
    try {
      return (JSON.parse(readFileSync(settingsFile, 'utf8')) as Record<string, unknown>)[key] === value;
    } catch {
      return false; // being written
    }
  };
  while (!written()) {
    if (Date.now() > deadline) throw new Error(`${key} = ${value} did not reach ${settingsFile} within 15 s`);
    await new Promise((r) => setTimeout(r, 100)); // read the file again
  }
  // VS Code 1.139 shows the Settings editor as a modal over the workbench; a click on the backdrop
  // outside it closes it.
  await page.locator('.monaco-modal-editor-block').click({ position: { x: 3, y: 3 } });
  await page.locator('.monaco-modal-editor-block').waitFor({ state: 'detached', timeout: 10_000 });
}

/** Picks a colour theme through "Preferences: Color Theme", as a user would. */
export async function pickColorTheme(page: Page, name: string): Promise<void> {
  await runCommand(page, 'Preferences: Color Theme');
  const input = page.locator('.quick-input-widget input[type="text"]');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(name);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  await row.click();
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
}
