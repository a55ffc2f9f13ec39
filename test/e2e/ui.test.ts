/**
 * UI tests through the browser: the built extension, packed as a .vsix and installed with
 * `code-server --install-extension` into real VS Code (code-server),
 * driven by Debian's Chromium. Checks what a user sees: the status bar item with the engine
 * state, the "Pronto" output channel logging, and ghost text from the real engine accepted
 * with Tab, and the "Pronto: Statistics" webview showing the figures of those completions.
 * Screenshots land in test-output/e2e/ui/screenshots/.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { baseSettings, realEngineAndModel, sampleFiles, type RealEngine } from './fixtures';
import { readEngineInfo } from '../support/lsp';
import { launchBrowser, outputRoot, screenshot, startCodeServer, workbenchUrl, type BrowserSession, type CodeServer } from './harness';
import { runCommand, statusItem, waitForProntoLog as waitForLog, webviewFrame } from './workbench';

const NAME = 'ui';
const shots = join(outputRoot, NAME, 'screenshots');
let server: CodeServer | undefined;
let session: BrowserSession | undefined;
let real: RealEngine | undefined;
let realProblem: Error | undefined;
const waitForProntoLog = (re: RegExp, timeoutMs: number) => waitForLog(server!.root, re, timeoutMs);
/** The server describes the engine it starts here (tests only): the engine's /metrics need its key. */
const engineInfoFile = join(mkdtempSync(join(tmpdir(), 'pronto-e2e-engine-')), 'engine.json');
process.env.PRONTO_ENGINE_INFO_FILE = engineInfoFile;

/** Editor text uses non-breaking spaces in the DOM. */
const normalise = (s: string | null) => (s ?? '').replace(/\u00a0/g, ' ');

before(async () => {
  try {
    real = await realEngineAndModel();
  } catch (err) {
    // The status bar and output channel checks run without an engine; the ghost-text test fails
    // with this message.
    realProblem = err as Error;
  }
  server = await startCodeServer({ name: NAME, settings: baseSettings(real), files: sampleFiles, installExtension: 'vsix' });
  session = await launchBrowser(shots);
  // Debug level: the log then records accepts (the "accepted (full)" line the tests wait for).
  await session.page.goto(workbenchUrl(server, { extensionLogLevel: 'debug' }));
  await session.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
});

after(async () => {
  if (session) await screenshot(session.page, shots, 'last');
  await session?.close();
  await server?.stop();
});

/**
 * The editor's visible lines as document text: ghost text is rendered inside the line's DOM, so
 * its elements are removed from a clone before reading.
 */
async function documentLines(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('.editor-group-container .monaco-editor .view-line')].map((line) => {
      const clone = line.cloneNode(true) as HTMLElement;
      for (const g of clone.querySelectorAll('[class*="ghost-text"]')) g.remove();
      return (clone.textContent ?? '').replace(/\u00a0/g, ' ');
    }),
  );
}

/** Waits until a document line starts with `prefix` and is longer than it; returns that line. */
async function waitForLineGrowth(page: Page, prefix: string, timeoutMs: number): Promise<string> {
  const handle = await page.waitForFunction(
    ([want]) => {
      for (const line of document.querySelectorAll('.editor-group-container .monaco-editor .view-line')) {
        const clone = line.cloneNode(true) as HTMLElement;
        for (const g of clone.querySelectorAll('[class*="ghost-text"]')) g.remove();
        const text = (clone.textContent ?? '').replace(/\u00a0/g, ' ');
        if (text.startsWith(want!) && text.length > want!.length) return text;
      }
      return false;
    },
    [prefix],
    { timeout: timeoutMs },
  );
  return (await handle.jsonValue()) as string;
}

test('the status bar shows Pronto with the engine state', { timeout: 120_000 }, async () => {
  const page = session!.page;
  const item = statusItem(page);
  // Activation on onStartupFinished comes 7-10 s after the workbench; the server then pushes state.
  await item.waitFor({ state: 'visible', timeout: 60_000 });
  const settled = real ? /^Pronto: (ready|busy)\b/ : /^Pronto: (ready|busy|degraded|error|stopped)\b/;
  await page.waitForFunction(
    (re) => [...document.querySelectorAll('.statusbar-item-label')].some((e) => new RegExp(re).test(e.getAttribute('aria-label') ?? '')),
    settled.source,
    { timeout: 90_000 },
  );
  const label = await item.getAttribute('aria-label');
  await screenshot(page, shots, 'status-bar');
  assert.match(label ?? '', settled);
  assert.match(normalise(await item.textContent()), /Pronto/);
});

