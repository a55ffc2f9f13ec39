/**
 * The real thing end to end: a JSON-RPC client ↔ the LSP server (spawned, --stdio) ↔ the real
 * pronto-engine (found by the server in native/build, as in a fresh checkout) on a generated
 * random-weight GGUF (test/support/models.ts). Random weights give random text, so the tests check
 * flow and numbers (tokens evaluated and generated, cancellations counted by the engine's own
 * /metrics), not the words.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import type { StatsResult } from '../../protocol/lsp';
import { engineBinary } from '../support/engine';
import { engineUrlFromLogs, enginePids, isAlive, startLspServer, type LspHarness } from '../support/lsp';
import { ensureModel, ensureTestModels, repoRoot } from '../support/models';
import { metric as readMetric, metricsText } from '../support/net';

const built = existsSync(engineBinary);

const engineUrl = engineUrlFromLogs;
/** A series of the engine's /metrics (test/support/net.ts reads it). */
const metric = async (url: string, series: string): Promise<number> => readMetric(await metricsText(url), series);

async function stats(h: LspHarness): Promise<StatsResult> {
  return (await h.connection.sendRequest('pronto/stats')) as StatsResult;
}

describe('LSP server with the real engine', {
  timeout: 180_000,
  skip: built ? false : `engine not built (${engineBinary}): run npm run build:native`,
}, () => {
  let h: LspHarness;
  before(async () => {
    const { target } = await ensureTestModels();
    h = startLspServer();
    await h.initialize({
      pronto: {
        model: { path: target },
        engine: { threads: 1, contextSize: 8192, parallel: 2 },
        // Long single-line answers (random text rarely has a newline) so a request is still
        // decoding when it is cancelled or the engine is killed.
        completion: { debounceMs: 0, prefetch: false, maxTokens: 512, timeBudgetMs: 30000, multiline: 'never' },
      },
    });
    const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
    assert.equal(s.state, 'ready', s.message);
    assert.equal(s.backend, 'CPU');
  });
  after(async () => {
    await h?.stop();
  });

  test('completions arrive, with the engine’s token counts in pronto/stats', async () => {
    await h.open('file:///work/add.py', 'def add(a, b):\n    return \n\nprint(add(1, 2))\n', 'python');
    const r = await h.inline('file:///work/add.py', 1, 11);
    assert.equal(r.items.length, 1);
    assert.ok(r.items[0]!.insertText.length > 0);
    assert.ok(!r.items[0]!.insertText.includes('\n'), 'single-line mode');
    const rec = (await stats(h)).recent.at(-1)!;
    assert.equal(rec.outcome, 'shown');
    assert.ok(rec.promptTokens > 5 && rec.evaluatedTokens > 0 && rec.generatedTokens > 0, JSON.stringify(rec));
    // The same position again is served from the cache.
    const again = await h.inline('file:///work/add.py', 1, 11);
    assert.deepEqual(
      again.items.map((i) => i.insertText),
      r.items.map((i) => i.insertText),
    );
    assert.equal((await stats(h)).recent.at(-1)!.fromCache, true);
  });

  test('cancelling the LSP request cancels the request in the engine', async () => {
    const url = engineUrl(h);
    const before = await metric(url, 'pronto_cancellations_total');
    await h.open('file:///work/cancel.ts', 'export function longName(value: number) {\n  const result = \n}\n');
    const source = new CancellationTokenSource();
    const mark = h.statuses.length;
    const pending = h.inline('file:///work/cancel.ts', 1, 17, source.token);
    await h.waitForStatus((s) => s.state === 'busy', mark); // the submit is on its way to the engine
    source.cancel();
    await pending.catch(() => undefined);
    // The engine handles messages of one socket in order: once a later request is done, the cancel
    // has been processed.
    await h.open('file:///work/next.ts', 'let x = ');
    await h.inline('file:///work/next.ts', 0, 8);
    assert.equal(await metric(url, 'pronto_cancellations_total'), before + 1);
    const cancelled = (await stats(h)).recent.filter((r) => r.uri === 'file:///work/cancel.ts');
    assert.equal(cancelled.at(-1)!.outcome, 'cancelled');
  });

  test('kill -9 on the engine mid-request: the request resolves, the engine restarts, the next completion works', async () => {
    const [pid] = enginePids(h.child.pid!);
    assert.ok(pid, 'the server started an engine process');
    await h.open('file:///work/kill.ts', 'function main() {\n  const answer = \n}\n');
    const mark = h.statuses.length;
    const pending = h.inline('file:///work/kill.ts', 1, 17);
    await h.waitForStatus((s) => s.state === 'busy', mark);
    process.kill(pid, 'SIGKILL');
    const r = await pending;
    assert.deepEqual(r.items, []);
    const degraded = await h.waitForStatus((s) => s.state === 'degraded', mark);
    assert.match(degraded.message, /exited unexpectedly \(SIGKILL\)/);
    const ready = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error', h.statuses.indexOf(degraded));
    assert.equal(ready.state, 'ready', ready.message);
    assert.equal(isAlive(pid), false);
    const [newPid] = enginePids(h.child.pid!);
    assert.ok(newPid && newPid !== pid);
    await h.open('file:///work/after.ts', 'const value = ');
    const next = await h.inline('file:///work/after.ts', 0, 14);
    assert.equal(next.items.length, 1);
  });
});

