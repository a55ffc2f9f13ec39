/**
 * The Deploy commands in real VS Code (code-server in Chromium), against the local platform: real
 * engine processes behind real HAProxy, driven by the sidecar's rollout controller.
 *   - "Pronto: Deploy Engine…" through to promoted, with the rollout view showing each gate with
 *     its threshold and measured value;
 *   - "Pronto: Use Deployed Endpoint" then gives ghost text through HAProxy (the deployed engine's
 *     own counters and HAProxy's sessions go up), with the key in SecretStorage, not in settings;
 *   - a second rollout (green, waiting for a manual promote): "Pronto: Show Monitor" charts
 *     "blue (active)" and "green (candidate)" side by side with the rollout's gates above them;
 *     "Pronto: Promote" turns green into "green (active)" and blue, scaled down, leaves the panel.
 * Screenshots in test-output/e2e/deploy/screenshots/.
 */
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runtimeCommand, parseShowStat } from '../../server/src/deploy/platform/local/haproxy';
import { freePort, runCli, type Workspace } from '../support/deploy';
import { ensureModel } from '../support/models';
import { baseSettings, realEngineAndModel, sampleFiles, type RealEngine } from './fixtures';
import { type BrowserSession, type CodeServer, launchBrowser, outputRoot, screenshot, startCodeServer, workbenchUrl } from './harness';
import { openFile, runCommand, waitForProntoLog, webviewFrame } from './workbench';

const NAME = 'deploy';
const shots = join(outputRoot, NAME, 'screenshots');
let server: CodeServer | undefined;
let session: BrowserSession | undefined;
let real: RealEngine;
let activePort = 0;
let ws: Workspace | undefined;
let deployConfig: (model: string, extra?: string) => string;
let greenModel = '';

before(async () => {
  real = await realEngineAndModel();
  // The deployment runs a model with a chat template: the smoke test sends a real chat request.
  const deployModel = await ensureModel('chat');
  greenModel = await ensureModel('chatGreen');
  activePort = await freePort();
  let previewPort = await freePort();
  while (previewPort === activePort) previewPort = await freePort();
  deployConfig = (model, extra = '') => `name: e2e
target:
  kind: local
  activePort: ${activePort}
  previewPort: ${previewPort}
  engineBinary: ${JSON.stringify(real.engine)}
  engineArgs: ["--threads", "1"]
model: { path: ${JSON.stringify(model)} }
engine: { parallel: 2, contextSize: 2048 }
gpus: 0
gates: { window: 4s, minRequests: 6, analysisRate: 3, maxP95Latency: 10s }
timeouts: { ready: 60s }
postPromotion: { window: 2s }
scaleDownDelay: 1s
${extra}`;
  server = await startCodeServer({
    name: NAME,
    settings: baseSettings(real),
    files: { ...sampleFiles, '.pronto/deploy.yaml': deployConfig(deployModel) },
    installExtension: 'copy',
  });
  const configFile = join(server.workspace, '.pronto', 'deploy.yaml');
  ws = { dir: server.workspace, configFile, stateDir: join(server.workspace, '.pronto', 'local') } as Workspace;
  session = await launchBrowser(shots);
  await session.page.goto(workbenchUrl(server));
  await session.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  // The extension is active (and its commands registered) once its status bar item shows; on this
  // first run it also opens its walkthrough, which takes the focus: wait for it before typing.
  await session.page.locator('.statusbar-item-label[aria-label^="Pronto"]').first().waitFor({ state: 'visible', timeout: 90_000 });
  await waitForProntoLog(server.root, /first run: opening the walkthrough/, 60_000);
  const welcome = session.page.locator('.tab', { hasText: 'Welcome' }).first();
  await welcome.waitFor({ state: 'visible', timeout: 30_000 });
  // Its page keeps taking the focus while it loads (a quick pick open then closes): close it.
  await runCommand(session.page, 'View: Close All Editors');
  await welcome.waitFor({ state: 'hidden', timeout: 30_000 });
});

after(async () => {
  if (session) await screenshot(session.page, shots, 'last');
  await session?.close();
  await server?.stop();
  // The deployment outlives the editor by design: stop its engines and HAProxy.
  if (ws) await runCli(ws, ['down'], { PRONTO_ENGINE_PATH: real.engine }).catch(() => undefined);
});

