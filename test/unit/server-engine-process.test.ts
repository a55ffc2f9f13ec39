/** Binary discovery and the execa launcher, with small real executables. */
import { strict as assert } from 'node:assert';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { defaultSearchRoots, execaLauncher, findEngineBinary } from '../../server/src/engine/process';
import { writeFakeEngineBinary } from '../support/lsp';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'pronto-process-test-'));

function script(name: string, body: string): string {
  const file = path.join(tmp, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

const good = script('good/pronto-engine', 'echo "pronto-engine 9.9.9"');
const broken = script('broken/pronto-engine', 'echo "boom" >&2; exit 1');
const root = path.join(tmp, 'repo');
script('repo/native/build/pronto-engine', 'echo "pronto-engine from native"');

test('the setting comes first, and a missing file there is an error naming the setting', async () => {
  const r = await findEngineBinary(good, { PRONTO_ENGINE_PATH: broken }, [root]);
  assert.deepEqual(r, { ok: true, path: good, version: 'pronto-engine 9.9.9', source: 'setting pronto.engine.path' });
  const missing = await findEngineBinary('/no/such/engine', {}, [root]);
  assert.equal(missing.ok, false);
  assert.match(!missing.ok ? missing.message : '', /pronto\.engine\.path.*\/no\/such\/engine/);
});

test('then PRONTO_ENGINE_PATH, then native/build under the search roots', async () => {
  const fromEnv = await findEngineBinary('', { PRONTO_ENGINE_PATH: good }, [root]);
  assert.ok(fromEnv.ok && fromEnv.source === 'environment PRONTO_ENGINE_PATH');
  const fromNative = await findEngineBinary('', {}, [path.join(tmp, 'elsewhere'), root]);
  assert.ok(fromNative.ok && fromNative.version === 'pronto-engine from native', JSON.stringify(fromNative));
});

test('search roots: $PRONTO_EXTENSION_DIR first, then the ancestors of the code', () => {
  assert.deepEqual(defaultSearchRoots('/ext/dist', { PRONTO_EXTENSION_DIR: '/ext' }).slice(0, 3), ['/ext', '/ext/dist', '/ext']);
  assert.deepEqual(defaultSearchRoots('/a/b', {}), ['/a/b', '/a', '/']);
});

test('a binary whose --version fails is rejected; nothing found says how to build one', async () => {
  const r = await findEngineBinary(broken, {}, []);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.message : '', /--version" failed/);
  const none = await findEngineBinary('', {}, [path.join(tmp, 'elsewhere')]);
  assert.match(!none.ok ? none.message : '', /npm run build:native/);
});

test('execaLauncher parses the ready line and reports the exit', async () => {
  const bin = writeFakeEngineBinary();
  const proc = await execaLauncher.launch(bin, ['--model', '/m.gguf', '--port', '0'], { readyTimeoutMs: 30000 });
  const ready = await proc.ready;
  assert.ok(ready.ok, !ready.ok ? ready.message : '');
  assert.equal(ready.line.model.path, '/m.gguf');
  assert.ok(ready.line.port > 0);
  proc.kill('SIGKILL');
  assert.deepEqual(await proc.exited, { code: null, signal: 'SIGKILL' });
});

test('execaLauncher: a bad ready line, an early exit and silence are errors, not hangs', async () => {
  const bad = script('bad/pronto-engine', 'echo \'{"event":"ready","port":"x"}\'; exec sleep 30');
  const r1 = await execaLauncher.launch(bad, [], { readyTimeoutMs: 30000 });
  const ready1 = await r1.ready;
  assert.ok(!ready1.ok && /does not understand/.test(ready1.message));
  r1.kill('SIGKILL');
  await r1.exited;

  const exits = script('exits/pronto-engine', 'echo "pronto-engine: error: --ctx must be a number" >&2; exit 2');
  const r2 = await execaLauncher.launch(exits, [], { readyTimeoutMs: 30000 });
  const ready2 = await r2.ready;
  assert.ok(!ready2.ok);
  assert.match(ready2.ok ? '' : ready2.message, /code 2.*--ctx must be a number/);
  assert.equal(ready2.ok ? undefined : ready2.exitCode, 2);

  const silent = script('silent/pronto-engine', 'exec sleep 30');
  const r3 = await execaLauncher.launch(silent, [], { readyTimeoutMs: 300 });
  const ready3 = await r3.ready;
  assert.ok(!ready3.ok && /did not report ready within 300 ms/.test(ready3.message));
  r3.kill('SIGKILL');
  await r3.exited;
});
