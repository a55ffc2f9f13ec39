/**
 * The monitor in real VS Code (code-server) against the real engine, through the browser: open
 * "Pronto: Show Monitor" (history from before it opened is there), type in an editor and see the
 * charts gain points; lower an alert threshold in the Settings editor and see the warning in the
 * panel and the status bar (and one notification), raise it and see both clear by themselves;
 * export a PNG and a JSON snapshot through the save dialog; switch the window, pause and resume;
 * screenshots in a dark and a light theme, in test-output/e2e/monitor/screenshots/.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { baseSettings, realEngineAndModel, sampleFiles, type RealEngine } from './fixtures';
import { launchBrowser, outputRoot, screenshot, startCodeServer, type BrowserSession, type CodeServer } from './harness';
import { pickColorTheme, runCommand, setNumberSetting, statusItem, waitForProntoLog, webviewFrame } from './workbench';

const NAME = 'monitor';
const shots = join(outputRoot, NAME, 'screenshots');
let server: CodeServer | undefined;
let session: BrowserSession | undefined;
let real: RealEngine | undefined;
let frame: Frame | undefined;

/** Sampled every second, alerts over 10 s held for 1 s: the test's steps stay short. */
const monitorSettings = {
  'pronto.monitor.intervalSeconds': 1,
  // Far above anything: on a busy machine the first requests can take seconds, and the test decides
  // when the alert fires.
  'pronto.monitor.alerts.latencyP95Ms': 100_000,
  'pronto.monitor.alerts.windowSeconds': 10,
  'pronto.monitor.alerts.forSeconds': 1,
  'pronto.monitor.alerts.cooldownMinutes': 60,
  'workbench.colorTheme': 'Default Dark Modern',
};

before(async () => {
  real = await realEngineAndModel();
  server = await startCodeServer({
    name: NAME,
    settings: { ...baseSettings(real), ...monitorSettings },
    files: sampleFiles,
    installExtension: 'vsix',
  });
  session = await launchBrowser(shots);
  await session.page.goto(`${server.url}?folder=${encodeURIComponent(server.workspace)}`);
  await session.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  await session.page.waitForFunction(
    () =>
      [...document.querySelectorAll('.statusbar-item-label')].some((e) =>
        /^Pronto: (ready|busy)\b/.test(e.getAttribute('aria-label') ?? ''),
      ),
    undefined,
    { timeout: 120_000 },
  );
});

after(async () => {
  if (session) await screenshot(session.page, shots, 'last');
  await session?.close();
  await server?.stop();
});

const userSettings = () => join(server!.root, 'user-data', 'User', 'settings.json');

/** A chart card's data attributes (see media/monitor.ts). */
async function chart(f: Frame, id: string): Promise<{ points: number; measured: number; threshold?: string; unavailable: string }> {
  return f.locator(`[data-chart="${id}"]`).evaluate((e: HTMLElement) => ({
    points: Number(e.dataset.points ?? 0),
    measured: Number(e.dataset.measured ?? 0),
    threshold: e.dataset.threshold,
    unavailable: e.dataset.unavailable ?? '',
  }));
}

/** Resolves when a newer sample than the one shown now has been drawn. */
async function nextSample(f: Frame): Promise<void> {
  const last = await f.locator('[data-chart="sequences"]').evaluate((e: HTMLElement) => e.dataset.last ?? '');
  await f.waitForFunction((l) => (document.querySelector<HTMLElement>('[data-chart="sequences"]')?.dataset.last ?? '') !== l, last, {
    timeout: 15_000,
  });
}

async function openEditor(page: Page, file: string): Promise<void> {
  await runCommand(page, 'Go to File');
  await page.keyboard.type(file);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: file }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
  await editor(page).locator('.view-line', { hasText: 'multiply' }).first().waitFor({ state: 'visible', timeout: 30_000 });
}

/** The code editor (first editor group; the monitor opens beside it). */
function editor(page: Page) {
  return page.locator('.editor-group-container').first().locator('.monaco-editor').first();
}

/** Types a new line at the end of the editor and waits for ghost text: a completion went through the engine. */
async function typeForSuggestion(page: Page, text: string): Promise<void> {
  await editor(page).locator('.view-lines').first().click();
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Enter');
  await page.keyboard.type(text, { delay: 25 });
  await page.locator('.editor-group-container [class*="ghost-text-decoration"]').first().waitFor({ state: 'visible', timeout: 60_000 });
  await page.keyboard.press('Escape');
}

