// Runs the engine's table-driven C++ tests of its network's pure parts (SHA-256, API key lookup and
// the keys file, loopback by address, Host/Origin policy, the Outbox bound): native/tests/net_test.cpp,
// built by npm run build:native as pronto-net-test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const bin = path.resolve(__dirname, '../../native/build/pronto-net-test');

test('pronto-net-test: keys, addresses, Host/Origin policy, Outbox', () => {
  assert.ok(existsSync(bin), `${bin} is not built: run npm run build:native`);
  const r = spawnSync(bin, { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^0 failure\(s\)$/m);
  assert.ok((r.stdout.match(/^ok: /gm) ?? []).length >= 90, r.stdout);
});