test('clicking the status bar item opens the Pronto menu', { timeout: 30_000 }, async () => {
  const page = session!.page;
  await statusItem(page).click();
  const menu = page.locator('.quick-input-widget');
  for (const entry of ['Choose a model', 'Disable completions', 'Restart engine', 'Show logs', 'Show statistics']) {
    await menu.locator('.monaco-list-row', { hasText: entry }).first().waitFor({ state: 'visible', timeout: 10_000 });
  }
  // The first entry, pre-selected (a stray Enter opens a picker, it does not switch anything off).
  assert.match(((await menu.locator('.monaco-list-row').first().textContent()) ?? '').trim(), /^Choose a model…/);
  assert.match(((await menu.locator('.monaco-list-row.focused').first().textContent()) ?? '').trim(), /^Choose a model…/);
  await screenshot(page, shots, 'menu');
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'hidden', timeout: 5_000 });
});

test('"Pronto: Show Logs" opens the Pronto output channel, which logs activation', { timeout: 60_000 }, async () => {
  const page = session!.page;
  await runCommand(page, 'Pronto: Show Logs');
  const panelLines = page.locator('.part.panel .monaco-editor .view-lines');
  await panelLines.locator('.view-line', { hasText: '[info]' }).first().waitFor({ state: 'visible', timeout: 30_000 });
  // The channel follows its tail; go to the top to see the activation line. show() moved the
  // focus into the output view, so the keys go there.
  await page.keyboard.press('Control+Home');
  // Read in one step: the view may scroll again when new lines arrive.
  const handle = await page.waitForFunction(
    () => {
      const text = [...document.querySelectorAll('.part.panel .monaco-editor .view-line')]
        .map((e) => (e.textContent ?? '').replace(/\u00a0/g, ' '))
        .join('\n');
      return text.includes('activating') ? text : false;
    },
    undefined,
    { timeout: 10_000 },
  );
  const text = (await handle.jsonValue()) as string;
  await screenshot(page, shots, 'output-channel');
  assert.match(text, /Pronto \d+\.\d+\.\d+ activating/);
  assert.match(text, /language server/);
  await page.keyboard.press('Control+j'); // hide the panel again
});

test('typing shows ghost text from the real engine and Tab accepts it', { timeout: 120_000 }, async () => {
  if (realProblem) throw realProblem;
  const page = session!.page;
  await runCommand(page, 'Go to File');
  await page.keyboard.type('math.js');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'math.js' }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
  const editor = page.locator('.editor-group-container .monaco-editor').first();
  await editor.locator('.view-line', { hasText: 'multiply' }).waitFor({ state: 'visible', timeout: 30_000 });
  await editor.locator('.view-lines').click();
  await page.keyboard.press('Control+End');
  const typed = 'function subtract(a, b) {';
  await page.keyboard.type(typed, { delay: 20 });
  const ghost = editor.locator('[class*="ghost-text-decoration"]').first();
  await ghost.waitFor({ state: 'visible', timeout: 60_000 });
  const suggestion = normalise(await ghost.textContent());
  await screenshot(page, shots, 'ghost-text');
  assert.ok(suggestion.length > 0, 'the ghost text is not empty');
  await page.keyboard.press('Tab');
  // The accepted text now sits in the document right after what was typed.
  const line = await waitForLineGrowth(page, typed, 10_000);
  await screenshot(page, shots, 'accepted');
  assert.equal(line.slice(typed.length, typed.length + suggestion.length), suggestion);
  assert.ok((await documentLines(page)).some((l) => l.startsWith(typed + suggestion)));
  // The item's command reported the accept to the extension (and from there to the server).
  await waitForProntoLog(/accepted \(full\)/, 10_000);
});