test('"Pronto: Deploy Engine…" rolls out to promoted; the rollout view shows each gate with threshold and measured value', {
  timeout: 240_000,
}, async () => {
  const page = session!.page;
  await runCommand(page, 'Pronto: Deploy Engine…');
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Deploy e2e' }).first();
  await row.waitFor({ state: 'visible', timeout: 30_000 });
  await screenshot(page, shots, 'deploy-confirm');
  await page.keyboard.press('Enter');
  const frame = await webviewFrame(page, '#gates', 60_000);
  const csp = (await frame.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')) ?? '';
  assert.match(csp, /^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/]{20,}={0,2}'; style-src [^;]+$/);
  // While the gates are measured: live rows with the analysis requests counted so far.
  await frame.waitForFunction(
    () => document.body.dataset.phase === 'analysing' && document.querySelectorAll('#gates tbody tr[data-gate]').length >= 3,
    undefined,
    {
      timeout: 120_000,
    },
  );
  await screenshot(page, shots, 'rollout-analysing');
  await frame.waitForFunction(() => document.body.dataset.phase === 'succeeded', undefined, { timeout: 120_000 });
  const gates = await frame.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('#gates tbody tr[data-gate]')].map((tr) => [
      ...[...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
      tr.dataset.stage ?? '',
    ]),
  );
  await page.locator('.notifications-toasts', { hasText: 'is live on blue' }).first().waitFor({ state: 'visible', timeout: 30_000 });
  await screenshot(page, shots, 'rollout-succeeded');
  // Columns: gate, measured by, threshold, measured, result, stage.
  const byName = (name: string, source: RegExp, stage = 'analysis') =>
    gates.find((g) => g[0] === name && source.test(g[1]!) && g[5] === stage);
  const requests = byName('requests', /blue \/metrics/);
  assert.ok(requests, `gates: ${JSON.stringify(gates)}`);
  assert.equal(requests[2], '≥ 6');
  assert.ok(Number(requests[3]) >= 6, `requests measured: ${requests[3]}`);
  assert.equal(requests[4], 'pass');
  const rate = byName('success rate', /blue \/metrics/)!;
  assert.equal(rate[2], '≥ 99.0%');
  assert.match(rate[3]!, /^100\.0% \(0 of \d+ failed\)$/);
  const latency = byName('p95 latency', /analysis requests through preview/)!;
  assert.ok(byName('smoke: completion', /preview/, 'smoke'), 'the smoke test is shown');
  assert.ok(byName('success rate', /analysis requests through active/, 'watch'), 'the post-promotion watch is shown');
  assert.equal(latency[2], '≤ 10.00 s');
  assert.match(latency[3]!, /^\d+ ms$|^\d+\.\d\d s$/);
  const phase = await frame.locator('#phase').textContent();
  assert.match(phase ?? '', /^Rollout succeeded/);
});

