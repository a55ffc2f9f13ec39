// Runs a C++ test binary of the engine (native/tests/unit.h) and registers each of its cases as a
// Node test, so every case is counted and named on its own. The binary runs once, when the test file
// loads; a case it never reached (the binary crashed) fails with the binary's exit status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const nativeBuildDir = path.resolve(__dirname, '../../native/build');

export function registerNativeTests(binaryName: string, timeoutMs = 120_000): void {
  const bin = path.join(nativeBuildDir, binaryName);
  if (!existsSync(bin)) {
    test(`${binaryName} is built`, () => assert.fail(`${bin} is not built: run npm run build:native`));
    return;
  }
  const list = spawnSync(bin, ['--list'], { encoding: 'utf8', timeout: 10_000 });
  const names = list.status === 0 ? list.stdout.split('\n').filter((l) => l.length > 0) : [];
  if (names.length === 0) {
    test(`${binaryName} lists its cases`, () => assert.fail(`${bin} --list: exit ${list.status}\n${list.stderr}`));
    return;
  }
  const run = spawnSync(bin, [], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  const results = new Map<string, string | null>(); // name -> null (ok) or the failure
  for (const line of run.stdout.split('\n')) {
    const ok = /^ok - (.*)$/.exec(line);
    if (ok) results.set(ok[1]!, null);
    const bad = /^FAIL - (.*?): (.*)$/.exec(line);
    if (bad && names.includes(bad[1]!)) results.set(bad[1]!, bad[2]!);
  }
  for (const name of names) {
    test(`${binaryName}: ${name}`, () => {
      if (!results.has(name)) {
        assert.fail(`did not run: ${binaryName} ended with status ${run.status} signal ${run.signal}\n${run.stderr.slice(-2000)}`);
      }
      const failure = results.get(name);
      if (failure) assert.fail(failure);
    });
  }
}

/**
 * For a C++ test binary that prints one `ok: what` / `FAIL: what` line per check and exits with the
 * number of failures (native/tests/net_test.cpp): each line becomes a test (a repeated name gets
 * ` #2`, ...), plus one that the binary ran to its end.
 */
export function registerNativeChecks(binaryName: string, timeoutMs = 60_000): void {
  const bin = path.join(nativeBuildDir, binaryName);
  if (!existsSync(bin)) {
    test(`${binaryName} is built`, () => assert.fail(`${bin} is not built: run npm run build:native`));
    return;
  }
  const run = spawnSync(bin, [], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  const seen = new Map<string, number>();
  for (const line of run.stdout.split('\n')) {
    const m = /^(ok|FAIL): (.*)$/.exec(line);
    if (!m) continue;
    const n = (seen.get(m[2]!) ?? 0) + 1;
    seen.set(m[2]!, n);
    const name = n > 1 ? `${m[2]} #${n}` : m[2]!;
    const ok = m[1] === 'ok';
    test(`${binaryName}: ${name}`, () => assert.ok(ok, line));
  }
  test(`${binaryName} ran to its end`, () => {
    assert.equal(run.status, 0, `status ${run.status} signal ${run.signal}\n${run.stdout.slice(-2000)}${run.stderr.slice(-2000)}`);
    assert.match(run.stdout, /^0 failure\(s\)$/m);
  });
}
