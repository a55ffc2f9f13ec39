/**
 * The real LSP server (server/src/main.ts --stdio, spawned) driven by a real JSON-RPC client, with
 * its real engine manager starting a real child process. The child is the engine *process double*
 * from test/support/lsp.ts (same CLI, ready line and WebSocket protocol as pronto-engine), so these
 * tests pin the server's own behaviour: process management, kill -9 recovery, cancellation, remote
 * engine + API key, settings. test/integration/lsp-engine.test.ts runs the same flow on the real
 * engine binary and a generated GGUF.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import * as esbuild from 'esbuild';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import type { SubmitMessage } from '../../protocol/engine';
import type { StatsResult } from '../../protocol/lsp';
import {
  enginePids,
  childPids,
  cmdline,
  isAlive,
  repoRoot,
  startEngineReports,
  startFakeEngine,
  startLspServer,
  writeFakeEngineBinary,
  type EngineReports,
  type LspHarness,
} from '../support/lsp';
import { ensureModel } from '../support/models';

// A real GGUF: the server checks the model file before it starts the (here: fake) engine on it.
let modelPath: string;
const uri = 'file:///work/demo.ts';
let bin: string;
let reports: EngineReports;
const harnesses: LspHarness[] = [];

before(async () => {
  modelPath = await ensureModel('draft');
  bin = writeFakeEngineBinary();
  reports = await startEngineReports();
});
after(async () => {
  for (const h of harnesses) await h.stop();
  await reports.close();
});

function server(bundle?: string): LspHarness {
  const h = startLspServer({ FAKE_ENGINE_REPORT_URL: reports.url }, bundle);
  harnesses.push(h);
  return h;
}

const localOptions = (extra: object = {}) => ({
  pronto: { engine: { path: bin }, model: { path: modelPath }, completion: { debounceMs: 0, prefetch: false }, ...extra },
});

function enginePid(h: LspHarness): number {
  const pids = enginePids(h.child.pid!);
  assert.equal(
    pids.length,
    1,
    `one engine child, got ${pids.join(',')}; server ${h.child.pid} exit ${h.child.exitCode} logs ${h.logs.join(' / ').slice(-1500)} children: ${childPids(
      h.child.pid!,
    )
      .map((p) => `${p}: ${cmdline(p)}`)
      .join('; ')}`,
  );
  return pids[0]!;
}

describe('LSP server with a local engine process', { timeout: 240_000 }, () => {
  let h: LspHarness;
  before(async () => {
    h = server();
    const init = (await h.initialize(localOptions())) as { capabilities: { inlineCompletionProvider?: unknown } };
    assert.equal(init.capabilities.inlineCompletionProvider, true);
    await h.waitForStatus((s) => s.state === 'ready');
  });

  test('a completion arrives through textDocument/inlineCompletion', async () => {
    await h.open(uri, '/*fake:return a + b;*/\nfunction add(a, b) {\n  \n}\n');
    const r = await h.inline(uri, 2, 2);
    assert.deepEqual(
      r.items.map((i) => i.insertText),
      ['return a + b;'],
    );
    const stats = (await h.connection.sendRequest('pronto/stats')) as StatsResult;
    assert.equal(stats.shown, 1);
    assert.ok(stats.recent[0]!.promptTokens > 0);
  });

  test('cancelling the LSP request sends cancel to the engine process', async () => {
    await h.open('file:///work/slow.ts', '/*fake-slow*/\nconst x = ');
    const source = new CancellationTokenSource();
    const pending = h.inline('file:///work/slow.ts', 1, 10, source.token);
    const submit = await reports.waitFor(
      (r) => r.message?.type === 'submit' && (r.message as SubmitMessage).fim!.prefix.includes('fake-slow'),
    );
    source.cancel();
    const cancel = await reports.waitFor((r) => r.message?.type === 'cancel' && r.message.id === submit.message?.id);
    assert.equal(cancel.pid, submit.pid);
    await pending.catch(() => undefined); // resolved or rejected as cancelled: it must settle
  });

  test('kill -9 on the engine mid-request: the request resolves, the engine restarts, the next completion works', async () => {
    const pid = enginePid(h);
    await h.open('file:///work/kill.ts', '/*fake-slow*/\nlet y = ');
    const mark = h.statuses.length;
    const pending = h.inline('file:///work/kill.ts', 1, 8);
    await reports.waitFor(
      (r) => r.pid === pid && r.message?.type === 'submit' && (r.message as SubmitMessage).fim!.prefix.includes('let y'),
    );
    process.kill(pid, 'SIGKILL');
    const r = await pending;
    assert.deepEqual(r.items, []);
    const degraded = await h.waitForStatus((s) => s.state === 'degraded' && /exited unexpectedly/.test(s.message), mark);
    await h.waitForStatus((s) => s.state === 'ready', h.statuses.indexOf(degraded));
    const newPid = enginePid(h);
    assert.notEqual(newPid, pid);
    await h.open('file:///work/after.ts', '/*fake:works()*/\n');
    assert.deepEqual(
      (await h.inline('file:///work/after.ts', 1, 0)).items.map((i) => i.insertText),
      ['works()'],
    );
  });

  test('pronto/setEnabled switches completions off and on', async () => {
    const mark = h.statuses.length;
    await h.connection.sendNotification('pronto/setEnabled', { enabled: false });
    await h.waitForStatus((s) => !s.enabled, mark);
    await h.open('file:///work/off.ts', '/*fake:nope*/\n');
    assert.deepEqual((await h.inline('file:///work/off.ts', 1, 0)).items, []);
    await h.connection.sendNotification('pronto/setEnabled', { enabled: true });
    await h.waitForStatus((s) => s.enabled, mark);
    assert.equal((await h.inline('file:///work/off.ts', 1, 0)).items.length, 1);
  });

  test('pronto/restartEngine starts a new engine process', async () => {
    const pid = enginePid(h);
    const mark = h.statuses.length;
    await h.connection.sendRequest('pronto/restartEngine');
    const starting = await h.waitForStatus((s) => s.state === 'starting', mark);
    await h.waitForStatus((s) => s.state === 'ready', h.statuses.indexOf(starting));
    assert.notEqual(enginePid(h), pid);
    assert.equal(isAlive(pid), false);
  });

  test('shutdown stops the engine process', async () => {
    const pid = enginePid(h);
    await h.stop();
    assert.equal(isAlive(pid), false);
  });
});

