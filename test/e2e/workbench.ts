// Steps through VS Code's workbench shared by the UI tests: the command palette, webview frames.
import type { Frame, Page } from 'playwright-core';

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

export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input[type="text"]');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
}

/** Opens a workspace file with Go to File, waits until its text shows, and puts the cursor at its end. */
export async function openFileAtEnd(page: Page, name: string, visibleText: string): Promise<void> {
  await runCommand(page, 'Go to File');
  await page.keyboard.type(name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
  const editor = page.locator('.editor-group-container .monaco-editor').first();
  await editor.locator('.view-line', { hasText: visibleText }).waitFor({ state: 'visible', timeout: 30_000 });
  await editor.locator('.view-lines').click();
  await page.keyboard.press('Control+End');
}
