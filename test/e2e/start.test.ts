/**
 * `npm start` (scripts/start.mjs) for real: it builds, starts code-server with the extension on a
 * scratch copy of samples/workspace/, prints a URL that serves the workbench; typing into a sample
 * there and saving leaves the repository's `git status` clean; the demo model runs and says so; the
 * walkthrough opens on the first run; Ctrl+C (SIGINT) takes the whole process group down. Also
 * `start.mjs --help`. Screenshots: test-output/e2e/start/screenshots/.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { extensionId, launchBrowser, outputRoot, repoRoot, requireE2EInstalled, screenshot } from './harness';
import { openFile, waitForStatus } from './workbench';

test('start.mjs --help prints its options and exits 0', () => {
  const out = execFileSync(process.execPath, [join(repoRoot, 'scripts', 'start.mjs'), '--help'], { encoding: 'utf8' });
  assert.match(out, /^usage: npm start -- \[options\]/);
  for (const option of ['--port', '--host', '--model', '--workspace', '--fresh-workspace', '--state-dir', '--no-install', '--help'])
    assert.ok(out.includes(option), option);
});

test('npm start: a working URL on a scratch copy of the samples; typing there leaves git status clean; Ctrl+C stops it', {
  timeout: 300_000,
}, async () => {
  requireE2EInstalled();
  const stateDir = join(outputRoot, 'start');
  rmSync(stateDir, { recursive: true, force: true });
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'start.mjs'), '--port', '0', '--no-install', '--state-dir', stateDir], {
    cwd: repoRoot,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL within 90 s.\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-3000)}`)), 90_000);
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        const m = stdout.match(/(http:\/\/127\.0\.0\.1:\d+\/\?folder=\S+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`start.mjs exited (${code}) before printing a URL:\n${stderr.slice(-3000)}`)));
    });
    // A scratch copy, never the tracked samples.
    const scratch = join(stateDir, 'workspace');
    assert.equal(new URL(url).searchParams.get('folder'), scratch);
    assert.ok(existsSync(join(scratch, 'src', 'shapes.ts')));
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /workbench/i);
    await typeInASample(url, scratch);
    // The extension was installed into the profile the URL serves.
    assert.ok(existsSync(join(stateDir, 'extensions', extensionId.folder, 'dist', 'extension.js')));
    assert.ok(existsSync(join(stateDir, 'extensions', extensionId.folder, 'dist', 'models', 'pronto-demo.gguf')));
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 0, `start.mjs exit code after SIGINT:\n${stderr.slice(-2000)}`);
    // Nothing of the group is left (code-server runs in its own group led by its pid).
    const port = Number(new URL(url).port);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'code-server still answers after Ctrl+C');
  } finally {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});

/** Opens the printed URL, checks the first-run view, types into a sample and saves it. */
async function typeInASample(url: string, scratch: string): Promise<void> {
  const shots = join(outputRoot, 'start', 'screenshots');
  const session = await launchBrowser(shots);
  try {
    const page = session.page;
    await page.goto(url);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
    // npm start runs the demo model, and the status item says what that means.
    const label = await waitForStatus(page, /^Pronto: (ready|busy), demo model/, 120_000);
    assert.match(label, /suggestions are meaningless/);
    await page
      .locator('.gettingStartedContainer', { hasText: 'Get started with Pronto' })
      .first()
      .waitFor({ state: 'visible', timeout: 30_000 });
    await screenshot(page, shots, 'first-run');
    await openFile(page, 'shapes.ts', 'export');
    const editor = page.locator('.editor-group-container .monaco-editor .view-lines').first();
    await editor.click();
    await page.keyboard.press('Control+End');
    const typed = '// typed by the npm start test';
    await page.keyboard.press('Enter');
    await page.keyboard.type(typed, { delay: 10 });
    await page.keyboard.press('Escape'); // dismiss the (meaningless) ghost text, if any
    await page.keyboard.press('Control+s');
    // The edit reached the disk, in the scratch copy.
    const saved = join(scratch, 'src', 'shapes.ts');
    const deadline = Date.now() + 30_000;
    while (!readFileSync(saved, 'utf8').includes(typed)) {
      if (Date.now() > deadline) throw new Error(`${saved} was not saved with the typed line`);
      await new Promise((r) => setTimeout(r, 100)); // re-read the file; the signal is its content
    }
    await screenshot(page, shots, 'typed-and-saved');
    // The repository's own samples are untouched.
    const status = execFileSync('git', ['status', '--porcelain', '--', 'samples'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(status, '', `git status of samples/ after typing:\n${status}`);
    assert.ok(!readFileSync(join(repoRoot, 'samples', 'workspace', 'src', 'shapes.ts'), 'utf8').includes(typed));
  } finally {
    await session.close();
  }
}