describe('LSP server with no model configured', { timeout: 120_000, skip: built ? false : `engine not built (${engineBinary})` }, () => {
  test('starts no engine, offers no completions, and says a model is needed', async () => {
    const h = startLspServer();
    try {
      await h.initialize({ pronto: { engine: { path: engineBinary }, completion: { debounceMs: 0, prefetch: false } } });
      const s = await h.waitForStatus((s) => s.state === 'stopped' || s.state === 'ready' || s.state === 'error');
      assert.equal(s.state, 'stopped', s.message);
      assert.equal(s.needsModel, true);
      assert.match(s.message, /No model chosen: completions are off/);
      assert.deepEqual(enginePids(h.child.pid!), [], 'no engine process');
      await h.open('file:///work/none.ts', 'function greet(name: string) {\n  return \n}\n');
      assert.deepEqual((await h.inline('file:///work/none.ts', 1, 9)).items, []);
    } finally {
      await h.stop();
    }
  });

  test('with pronto.model.demo, runs the real engine on the demo model and says its output is meaningless', async () => {
    const demo = await ensureModel('demo');
    const h = startLspServer({ PRONTO_DEMO_MODEL: demo });
    try {
      await h.initialize({
        pronto: { model: { demo: true }, engine: { path: engineBinary, threads: 1 }, completion: { debounceMs: 0, prefetch: false } },
      });
      const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
      assert.equal(s.state, 'ready', s.message);
      assert.equal(s.demoModel, true);
      assert.match(s.message, /meaningless/);
      assert.equal(s.model, path.basename(demo));
      await h.open('file:///work/demo.ts', 'function greet(name: string) {\n  return \n}\n');
      await h.inline('file:///work/demo.ts', 1, 9);
      const rec = (await stats(h)).recent.at(-1)!;
      assert.ok(rec.outcome === 'shown' || rec.outcome === 'empty', JSON.stringify(rec));
      assert.ok(rec.generatedTokens > 0);
    } finally {
      await h.stop();
    }
  });

  test('a file that is not a GGUF model is refused before any engine start, with what to pick instead', async () => {
    const h = startLspServer();
    const readme = path.join(repoRoot, 'README.md');
    try {
      await h.initialize({ pronto: { model: { path: readme }, engine: { path: engineBinary } } });
      const s = await h.waitForStatus((s) => s.state === 'error' || s.state === 'ready');
      assert.equal(s.state, 'error');
      assert.deepEqual(s.modelProblem, {
        setting: 'pronto.model.path',
        path: readme,
        problem: 'README.md is not a GGUF model: it is a text file.',
        advice: s.modelProblem?.advice,
      });
      assert.match(s.modelProblem?.advice ?? '', /Pick a \.gguf base code model/);
      assert.deepEqual(enginePids(h.child.pid!), [], 'the engine was never started');
      assert.ok(!h.logs.some((l) => /starting .*pronto-engine/.test(l)), h.logs.join('\n'));
    } finally {
      await h.stop();
    }
  });
});

/** Running, not a zombie (an orphan's exit is reaped by PID 1, which in a container may never do it). */
function running(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('an engine whose server dies', { timeout: 120_000, skip: built ? false : `engine not built (${engineBinary})` }, () => {
  test('shuts itself down when the server is killed with SIGKILL (stdin pipe closes)', async () => {
    const { target } = await ensureTestModels();
    const h = startLspServer();
    try {
      await h.initialize({ pronto: { model: { path: target }, engine: { threads: 1 } } });
      const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
      assert.equal(s.state, 'ready', s.message);
      const [enginePid] = enginePids(h.child.pid!);
      assert.ok(enginePid, 'the server started an engine');
      h.child.kill('SIGKILL');
      const deadline = Date.now() + 20_000;
      while (running(enginePid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(running(enginePid), false, `engine ${enginePid} still running 20 s after its server was killed`);
    } finally {
      await h.stop();
    }
  });
});
