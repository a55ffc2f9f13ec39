/**
 * The real thing end to end: a JSON-RPC client ↔ the LSP server (spawned, --stdio) ↔ the real
 * pronto-engine (found by the server in native/build, as in a fresh checkout) on a generated
 * random-weight GGUF (test/support/models.ts). Random weights give random text, so the tests check
 * flow and numbers (tokens evaluated and generated, cancellations counted by the engine's own
 * /metrics), not the words.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import type { StatsResult } from '../../protocol/lsp';
import { requestDeadlineMs } from '../../server/src/completion/provider';
import { parseSettings } from '../../server/src/settings';
import { assertEngineBuilt, engineBinary } from '../support/engine';
import { engineInfoOf, engineMetric, engineUrlOf, enginePids, isAlive, startLspServer, type LspHarness } from '../support/lsp';
import { ensureModel, ensureTestModels, repoRoot } from '../support/models';

async function stats(h: LspHarness): Promise<StatsResult> {
  return (await h.connection.sendRequest('pronto/stats')) as StatsResult;
}

const settings = {
  model: {},
  engine: { threads: 1, contextSize: 8192, parallel: 2 },
  // Long single-line answers (random text rarely has a newline) so a request is still
  // decoding when it is cancelled or the engine is killed.
  completion: { debounceMs: 0, prefetch: false, maxTokens: 512, timeBudgetMs: 30000, multiline: 'never' as const },
};

// A missing engine binary fails these tests (never a skip): they exist to drive the real one.
describe('LSP server with the real engine', { timeout: 180_000 }, () => {
  let h: LspHarness;
  before(async () => {
    assertEngineBuilt();
    const { target } = await ensureTestModels();
    h = startLspServer();
    await h.initialize({ pronto: { ...settings, model: { path: target } } });
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
    const before = await engineMetric(h, 'pronto_cancellations_total');
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
    assert.equal(await engineMetric(h, 'pronto_cancellations_total'), before + 1);
    const cancelled = (await stats(h)).recent.filter((r) => r.uri === 'file:///work/cancel.ts');
    assert.equal(cancelled.at(-1)!.outcome, 'cancelled');
  });

  test('the engine was started with a key: requests without it are refused', async () => {
    const [pid] = enginePids(h.child.pid!);
    const info = engineInfoOf(h);
    assert.equal(info.pid, pid);
    assert.ok(info.apiKey.length >= 32, 'a key of 32 random bytes');
    assert.ok(!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(info.apiKey), 'not on the command line');
    assert.equal((await fetch(`${engineUrlOf(h)}/metrics`)).status, 401);
    assert.equal((await fetch(`${engineUrlOf(h)}/health`)).status, 200, '/health stays open (liveness checks, load balancers)');
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

describe('a file with a 60,000-character line', { timeout: 180_000 }, () => {
  test('completions work and the engine does not crash, even with the largest budgets', async () => {
    assertEngineBuilt();
    const { target } = await ensureTestModels();
    const h = startLspServer();
    try {
      // Budgets large enough that only the sidecar's line cap keeps the long line from the engine.
      await h.initialize({
        pronto: { ...settings, model: { path: target }, context: { prefixTokens: 65536, suffixTokens: 65536, extraTokens: 65536 } },
      });
      const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
      assert.equal(s.state, 'ready', s.message);
      const [pid] = enginePids(h.child.pid!);
      // A run of letters this long crashes llama.cpp's tokenizer with this model's (deepseek-coder)
      // vocabulary when it reaches the engine whole.
      const long = 'r'.repeat(60_000);
      // Opened: the file goes into the context ring, and from there into requests in other files.
      await h.open('file:///work/minified.ts', `const blob = "${long}";\nconst next = \n`);
      await h.open('file:///work/other.ts', 'function total(items) {\n  return \n}\n');
      const mark = h.statuses.length;
      for (const [uri, line, character] of [
        ['file:///work/other.ts', 1, 9], // another file: the long line's chunk is extra context
        ['file:///work/minified.ts', 1, 13], // the line after the long one
        ['file:///work/minified.ts', 0, 30_000], // inside the long line
      ] as const) {
        await h.inline(uri, line, character);
        const rec = (await stats(h)).recent.at(-1)!;
        assert.ok(rec.outcome === 'shown' || rec.outcome === 'empty', `${uri}:${line}:${character} ${JSON.stringify(rec)}`);
        assert.ok(rec.promptTokens > 0 && rec.generatedTokens > 0, JSON.stringify(rec));
      }
      assert.deepEqual(enginePids(h.child.pid!), [pid], 'the same engine process serves on');
      assert.ok(!h.statuses.slice(mark).some((s) => s.state === 'degraded' || s.state === 'error'));
    } finally {
      await h.stop();
    }
  });
});

describe('an engine that stops responding (SIGSTOP)', { timeout: 180_000 }, () => {
  test('is detected by the health checks, killed and restarted within the request deadline; the pending request ends', async () => {
    assertEngineBuilt();
    const { target } = await ensureTestModels();
    const h = startLspServer();
    let stopped: number | undefined;
    try {
      await h.initialize({ pronto: { ...settings, model: { path: target } } });
      const s = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error');
      assert.equal(s.state, 'ready', s.message);
      const [pid] = enginePids(h.child.pid!);
      assert.ok(pid);
      await h.open('file:///work/stuck.ts', 'function main() {\n  const answer = \n}\n');
      const mark = h.statuses.length;
      process.kill(pid, 'SIGSTOP');
      stopped = pid;
      const t0 = Date.now();
      const r = await h.inline('file:///work/stuck.ts', 1, 17);
      assert.deepEqual(r.items, [], 'the pending request ended');
      const degraded = await h.waitForStatus((s) => s.state === 'degraded', mark);
      assert.match(degraded.message, /stopped responding \(no answer to \/health within \d+ ms, 2 times in a row\)/);
      const ready = await h.waitForStatus((s) => s.state === 'ready' || s.state === 'error', h.statuses.indexOf(degraded));
      assert.equal(ready.state, 'ready', ready.message);
      // A guard against hangs, not a speed figure: detection and restart fit the request's own deadline.
      const deadline = requestDeadlineMs(parseSettings({ completion: settings.completion }).settings);
      assert.ok(Date.now() - t0 < deadline, `took ${Date.now() - t0} ms, deadline ${deadline} ms`);
      assert.equal(isAlive(pid), false, 'the stopped engine was killed');
      stopped = undefined;
      const [newPid] = enginePids(h.child.pid!);
      assert.ok(newPid && newPid !== pid);
      const rec = (await stats(h)).recent.at(-1)!;
      assert.equal(rec.outcome, 'cancelled');
      const next = await h.inline('file:///work/stuck.ts', 1, 17);
      assert.equal(next.items.length, 1, 'the restarted engine answers');
    } finally {
      if (stopped) process.kill(stopped, 'SIGKILL');
      await h.stop();
    }
  });
});

describe('LSP server with no model configured', { timeout: 120_000 }, () => {
  test('starts no engine, offers no completions, and says a model is needed', async () => {
    assertEngineBuilt();
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

describe('an engine whose server dies', { timeout: 120_000 }, () => {
  test('shuts itself down when the server is killed with SIGKILL (stdin pipe closes)', async () => {
    assertEngineBuilt();
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
