// Runs the engine's table-driven C++ tests of its pure text helpers (stop strings, end of line, end of
// block, UTF-8 assembly): native/tests/text_test.cpp, built by npm run build:native.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const bin = path.resolve(__dirname, '../../native/build/pronto-text-test');

test('pronto-text-test: stop conditions and UTF-8 assembly', () => {
  assert.ok(existsSync(bin), `${bin} is not built: run npm run build:native`);
  const r = spawnSync(bin, { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^0 failure\(s\)$/m);
  assert.ok((r.stdout.match(/^ok: /gm) ?? []).length >= 15, r.stdout);
});
