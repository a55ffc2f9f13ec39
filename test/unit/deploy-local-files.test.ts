// The local platform's state primitives: atomic JSON, a damaged state file named with what to do,
// the lock file (refused while its holder lives, taken over from a dead one), HAProxy missing.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import {
  acquireLockFile,
  describeHolder,
  readJson,
  releaseLockFile,
  renewLockFile,
  writeJsonAtomic,
} from '../../server/src/deploy/platform/local/files';
import { Haproxy, haproxyConfig, parseShowStat } from '../../server/src/deploy/platform/local/haproxy';
import type { LockHolder } from '../../server/src/deploy/platform/types';
import { rolloutViewToExtensionSchema } from '../../protocol/deploy';

const parseWebviewRolloutMessage = (raw: unknown) => {
  const r = rolloutViewToExtensionSchema.safeParse(raw);
  return r.success ? r.data : undefined;
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'pronto-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const holder = (id: string, pid: number, renewedAt = Date.now()): LockHolder => ({
  id,
  user: 'ann',
  host: os.hostname(),
  pid,
  tool: 'pronto-deploy rollout',
  acquiredAt: Date.parse('2026-11-30T10:00:00Z'),
  renewedAt,
  ttlSeconds: 30,
});

test('JSON is written atomically (mode 600) and a damaged file is named with what to do', async () => {
  const f = path.join(dir, 'state.json');
  await writeJsonAtomic(f, { a: 1 });
  assert.deepEqual(await readJson(f), { a: 1 });
  assert.equal((await import('node:fs')).statSync(f).mode & 0o777, 0o600);
  assert.equal(await readJson(path.join(dir, 'missing.json')), undefined);
  writeFileSync(f, '{"a": 1,');
  await assert.rejects(readJson(f), /state\.json is damaged \(.*\); move it away to start from nothing/);
});

test('the lock: refused while its holder lives (naming it), taken over from a dead process, renewed and released only by its holder', async () => {
  const f = path.join(dir, 'lock.json');
  const me = holder('me', process.pid);
  assert.deepEqual(await acquireLockFile(f, me), { ok: true });
  assert.deepEqual(await acquireLockFile(f, me), { ok: true }, 'the holder may take it again');
  const other = holder('other', process.pid);
  const refused = await acquireLockFile(f, other);
  assert.equal(refused.ok, false);
  if (!refused.ok)
    assert.equal(
      describeHolder(refused.holder),
      `ann@${os.hostname()} (pronto-deploy rollout, pid ${process.pid}) since 2026-11-30 10:00:00 UTC`,
    );
  await assert.rejects(renewLockFile(f, other), /lost the rollout lock to ann@/);
  await releaseLockFile(f, other);
  assert.equal(JSON.parse(readFileSync(f, 'utf8')).id, 'me', 'someone else cannot release it');
  // A holder whose process is gone (pid 2^22 - 1 does not exist here) is stale.
  writeFileSync(f, JSON.stringify(holder('dead', 4194303)));
  assert.deepEqual(await acquireLockFile(f, other), { ok: true });
  // A holder on another machine whose lease ran out is stale too.
  writeFileSync(f, JSON.stringify({ ...holder('far', 1, Date.now() - 60_000), host: 'elsewhere' }));
  assert.deepEqual(await acquireLockFile(f, me), { ok: true });
  await releaseLockFile(f, me);
  assert.deepEqual(await acquireLockFile(f, other), { ok: true }, 'free after release');
});

test('HAProxy missing: the error says how to install it', async () => {
  writeFileSync(path.join(dir, 'h.cfg'), haproxyConfig({ host: '127.0.0.1', activePort: 1, previewPort: 2, socket: path.join(dir, 's') }));
  const h = new Haproxy('/nonexistent/haproxy', {
    config: path.join(dir, 'h.cfg'),
    socket: path.join(dir, 's'),
    pidFile: path.join(dir, 'p'),
  });
  await assert.rejects(h.start(), /HAProxy is not installed \(\/nonexistent\/haproxy\): run "apt-get install -y haproxy"/);
  assert.equal(await h.alive(), false);
});

test('show stat CSV: servers only, with their state and sessions', () => {
  // HAProxy 2.6's header (abridged to the columns in any order it may have) and rows built from it.
  const header = ['pxname', 'svname', 'qcur', 'scur', 'stot', 'status', 'weight', 'hrsp_2xx', 'hrsp_5xx', 'addr'];
  const row = (v: Record<string, string | number>) => header.map((h) => String(v[h] ?? '')).join(',');
  const csv = [
    `# ${header.join(',')}`,
    row({ pxname: 'active', svname: 'FRONTEND', scur: 0, stot: 120, status: 'OPEN' }),
    row({ pxname: 'be_active', svname: 'green-0', scur: 2, stot: 88, status: 'UP', hrsp_5xx: 1, addr: '127.0.0.1:40001' }),
    row({ pxname: 'be_active', svname: 'blue-0', scur: 0, stot: 30, status: 'DRAIN', hrsp_5xx: 0, addr: '127.0.0.1:40002' }),
    row({ pxname: 'be_active', svname: 'BACKEND', scur: 2, stot: 118, status: 'UP' }),
    '',
  ].join('\n');
  assert.deepEqual(parseShowStat(csv), [
    { backend: 'be_active', server: 'green-0', status: 'UP', scur: 2, hrsp5xx: 1, stot: 88, addr: '127.0.0.1:40001' },
    { backend: 'be_active', server: 'blue-0', status: 'DRAIN', scur: 0, hrsp5xx: 0, stot: 30, addr: '127.0.0.1:40002' },
  ]);
});

test('rollout view messages: only the allow-listed commands, nothing else', () => {
  assert.deepEqual(parseWebviewRolloutMessage({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseWebviewRolloutMessage({ type: 'runCommand', command: 'pronto.deploy.promote' }), {
    type: 'runCommand',
    command: 'pronto.deploy.promote',
  });
  for (const bad of [
    { type: 'runCommand', command: 'workbench.action.terminal.sendSequence' },
    { type: 'runCommand', command: 'pronto.deploy.promote', extra: 1 },
    { type: 'ready', x: 'y'.repeat(60_000) },
    'ready',
    null,
    [],
    { type: '__proto__' },
  ]) {
    assert.equal(parseWebviewRolloutMessage(bad), undefined, JSON.stringify(bad)?.slice(0, 80));
  }
});
