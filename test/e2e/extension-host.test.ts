/**
 * Tests inside the real extension host: code-server with `enable-smoke-test-driver`, the repo as
 * `extensionDevelopmentPath` and test/e2e/host/suite.ts as `extensionTestsPath`. The workbench
 * reports the suite's output and exit code through the page functions codeAutomationLog and
 * codeAutomationExit, which is what this test waits for.
 *
 * The same suite runs in desktop VS Code with @vscode/test-electron: `npm run test:electron`
 * (test/e2e/electron.ts), on machines that can download VS Code (not this one).
 */
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { realEngineAndModel, baseSettings, sampleFiles } from './fixtures';
import { bundleHostSuite } from './host/prepare';
import { launchBrowser, outputRoot, repoRoot, screenshot, startCodeServer, type BrowserSession, type CodeServer } from './harness';

const NAME = 'extension-host';
const shots = join(outputRoot, NAME, 'screenshots');
let server: CodeServer | undefined;
let session: BrowserSession | undefined;

before(async () => {
  const real = await realEngineAndModel();
  server = await startCodeServer({
    name: NAME,
    settings: baseSettings(real),
    files: sampleFiles,
    extraArgs: ['--vscode-option', 'enable-smoke-test-driver'],
  });
});

after(async () => {
  await session?.close();
  await server?.stop();
});

test('the extension-host suite passes in real VS Code', { timeout: 180_000 }, async () => {
  assert.ok(server);
  const suiteDir = join(outputRoot, NAME, 'suite');
  await bundleHostSuite(join(suiteDir, 'index.js'));
  const remote = (p: string) => `vscode-remote://127.0.0.1:${server!.port}${p}`;
  const payload = JSON.stringify([
    ['extensionDevelopmentPath', remote(repoRoot)],
    ['extensionTestsPath', remote(join(suiteDir, 'index.js'))],
  ]);
  session = await launchBrowser(shots);
  const lines: string[] = [];
  const exitCode = new Promise<number>((resolve) => {
    void session!.page.exposeFunction('codeAutomationExit', (code: number) => resolve(code));
  });
  await session.page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
    const line = `[${type}] ${(Array.isArray(args) ? args : [args]).map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`;
    lines.push(line);
  });
  await session.page.goto(`${server.url}?folder=${encodeURIComponent(server.workspace)}&payload=${encodeURIComponent(payload)}`);
  const deadline = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('no exit code from the extension-host suite within 150 s')), 150_000).unref(),
  );
  let code: number;
  try {
    code = await Promise.race([exitCode, deadline]);
  } finally {
    await screenshot(session.page, shots, 'final');
  }
  const suiteLines = lines.filter((l) => l.includes('[host-suite]'));
  const report = suiteLines.length ? suiteLines.join('\n') : lines.slice(-40).join('\n');
  assert.equal(code, 0, `extension-host suite failed:\n${report}\n--- code-server log tail ---\n${server.output().slice(-3000)}`);
  // The suite ran its steps (not an empty run): each step logs "ok - ...".
  assert.ok(suiteLines.filter((l) => /\] ok - /.test(l)).length >= 7, `suite steps not all seen:\n${report}`);
});