test('"Pronto: Use Deployed Endpoint" then gives ghost text through HAProxy', { timeout: 180_000 }, async () => {
  const page = session!.page;
  const socket = join(ws!.stateDir, 'haproxy.sock');
  const sessions = async () =>
    parseShowStat(await runtimeCommand(socket, 'show stat'))
      .filter((s) => s.backend === 'be_active')
      .reduce((n, s) => n + s.stot, 0);
  const processes = JSON.parse(readFileSync(join(ws!.stateDir, 'processes.json'), 'utf8')) as { blue: Array<{ port: number }> };
  const key = readFileSync(join(ws!.stateDir, 'api-key'), 'utf8').trim();
  const served = async () => {
    const text = await (
      await fetch(`http://127.0.0.1:${processes.blue[0]!.port}/metrics`, { headers: { authorization: `Bearer ${key}` } })
    ).text();
    return Number(/^pronto_requests_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  };
  const sessionsBefore = await sessions();
  const servedBefore = await served();

  await runCommand(page, 'Pronto: Use Deployed Endpoint');
  await page
    .locator('.notifications-toasts', { hasText: `now use http://127.0.0.1:${activePort}` })
    .first()
    .waitFor({ state: 'visible', timeout: 30_000 });
  await screenshot(page, shots, 'use-endpoint');
  const settings = readFileSync(join(server!.root, 'user-data', 'User', 'settings.json'), 'utf8');
  assert.match(settings, new RegExp(`"pronto.engine.url": "http://127.0.0.1:${activePort}"`));
  assert.ok(!settings.includes(key), 'the API key is not in the settings file (SecretStorage keeps it)');

  await openFile(page, 'math.js', 'multiply');
  const editor = page.locator('.editor-group-container .monaco-editor').first();
  await editor.locator('.view-lines').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('function power(a, b) {', { delay: 20 });
  const ghost = editor.locator('[class*="ghost-text-decoration"]').first();
  await ghost.waitFor({ state: 'visible', timeout: 90_000 });
  await screenshot(page, shots, 'ghost-text-through-haproxy');
  assert.ok(((await ghost.textContent()) ?? '').length > 0);
  // The suggestion came from the deployed engine, through HAProxy's active frontend.
  assert.ok((await served()) > servedBefore, 'the deployed engine served completions');
  assert.ok((await sessions()) > sessionsBefore, 'through HAProxy (its active backend opened sessions)');
});

test('during a rollout the monitor charts blue (active) and green (candidate) side by side, with the gates; it follows "Pronto: Promote"', {
  timeout: 300_000,
}, async () => {
  const page = session!.page;
  // A new revision (another model) that waits for a person to promote it.
  writeFileSync(ws!.configFile, deployConfig(greenModel, 'autoPromote: false\n'));
  await runCommand(page, 'Pronto: Deploy Engine…');
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Deploy e2e' }).first();
  await row.waitFor({ state: 'visible', timeout: 30_000 });
  await page.keyboard.press('Enter');
  const rollout = await webviewFrame(page, '#gates', 60_000);
  await rollout.waitForFunction(() => document.body.dataset.phase === 'awaitingPromotion', undefined, { timeout: 180_000 });

  await runCommand(page, 'View: Close All Editors');
  await runCommand(page, 'Pronto: Show Monitor');
  const monitor = await webviewFrame(page, '#deployments', 30_000);
  // Room for the screenshots: the monitor's group fills the editor area, no toast over it.
  await runCommand(page, 'View: Toggle Maximize Editor Group');
  await runCommand(page, 'Notifications: Clear All Notifications');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
  const sourceChips = () =>
    monitor.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('#sources li[data-role]')].map((li) => ({
        role: li.dataset.role ?? '',
        text: li.textContent ?? '',
        ok: li.classList.contains('state-ok'),
      })),
    );
  // Both colours sampled from their own engines and drawn on the same charts.
  await monitor.waitForFunction(
    () => {
      const measured = (document.querySelector<HTMLElement>('[data-chart="kv"]')?.dataset.measuredSources ?? '').split('|');
      return measured.includes('blue (active)') && measured.includes('green (candidate)');
    },
    undefined,
    { timeout: 60_000 },
  );
  const chips = await sourceChips();
  assert.deepEqual(
    chips.map((c) => [c.role, c.text.split(' · ')[0], c.ok]),
    [
      ['blue', 'blue (active)', true],
      ['green', 'green (candidate)', true],
    ],
    JSON.stringify(chips),
  );
  const legend = (await monitor.locator('[data-chart="kv"] .u-legend').textContent()) ?? '';
  assert.ok(legend.includes('blue (active)') && legend.includes('green (candidate)'), `legend: ${legend}`);
  // The rollout's phase and gates next to the charts.
  const card = monitor.locator('article[data-deployment="e2e"]');
  assert.equal(await card.getAttribute('data-phase'), 'awaitingPromotion');
  assert.match((await card.locator('.summary').textContent()) ?? '', /green \(candidate\) awaitingPromotion next to blue \(active\)/);
  const gates = await card
    .locator('tr[data-gate]')
    .evaluateAll((rows) =>
      rows.map((r) => [(r as HTMLElement).dataset.stage, ...[...r.querySelectorAll('td')].map((td) => td.textContent)]),
    );
  assert.ok(
    gates.some((g) => g[0] === 'analysis' && g[1] === 'requests' && g[3] === '≥ 6' && g[5] === 'pass'),
    `gates: ${JSON.stringify(gates)}`,
  );
  const html = await monitor.content();
  assert.ok(!html.includes(readFileSync(join(ws!.stateDir, 'api-key'), 'utf8').trim()), 'no API key in the webview');
  await monitor.evaluate(() => document.querySelector('[data-chart="kv"]')?.scrollIntoView({ block: 'center' }));
  await screenshot(page, shots, 'monitor-rollout-side-by-side');
  await monitor.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, shots, 'monitor-rollout-gates');

  await runCommand(page, 'Pronto: Promote');
  await monitor.waitForFunction(
    () =>
      document.querySelector<HTMLElement>('article[data-deployment="e2e"]')?.dataset.phase === 'succeeded' &&
      document.querySelectorAll('#sources li[data-role="blue"]').length === 0,
    undefined,
    { timeout: 120_000 },
  );
  await monitor.waitForFunction(
    () => (document.querySelector<HTMLElement>('[data-chart="kv"]')?.dataset.measuredSources ?? '').split('|').includes('green (active)'),
    undefined,
    { timeout: 60_000 },
  );
  const after = await sourceChips();
  assert.deepEqual(
    after.map((c) => [c.role, c.text.split(' · ')[0]]),
    [['green', 'green (active)']],
  );
  await runCommand(page, 'Notifications: Clear All Notifications');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
  await monitor.evaluate(() => document.querySelector('[data-chart="kv"]')?.scrollIntoView({ block: 'center' }));
  await screenshot(page, shots, 'monitor-promoted');
});
