/**
 * Steps in the VS Code workbench shared by the UI tests: run a command from the palette, open a file,
 * find a webview's frame, read the extension's "Pronto" log, wait for the status item or a
 * notification. Each waits for a real signal with a deadline. (Starting code-server and the browser
 * is harness.ts's job.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { extensionId } from './harness';

/**
 * Runs a command by its title from the command palette (F1). The palette closes when something else
 * takes the focus while we type (the first-run walkthrough opening at activation does): then the
 * steps are taken again, a few times, before giving up.
 */
export async function runCommand(page: Page, title: string): Promise<void> {
  const input = page.locator('.quick-input-widget input[type="text"]');
  // Click the command itself: Enter would run whichever row the palette ranks first.
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      await input.fill(`>${title}`, { timeout: 10_000 });
      await row.waitFor({ state: 'visible', timeout: 15_000 });
      await row.click({ timeout: 10_000 });
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
      await page.keyboard.press('Escape');
    }
  }
}

/** Opens a workspace file with Go to File and waits for a line of it to show. */
export async function openFile(page: Page, name: string, lineText: string): Promise<void> {
  await runCommand(page, 'Go to File');
  await page.keyboard.type(name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
  await page
    .locator('.editor-group-container .monaco-editor .view-line', { hasText: lineText })
    .first()
    .waitFor({ state: 'visible', timeout: 30_000 });
}

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

/** The lines of the extension's "Pronto" log file (written by VS Code under the user-data dir). */
export function prontoLogLines(codeServerRoot: string): string[] {
  const logsDir = join(codeServerRoot, 'user-data', 'logs');
  if (!existsSync(logsDir)) return [];
  return readdirSync(logsDir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(join(`${extensionId.id}`, 'Pronto.log')))
    .flatMap((f) => readFileSync(join(logsDir, f), 'utf8').split('\n'));
}

/**
 * Waits until the Pronto log has a line matching `re` after its first `skip` lines (count them with
 * prontoLogLines before an action to wait for what the action caused): the extension's own record.
 * Returns the match (its groups; `input` is the whole line).
 */
export async function waitForProntoLog(codeServerRoot: string, re: RegExp, timeoutMs: number, skip = 0): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of prontoLogLines(codeServerRoot).slice(skip)) {
      const m = re.exec(line);
      if (m) return m;
    }
    if (Date.now() > deadline) throw new Error(`no line matching ${re} in the Pronto log within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100)); // re-read the file; the signal is its content
  }
}

/** The Pronto status bar item's label. */
export function statusItem(page: Page) {
  return page.locator('.statusbar-item-label[aria-label^="Pronto"]').first();
}

/** Resolves with the Pronto status item's aria label once it matches `re`. */
export async function waitForStatus(page: Page, re: RegExp, timeoutMs: number): Promise<string> {
  const handle = await page.waitForFunction(
    (source) => {
      const label = [...document.querySelectorAll('.statusbar-item-label')]
        .map((e) => e.getAttribute('aria-label') ?? '')
        .find((l) => l.startsWith('Pronto'));
      return label !== undefined && new RegExp(source).test(label) ? label : false;
    },
    re.source,
    { timeout: timeoutMs },
  );
  return (await handle.jsonValue()) as string;
}

/** A notification toast whose message matches `text`, and its buttons' titles. */
export async function waitForNotification(page: Page, text: RegExp, timeoutMs: number): Promise<{ message: string; buttons: string[] }> {
  const toast = page.locator('.notification-toast', { hasText: text }).first();
  await toast.waitFor({ state: 'visible', timeout: timeoutMs });
  const message = (await toast.locator('.notification-list-item-message').first().textContent()) ?? '';
  const buttons = (await toast.locator('.notification-list-item-buttons-container .monaco-button').allTextContents()).map((b) => b.trim());
  return { message: message.replace(/\u00a0/g, ' '), buttons };
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
