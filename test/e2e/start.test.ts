/**
 * `npm start` (scripts/start.mjs) for real: it builds, starts code-server with the extension on
 * samples/workspace/, prints a URL that serves the workbench, and Ctrl+C (SIGINT) takes the whole
 * process group down. What the page then shows is covered by ui.test.ts.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { extensionId, outputRoot, repoRoot, requireE2EInstalled } from './harness';

test('npm start prints a working URL and stops cleanly on Ctrl+C', { timeout: 120_000 }, async () => {
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
    assert.match(decodeURIComponent(url), /samples\/workspace$/);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /workbench/i);
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