test('"Pronto: Show Monitor" opens the monitor; typing in an editor makes its charts gain points', { timeout: 180_000 }, async () => {
  const page = session!.page;
  await openEditor(page, 'math.js');
  await runCommand(page, 'Pronto: Show Monitor');
  frame = await webviewFrame(page, '[data-chart="keystroke"]', 30_000);
  const csp = (await frame.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')) ?? '';
  assert.match(csp, /^default-src 'none'; script-src 'nonce-[^']+'; style-src [^;]+; img-src data:$/);
  // The engine source is sampled and reachable.
  await frame.locator('.source[data-source="engine"].state-ok').waitFor({ state: 'attached', timeout: 30_000 });
  // History from before the panel was opened: the sidecar has sampled since it started.
  assert.ok((await chart(frame, 'sequences')).points >= 2, 'samples from before the panel opened');
  // Samples keep arriving while nothing happens (history grows every interval).
  await nextSample(frame);
  const before = { keystroke: (await chart(frame, 'keystroke')).measured, latency: (await chart(frame, 'latency')).measured };

  // The panel opened beside the editor: type there.
  await typeForSuggestion(page, 'function subtract(a, b) {');
  // The completions just made are plotted: keystroke latency (the sidecar's records) and the engine's
  // latency (its /metrics) gained measured values.
  await frame.waitForFunction(
    (b) => {
      // No named helpers in page functions: tsx would wrap them in __name(), unknown in the page.
      const keystroke = Number(document.querySelector<HTMLElement>('[data-chart="keystroke"]')?.dataset.measured ?? 0);
      const latency = Number(document.querySelector<HTMLElement>('[data-chart="latency"]')?.dataset.measured ?? 0);
      return keystroke > b.keystroke && latency > b.latency;
    },
    before,
    { timeout: 30_000 },
  );
  const kv = await chart(frame, 'kv');
  assert.ok(kv.measured > 0, 'KV cache use is plotted');
  // No GPU here: the utilisation chart shows the engine's CPU, and says nothing is 0 when unknown.
  const util = await chart(frame, 'utilisation');
  assert.equal(util.unavailable, '');
  assert.ok(util.measured > 0, 'CPU utilisation is plotted');
  assert.equal(util.threshold, undefined, 'no GPU threshold over a CPU line');
  const latency = await chart(frame, 'latency');
  assert.equal(latency.threshold, '100000', 'the latency threshold is drawn');
  // The acceptance table has the language of the file.
  await frame.locator('#acceptance tbody tr[data-language="javascript"]').waitFor({ state: 'attached', timeout: 15_000 });
  await screenshot(page, shots, 'monitor-dark');
});

test('a lowered latency threshold raises a warning in the panel and the status bar; raising it clears both', {
  timeout: 180_000,
}, async () => {
  const page = session!.page;
  const f = frame!;
  assert.equal(await f.locator('#alerts').getAttribute('data-severity'), 'none');
  // In the Settings editor, as a user would (it opens in the editor's group, the monitor stays visible).
  await setNumberSetting(page, 'pronto.monitor.alerts.latencyP95Ms', 0.01, userSettings());
  // The panel draws the new threshold once the server has it.
  await f.waitForFunction(() => document.querySelector<HTMLElement>('[data-chart="latency"]')?.dataset.threshold === '0.01', undefined, {
    timeout: 30_000,
  });
  // Requests in the alert window make the p95 measurable (any real request takes longer than 10 µs).
  await openEditor(page, 'math.js');
  await typeForSuggestion(page, 'function square(x) {');
  await f.locator('#alerts[data-severity="warning"]').waitFor({ state: 'attached', timeout: 30_000 });
  const text = (await f.locator('#alerts-active').textContent()) ?? '';
  assert.match(text, /warning Request latency p95 [\d.]+ m?s above 0\.01 ms on Local engine/);
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('.statusbar-item-label')].some((e) =>
        /warning alert: Request latency p95/.test(e.getAttribute('aria-label') ?? ''),
      ),
    undefined,
    { timeout: 15_000 },
  );
  // One notification for the incident, with a way to the monitor.
  const toast = page.locator('.notification-toast', { hasText: 'Request latency p95' });
  await toast.first().waitFor({ state: 'visible', timeout: 15_000 });
  assert.ok((await toast.first().textContent())?.includes('Show Monitor'));
  await waitForProntoLog(server!.root, /monitor: warning alert #\d+: Request latency p95/, 10_000);
  await screenshot(page, shots, 'alert-warning');
  const statusBackground = await statusItem(page).evaluate((e) => getComputedStyle(e.closest('.statusbar-item')!).backgroundColor);
  assert.notEqual(statusBackground, 'rgba(0, 0, 0, 0)', 'the status item has the warning colour');

  await setNumberSetting(page, 'pronto.monitor.alerts.latencyP95Ms', 100_000, userSettings());
  await f.locator('#alerts[data-severity="none"]').waitFor({ state: 'attached', timeout: 30_000 });
  await page.waitForFunction(
    () => {
      const item = [...document.querySelectorAll('.statusbar-item-label')].find((e) =>
        (e.getAttribute('aria-label') ?? '').startsWith('Pronto'),
      );
      return item !== undefined && !/alert/.test(item.getAttribute('aria-label') ?? '');
    },
    undefined,
    { timeout: 15_000 },
  );
  // The incident is in the history, resolved.
  const history = (await f.locator('#alerts-history').textContent()) ?? '';
  assert.match(history, /warning: Request latency p95 .* \(resolved \d\d:\d\d:\d\d\)/);
  await screenshot(page, shots, 'alert-cleared');
});