/** On a new line after the cursor's, types `typed` and waits for ghost text; returns it. */
async function typeNewLineUntilGhostText(page: Page, typed: string) {
  const editor = page.locator('.editor-group-container .monaco-editor').first();
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await page.keyboard.type(typed, { delay: 20 });
  const ghost = editor.locator('[class*="ghost-text-decoration"]').first();
  await ghost.waitFor({ state: 'visible', timeout: 60_000 });
  const suggestion = normalise(await ghost.textContent());
  assert.ok(suggestion.length > 0, 'the ghost text is not empty');
  return { ghost, suggestion };
}

test('Ctrl+Right accepts only the next word of the suggestion (pronto.acceptWord)', { timeout: 90_000 }, async () => {
  if (realProblem) throw realProblem;
  const page = session!.page;
  const typed = 'function divide(a, b) {';
  const { suggestion } = await typeNewLineUntilGhostText(page, typed);
  await page.keyboard.press('Control+ArrowRight');
  // Wait for the document to change, then compare: a non-empty prefix of the suggestion went in.
  const line = await waitForLineGrowth(page, typed, 10_000);
  await screenshot(page, shots, 'accepted-word');
  // It went through Pronto's command, which reports partial accepts to the server.
  await waitForProntoLog(/accepted \(word\)/, 10_000);
  const inserted = line.slice(typed.length);
  assert.ok(
    suggestion.startsWith(inserted),
    `inserted ${JSON.stringify(inserted)} is a prefix of the suggestion ${JSON.stringify(suggestion)}`,
  );
  // One word: at most one run of word characters (plus the separators around it).
  assert.ok((inserted.match(/[\p{L}\p{N}_]+/gu) ?? []).length <= 1, `more than one word inserted: ${JSON.stringify(inserted)}`);
});

/** The engine the server started, as the server describes it for tests ($PRONTO_ENGINE_INFO_FILE). */
function engineNow(): { url: string; apiKey: string } {
  return readEngineInfo(engineInfoFile);
}

/** The engine's own count of finished requests (/metrics, with the key the server gave it). */
async function engineRequests(engine: { url: string; apiKey: string }): Promise<number> {
  const text = await (await fetch(`${engine.url}/metrics`, { headers: { Authorization: `Bearer ${engine.apiKey}` } })).text();
  const m = /^pronto_requests_total (\S+)$/m.exec(text);
  assert.ok(m, `pronto_requests_total in /metrics: ${text.slice(0, 200)}`);
  return Number(m[1]);
}

/** Waits until the engine decodes nothing (bounded: a guard against hangs). */
async function engineIdle(engine: { url: string }): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const h = (await (await fetch(`${engine.url}/health`)).json()) as { busy_sequences?: number };
    if (h.busy_sequences === 0) return;
    if (Date.now() > deadline) throw new Error('the engine stayed busy for 60 s');
    await new Promise((r) => setTimeout(r, 50)); // ask again: the signal is the engine's own gauge
  }
}

