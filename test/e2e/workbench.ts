/**
 * Steps in the VS Code workbench shared by the UI tests: run a command from the palette, find a
 * webview's frame, read the extension's "Pronto" log. Each waits for a real signal with a deadline.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';

/** Runs a command by its title from the command palette (F1). */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input[type="text"]');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(`>${title}`);
  // Click the command itself: Enter would run whichever row the palette ranks first.
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  await row.click();
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

/** Everything the extension wrote to its "Pronto" log (VS Code keeps it under the user-data dir). */
export function prontoLog(codeServerRoot: string): string {
  const logsDir = join(codeServerRoot, 'user-data', 'logs');
  if (!existsSync(logsDir)) return '';
  return readdirSync(logsDir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(join('pronto-dev.pronto', 'Pronto.log')))
    .map((f) => readFileSync(join(logsDir, f), 'utf8'))
    .join('\n');
}

/** Waits until the Pronto log has a line matching `re`: the extension's own record of what it did. */
export async function waitForProntoLog(codeServerRoot: string, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(prontoLog(codeServerRoot));
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no line matching ${re} in the Pronto log within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100)); // re-read the file; the signal is its content
  }
}