/** Answers VS Code's save dialog (in the browser: the quick-input "simple file dialog") with `target`. */
async function saveAs(page: Page, target: string): Promise<void> {
  const input = page.locator('.quick-input-widget input[type="text"]');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  // The dialog puts in its default (the panel's suggested name) once it has listed the folder;
  // typing before that would be overwritten.
  await page.waitForFunction(
    () =>
      /pronto-monitor-[\d-T]+\.(png|json)$/.test(
        document.querySelector<HTMLInputElement>('.quick-input-widget input[type="text"]')?.value ?? '',
      ),
    undefined,
    { timeout: 15_000 },
  );
  await input.fill(target);
  await page.waitForFunction(
    (want) => document.querySelector<HTMLInputElement>('.quick-input-widget input[type="text"]')?.value === want,
    target,
    { timeout: 10_000 },
  );
  await page.locator('.quick-input-widget .monaco-button', { hasText: /^OK$/ }).click();
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
}

test('export the snapshot as PNG and as JSON', { timeout: 120_000 }, async () => {
  const page = session!.page;
  const f = frame!;
  const png = join(server!.workspace, 'monitor-snapshot.png');
  await f.locator('#export-png').click();
  await saveAs(page, png);
  await f.locator('#exported[data-format="png"]:not([hidden])').waitFor({ state: 'attached', timeout: 30_000 });
  assert.match((await f.locator('#exported').textContent()) ?? '', /Saved the PNG snapshot to .*monitor-snapshot\.png/);
  assert.ok(existsSync(png), 'the PNG file exists');
  const bytes = readFileSync(png);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  assert.ok(width >= 1000 && height >= 800, `a picture of all charts (${width}×${height})`);

  const json = join(server!.workspace, 'monitor-snapshot.json');
  await f.locator('#export-json').click();
  await saveAs(page, json);
  await f.locator('#exported[data-format="json"]:not([hidden])').waitFor({ state: 'attached', timeout: 30_000 });
  const data = JSON.parse(readFileSync(json, 'utf8')) as {
    windowMs: number;
    sources: { id: string; state: string }[];
    series: Record<string, { t: number[]; values: Record<string, (number | null)[]> }>;
    alerts: { history: { rule: string; resolvedAt?: number }[] };
  };
  assert.equal(data.windowMs, 300_000);
  assert.equal(data.sources[0]?.id, 'engine');
  const engine = data.series.engine!;
  assert.ok(engine.t.length > 10, `samples in the export: ${engine.t.length}`);
  assert.ok(
    engine.values.keystrokeP95Ms!.some((v) => v !== null),
    'keystroke latency in the export',
  );
  assert.ok(
    data.alerts.history.some((i) => i.rule === 'latency' && i.resolvedAt !== undefined),
    'the resolved incident in the export',
  );
  assert.equal(JSON.stringify(data).includes('apiKey'), false);
});

test('another time window, and pause / resume', { timeout: 60_000 }, async () => {
  const f = frame!;
  const before = (await chart(f, 'sequences')).points;
  await f.locator('#window').selectOption(String(30 * 60_000));
  await f.waitForFunction(() => /the last 30 min/.test(document.getElementById('updated')?.textContent ?? ''), undefined, {
    timeout: 15_000,
  });
  assert.ok((await chart(f, 'sequences')).points >= before, 'the longer window holds at least the same samples');
  await f.locator('#pause').click();
  await f.locator('body[data-paused="true"]').waitFor({ state: 'attached', timeout: 5_000 });
  assert.match((await f.locator('#updated').textContent()) ?? '', /^Paused at \d\d:\d\d:\d\d\.$/);
  assert.equal(await f.locator('#pause').textContent(), 'Resume');
  await f.locator('#pause').click();
  await f.locator('body[data-paused="false"]').waitFor({ state: 'attached', timeout: 5_000 });
  await nextSample(f);
  await f.locator('#window').selectOption(String(5 * 60_000));
  await f.waitForFunction(() => /the last 5 min/.test(document.getElementById('updated')?.textContent ?? ''), undefined, {
    timeout: 15_000,
  });
});

test('the monitor follows the theme: screenshots in light and dark', { timeout: 120_000 }, async () => {
  const page = session!.page;
  const f = frame!;
  // A taller window shows more of the panel; its editor group alone is kept as well.
  await page.setViewportSize({ width: 1600, height: 1300 });
  const panelShot = async (name: string) => {
    await nextSample(f);
    await screenshot(page, shots, name);
    await page
      .locator('.editor-group-container')
      .nth(1)
      .screenshot({ path: join(shots, `${name}-panel.png`) });
  };
  await pickColorTheme(page, 'Light Modern');
  await f.locator('body.vscode-light').waitFor({ state: 'attached', timeout: 30_000 });
  // The charts were redrawn with the light theme's colours; the next sample lands too.
  await panelShot('monitor-light');
  await pickColorTheme(page, 'Dark Modern');
  await f.locator('body.vscode-dark').waitFor({ state: 'attached', timeout: 30_000 });
  await panelShot('monitor-dark-again');
});