test('after Tab, the next ghost text appears without a new engine request (answered from the prefetch)', { timeout: 120_000 }, async () => {
  if (realProblem) throw realProblem;
  const page = session!.page;
  const typed = 'function modulo(a, b) {';
  const { ghost } = await typeNewLineUntilGhostText(page, typed);
  // The suggestion is shown: the server computes the next one (the prefetch). Let it finish, then count.
  const engine = engineNow();
  await engineIdle(engine);
  const before = await engineRequests(engine);
  await page.keyboard.press('Tab');
  await waitForLineGrowth(page, typed, 10_000);
  // VS Code asks again at the new position right away; the answer comes from the prefetch.
  await ghost.waitFor({ state: 'visible', timeout: 30_000 });
  const next = normalise(await ghost.textContent());
  await screenshot(page, shots, 'after-tab-next-ghost-text');
  assert.ok(next.length > 0, 'the next ghost text is not empty');
  await waitForProntoLog(/completion answered from the prefetch/, 10_000);
  // The only engine request since Tab is the prefetch for the suggestion after this one: wait until
  // it has finished (the engine counts finished requests), then check nothing else came.
  const deadline = Date.now() + 60_000;
  while ((await engineRequests(engine)) - before < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await engineIdle(engine);
  assert.equal((await engineRequests(engine)) - before, 1, 'no engine request for the position after Tab');
});

test('"Pronto: Show Statistics" opens a webview with the figures of the completions above', { timeout: 120_000 }, async () => {
  if (realProblem) throw realProblem;
  const page = session!.page;
  await runCommand(page, 'Pronto: Show Statistics');
  const frame = await webviewFrame(page, '#counters', 30_000);
  // Locked down as the conventions ask: CSP with a script nonce, no other sources.
  const csp = (await frame.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')) ?? '';
  assert.match(csp, /^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/]{20,}={0,2}'; style-src [^;]+$/);
  // The page said `ready`, the extension asked the server (pronto/stats) and forwarded the answer.
  // The two tests above had ghost text shown and accepted, so these are not zero.
  const handle = await frame.waitForFunction(
    () => {
      // No named helper functions here: tsx would wrap them in __name(), unknown in the page.
      const values: Record<string, string> = {};
      for (const card of document.querySelectorAll<HTMLElement>('[data-stat]'))
        values[card.dataset.stat!] = card.querySelector('.value')?.textContent ?? '';
      const requests = Number.parseInt(values.requests ?? '', 10);
      const shown = Number.parseInt(values.shown ?? '', 10);
      const accepted = Number.parseInt(values.accepted ?? '', 10);
      const rows = [...document.querySelectorAll('#recent tbody tr.record')].map((tr) =>
        [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
      );
      if (!(requests >= 2 && shown >= 2 && accepted >= 1 && rows.length >= 2)) return false;
      return {
        requests,
        shown,
        accepted,
        p50: values.latencyP50 ?? '',
        p95: values.latencyP95 ?? '',
        rows,
        server: document.getElementById('server')?.textContent ?? '',
        updatedAt: document.getElementById('updated')?.dataset.receivedAt ?? '',
      };
    },
    undefined,
    { timeout: 20_000 },
  );
  const seen = (await handle.jsonValue()) as {
    requests: number;
    shown: number;
    accepted: number;
    p50: string;
    p95: string;
    rows: string[][];
    server: string;
    updatedAt: string;
  };
  await screenshot(page, shots, 'statistics');
  assert.ok(seen.shown <= seen.requests, `shown ${seen.shown} <= requests ${seen.requests}`);
  assert.match(seen.p50, /^\d+ ms$/);
  assert.match(seen.p95, /^\d+ ms$/);
  assert.ok(Number.parseInt(seen.p50, 10) <= Number.parseInt(seen.p95, 10), `p50 ${seen.p50} <= p95 ${seen.p95}`);
  assert.match(seen.server, /^Engine: (ready|busy)\b/);
  const shownRow = seen.rows.find((r) => r[2] === 'shown');
  assert.ok(shownRow, `a shown completion in ${JSON.stringify(seen.rows)}`);
  assert.equal(shownRow[1], 'math.js');
  assert.match(shownRow[3]!, /^\d+ ms$/, 'latency');
  assert.match(shownRow[4]!, /^\d+ \/ \d+$/, 'reused / evaluated tokens');
  assert.ok(Number.parseInt(shownRow[5]!, 10) > 0, 'generated tokens');
  // Polled while visible: a newer answer replaces this one without anything being done.
  await frame.waitForFunction((before) => (document.getElementById('updated')?.dataset.receivedAt ?? before) !== before, seen.updatedAt, {
    timeout: 10_000,
  });
  // The extension logged the handshake (and nothing it had to reject).
  await waitForProntoLog(/statistics panel ready/, 5_000);
});

test('the statistics panel says when the server is down, and its button restarts it', { timeout: 120_000 }, async () => {
  if (realProblem) throw realProblem;
  const page = session!.page;
  const frame = await webviewFrame(page, '#counters', 10_000);
  await runCommand(page, 'Pronto: Stop Language Server');
  await frame.locator('body[data-server="down"]').waitFor({ state: 'attached', timeout: 30_000 });
  assert.match(normalise(await frame.locator('#server').textContent()), /not running/);
  await screenshot(page, shots, 'statistics-server-down');
  // The button posts {type:'runCommand', command:'pronto.restartServer'}; the extension validates
  // it and runs the command.
  await frame.locator('#restart').click();
  await frame.locator('body[data-server="running"]').waitFor({ state: 'attached', timeout: 60_000 });
  // A new server: its counters start again from zero, and the page shows that.
  await frame.waitForFunction(() => document.querySelector('[data-stat="requests"] .value')?.textContent === '0', undefined, {
    timeout: 30_000,
  });
  assert.ok(await frame.locator('#restart').isHidden());
});