describe('LSP server settings and failures', { timeout: 240_000 }, () => {
  test('a client that vanishes without shutdown does not leave the engine behind', async () => {
    const h = server();
    await h.initialize(localOptions());
    await h.waitForStatus((s) => s.state === 'ready');
    const pid = enginePid(h);
    const exited = new Promise((resolve) => h.child.once('exit', resolve));
    h.child.stdin!.end(); // the editor's pipe closes
    await exited;
    await reports.waitFor((r) => r.pid === pid && r.event === 'SIGTERM');
  });

  test('the esbuild bundle (as dist/server.js) serves completions with plain node', async () => {
    const outfile = path.join(mkdtempSync(path.join(os.tmpdir(), 'pronto-bundle-')), 'server.js');
    // Same options as the server target in esbuild.mjs.
    await esbuild.build({
      entryPoints: [path.join(repoRoot, 'server/src/main.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      outfile,
      logLevel: 'silent',
    });
    const h = server(outfile);
    await h.initialize(localOptions());
    await h.waitForStatus((s) => s.state === 'ready');
    await h.open(uri, '/*fake:bundled()*/\n');
    assert.deepEqual(
      (await h.inline(uri, 1, 0)).items.map((i) => i.insertText),
      ['bundled()'],
    );
    const pid = enginePid(h);
    await h.stop();
    assert.equal(isAlive(pid), false);
  });

  test('a bad setting is named in the status and its default is used', async () => {
    const h = server();
    await h.initialize(localOptions({ completion: { debounceMs: 'soon', prefetch: false } }));
    const s = await h.waitForStatus((s) => s.state === 'ready');
    assert.equal(s.settingsProblems?.length, 1);
    assert.equal(s.settingsProblems?.[0]?.setting, 'pronto.completion.debounceMs');
    assert.match(s.settingsProblems?.[0]?.message ?? '', /invalid value "soon".*Using the default 75/);
    await h.open(uri, '/*fake:ok*/\n');
    assert.equal((await h.inline(uri, 1, 0)).items.length, 1);
    await h.stop();
  });

  test('a bad setting fixed in the editor settings clears its warning; each problem is logged once', async () => {
    const h = server();
    const good = localOptions().pronto;
    h.workspaceSettings.pronto = { ...good, completion: { ...good.completion, maxTokens: 'lots' } };
    await h.initialize(localOptions(), true);
    const bad = await h.waitForStatus((s) => s.settingsProblems?.[0]?.setting === 'pronto.completion.maxTokens');
    // Re-reads of unchanged settings (every configuration change) do not log the problem again.
    await h.connection.sendNotification('workspace/didChangeConfiguration', { settings: null });
    await h.connection.sendNotification('workspace/didChangeConfiguration', { settings: null });
    h.workspaceSettings.pronto = good;
    await h.connection.sendNotification('workspace/didChangeConfiguration', { settings: null });
    const fixed = await h.waitForStatus((s) => s.settingsProblems === undefined, h.statuses.indexOf(bad));
    assert.equal(fixed.settingsProblems, undefined);
    assert.equal(h.logs.filter((l) => l.includes('pronto.completion.maxTokens')).length, 1, h.logs.join('\n'));
    assert.ok(h.logs.some((l) => /every pronto\.\* value is valid again/.test(l)));
    await h.stop();
  });

  test('a missing engine binary is an error status naming the setting', async () => {
    const h = server();
    await h.initialize({ pronto: { engine: { path: '/no/such/pronto-engine' }, model: { path: modelPath } } });
    const s = await h.waitForStatus((s) => s.state === 'error');
    assert.match(s.message, /pronto\.engine\.path.*\/no\/such\/pronto-engine/);
    await h.open(uri, 'x');
    assert.deepEqual((await h.inline(uri, 0, 1)).items, []);
    await h.stop();
  });

  test('remote engine URL from workspace/configuration, its API key from the client (never a setting)', async () => {
    const remote = await startFakeEngine({ apiKey: 'top-secret' });
    try {
      const h = server();
      // A key left in the old setting is not read: only the client's secret storage passes one.
      h.workspaceSettings.pronto = { engine: { url: remote.url, apiKey: 'top-secret' }, completion: { debounceMs: 0, prefetch: false } };
      await h.initialize({ engineApiKey: 'top-secret' }, true);
      const s = await h.waitForStatus((s) => s.state === 'ready');
      assert.equal(s.backend, 'remote');
      await h.open(uri, '/*fake:from_remote()*/\n');
      assert.deepEqual(
        (await h.inline(uri, 1, 0)).items.map((i) => i.insertText),
        ['from_remote()'],
      );
      assert.equal(enginePids(h.child.pid!).length, 0, 'no local engine started');
      // A wrong key (the client's secret changed) is reported, not retried forever.
      let mark = h.statuses.length;
      await h.connection.sendNotification('pronto/setEngineApiKey', { apiKey: 'wrong' });
      const err = await h.waitForStatus((s) => s.state === 'error', mark);
      assert.match(err.message, /refused the API key.*Set Remote Engine API Key/);
      mark = h.statuses.length;
      await h.connection.sendNotification('pronto/setEngineApiKey', { apiKey: 'top-secret' });
      await h.waitForStatus((s) => s.state === 'ready', mark);
      await h.stop();
    } finally {
      await remote.close();
    }
  });

  test('a remote engine without a key from the client is refused (the setting is not a source)', async () => {
    const remote = await startFakeEngine({ apiKey: 'top-secret' });
    try {
      const h = server();
      await h.initialize({ pronto: { engine: { url: remote.url, apiKey: 'top-secret' } } });
      const err = await h.waitForStatus((s) => s.state === 'error');
      assert.match(err.message, /refused the API key/);
      await h.stop();
    } finally {
      await remote.close();
    }
  });

  test('the local engine gets a fresh random API key in its environment, never on its command line', async () => {
    const h = server();
    await h.initialize(localOptions());
    await h.waitForStatus((s) => s.state === 'ready');
    const pid = enginePid(h);
    const started = await reports.waitFor((r) => r.pid === pid && r.event === 'started');
    const key = started.event === 'started' && 'apiKey' in started ? started.apiKey : '';
    assert.ok(key.length >= 32, 'a key of at least 32 characters arrived in PRONTO_API_KEY');
    assert.ok(!cmdline(pid).includes(key), 'the key is not on the command line');
    // The engine requires it, and completions work: the sidecar sends it.
    await h.open(uri, '/*fake:keyed()*/\n');
    assert.deepEqual(
      (await h.inline(uri, 1, 0)).items.map((i) => i.insertText),
      ['keyed()'],
    );
    const mark = h.statuses.length;
    await h.connection.sendRequest('pronto/restartEngine');
    await h.waitForStatus((s) => s.state === 'ready', mark);
    const pid2 = enginePid(h);
    const restarted = await reports.waitFor((r) => r.pid === pid2 && r.event === 'started');
    assert.notEqual(restarted.event === 'started' && 'apiKey' in restarted ? restarted.apiKey : key, key, 'a new key at every start');
    await h.stop();
  });

  test('a local engine speaking another protocol version: an error saying what to do, no retries', async () => {
    for (const reported of ['none', '99']) {
      const h = startLspServer({ FAKE_ENGINE_REPORT_URL: reports.url, FAKE_ENGINE_PROTOCOL: reported });
      harnesses.push(h);
      await h.initialize(localOptions());
      const s = await h.waitForStatus((s) => s.state === 'error' || s.state === 'ready');
      assert.equal(s.state, 'error');
      assert.match(
        s.message,
        reported === 'none'
          ? /speaks engine protocol version 1, but this version of Pronto needs version \d+.*npm run build:native/
          : /version 99.*Update the extension/,
      );
      assert.equal(enginePids(h.child.pid!).length, 0, 'the mismatched engine was stopped');
      await h.stop();
    }
  });

  test('a remote engine speaking another protocol version: an error saying what to update', async () => {
    const remote = await startFakeEngine({ protocol: null });
    try {
      const h = server();
      await h.initialize({ pronto: { engine: { url: remote.url } } });
      const s = await h.waitForStatus((s) => s.state === 'error' || s.state === 'ready');
      assert.equal(s.state, 'error');
      assert.match(s.message, /remote engine at .* speaks engine protocol version 1.*Update the engine deployment/);
      await h.stop();
    } finally {
      await remote.close();
    }
  });

  test('a malformed pronto/didAcceptCompletion is logged and ignored', async () => {
    const h = server();
    await h.initialize(localOptions());
    await h.waitForStatus((s) => s.state === 'ready');
    await h.connection.sendNotification('pronto/didAcceptCompletion', { uri: 5, kind: 'everything' });
    await h.connection.sendNotification('pronto/didAcceptCompletion', null);
    await h.open(uri, '/*fake:still_works()*/\n');
    assert.deepEqual(
      (await h.inline(uri, 1, 0)).items.map((i) => i.insertText),
      ['still_works()'],
    );
    assert.ok(h.logs.some((l) => /didAcceptCompletion with unexpected parameters/.test(l)));
    await h.stop();
  });
});
