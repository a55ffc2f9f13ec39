/**
 * The monitor through the real LSP connection, with the real engine the server starts and a second
 * real engine added as a named source (as the deployment feature adds blue and green):
 * `pronto/monitor/snapshot` has the engine's series and the sidecar's keystroke latency after
 * completions; acceptance by language after `pronto/didAcceptCompletion`; an alert fires
 * (`pronto/monitor/alert` and the status's `alert`) when a threshold is lowered, and resolves when it
 * is raised; sources are added and removed, bad ones refused with a message.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { MonitorAlertParams, MonitorSnapshot, MonitorSourceInfo } from '../../protocol/monitor';
import { assertEngineBuilt, startEngine, type RunningEngine } from '../support/engine';
import { startLspServer, type LspHarness } from '../support/lsp';
import { ensureTestModels } from '../support/models';

// These tests exist to drive the real engine: a missing binary fails them (never a skip).
assertEngineBuilt();

describe('the monitor over LSP with real engines', {
  timeout: 240_000,
}, () => {
  let h: LspHarness;
  let green: RunningEngine;
  const alerts: MonitorAlertParams[] = [];
  const monitor = {
    interval: { intervalSeconds: 1 },
    alerts: (latencyP95Ms: number) => ({ latencyP95Ms, windowSeconds: 10, forSeconds: 0, cooldownMinutes: 60 }),
  };
  let settings: Record<string, unknown>;

  const snapshot = (windowMs = 60_000, server = h) =>
    server.connection.sendRequest('pronto/monitor/snapshot', { windowMs }) as Promise<MonitorSnapshot>;

  /** Asks for snapshots until `check` finds what it wants (the sampler runs every second). */
  async function waitForSnapshot<T>(
    what: string,
    check: (s: MonitorSnapshot) => T | undefined,
    deadlineMs = 60_000,
    server = h,
  ): Promise<T> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const v = check(await snapshot(60_000, server));
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`${what}: not within ${deadlineMs} ms`);
      await new Promise((r) => setTimeout(r, 200)); // ask again
    }
  }

  async function configure(latencyP95Ms: number): Promise<void> {
    settings = { ...settings, monitor: { ...monitor.interval, alerts: monitor.alerts(latencyP95Ms) } };
    await h.connection.sendNotification('workspace/didChangeConfiguration', { settings: { pronto: settings } });
  }

  before(async () => {
    const { target } = await ensureTestModels();
    green = await startEngine({ model: target, args: ['--ctx', '512', '--parallel', '1', '--api-key', 'green-key'] });
    settings = {
      model: { path: target },
      engine: { threads: 1, contextSize: 2048, parallel: 1 },
      completion: { debounceMs: 0, prefetch: false, maxTokens: 8, multiline: 'never' },
      monitor: { ...monitor.interval, alerts: monitor.alerts(100_000) },
    };
    h = startLspServer();
    h.connection.onNotification('pronto/monitor/alert', (p: MonitorAlertParams) => void alerts.push(p));
    await h.initialize({ pronto: settings });
    const s = await h.waitForStatus((st) => st.state === 'ready' || st.state === 'error');
    assert.equal(s.state, 'ready', s.message);
  });
  after(async () => {
    await h?.stop();
    await green?.stop();
  });

  test('the snapshot has the engine series and the keystroke latency after completions', async () => {
    // Interval figures come from two scrapes: wait for the first one (as Prometheus' rate() does,
    // what happened before it is not counted).
    await waitForSnapshot('the engine scraped', (s) => (s.sources[0]?.state === 'ok' ? true : undefined));
    await h.open('file:///work/add.py', 'def add(a, b):\n    return \n', 'python');
    const r = await h.inline('file:///work/add.py', 1, 11);
    assert.equal(r.items.length, 1);
    const v = await waitForSnapshot('the completion in the series', (s) => {
      const e = s.series.engine;
      return e?.values.keystrokeP95Ms.some((x) => x !== null) && e.values.requestP95Ms.some((x) => x !== null) ? s : undefined;
    });
    const engine = v.sources[0]!;
    assert.deepEqual([engine.id, engine.kind, engine.primary, engine.state, engine.compute], ['engine', 'engine', true, 'ok', 'CPU']);
    assert.equal(engine.label, 'Local engine');
    assert.match(engine.unavailable.gpuUtilisationPercent ?? '', /no GPU/);
    assert.equal(v.intervalMs, 1000);
    const series = v.series.engine!;
    assert.ok(series.t.length >= 2);
    assert.ok(
      series.values.cpuUtilisationPercent.some((x) => x !== null && x >= 0),
      'CPU utilisation',
    );
    assert.ok(
      series.values.ramPercent.some((x) => x !== null && x > 0),
      'RAM',
    );
    assert.ok(
      series.values.kvCachePercent.some((x) => x !== null && x > 0),
      'KV cache',
    );
    assert.ok(
      series.values.gpuUtilisationPercent.every((x) => x === null),
      'no GPU: never 0',
    );
    assert.equal(v.stats.recent.at(-1)?.outcome, 'shown');
    assert.ok(v.stats.recent.at(-1)?.id !== undefined, 'records are numbered');
    // Incremental: only samples after a given time.
    const last = series.t.at(-1)!;
    const next = (await h.connection.sendRequest('pronto/monitor/snapshot', { windowMs: 60_000, since: last })) as MonitorSnapshot;
    assert.ok(next.series.engine!.t.every((t) => t > last));
  });

  test('accepting a suggestion in full is counted for its language, once', async () => {
    await h.connection.sendNotification('pronto/didAcceptCompletion', { uri: 'file:///work/add.py', text: 'x', kind: 'full' });
    await h.connection.sendNotification('pronto/didAcceptCompletion', { uri: 'file:///work/add.py', text: 'x', kind: 'full' });
    const python = await waitForSnapshot('the accept counted', (s) =>
      s.acceptance.byLanguage.python?.acceptedFull ? s.acceptance.byLanguage.python : undefined,
    );
    assert.deepEqual(python, { shown: 1, acceptedFull: 1, acceptedPartial: 0, dismissed: 0, pending: 0 });
  });

  test('a lowered threshold fires an alert (notification and status), a raised one resolves it', async () => {
    const statusesBefore = h.statuses.length;
    await configure(0.001);
    const r = await h.inline('file:///work/add.py', 1, 11); // a request in the alert window (served by the cache…
    assert.ok(r);
    await h.change('file:///work/add.py', 2, 'def add(a, b):\n    return a\n');
    await h.inline('file:///work/add.py', 1, 12); // …and one from the engine)
    const fired = await waitForSnapshot('the alert', () => alerts.find((a) => a.change === 'fired'));
    assert.equal(fired.incident.rule, 'latency');
    assert.equal(fired.incident.source, 'engine');
    assert.equal(fired.notify, true);
    assert.match(fired.incident.message, /^Request latency p95 .* above 0\.001 ms on Local engine$/);
    const status = await h.waitForStatus((s) => s.alert !== undefined, statusesBefore);
    assert.equal(status.alert?.severity, 'warning');
    const snap = await snapshot();
    assert.equal(snap.alerts.active[0]?.phase, 'firing');
    assert.equal(snap.alerts.rules.find((x) => x.id === 'latency')?.threshold, 0.001);

    const beforeRaise = h.statuses.length;
    await configure(100_000);
    const resolved = await waitForSnapshot('the resolution', () => alerts.find((a) => a.change === 'resolved'));
    assert.equal(resolved.incident.id, fired.incident.id);
    await h.waitForStatus((s) => s.alert === undefined, beforeRaise);
    const history = (await snapshot()).alerts.history;
    assert.equal(history[0]?.resolvedAt !== undefined, true);
  });

  test('a remote engine (pronto.engine.url, its API key from the client) is the monitored engine source', async () => {
    const remote = startLspServer();
    try {
      await remote.initialize({
        pronto: { engine: { url: green.url }, monitor: { intervalSeconds: 1 } },
        engineApiKey: 'green-key',
      });
      const s = await remote.waitForStatus((st) => st.state === 'ready' || st.state === 'error');
      assert.equal(s.state, 'ready', s.message);
      const source = await waitForSnapshot(
        'the remote engine sampled',
        (snap) => (snap.sources[0]?.state === 'ok' ? snap.sources[0] : undefined),
        60_000,
        remote,
      );
      assert.equal(source?.state, 'ok', source?.message);
      assert.equal(source?.label, `Remote engine (${green.url})`);
      assert.equal(source?.primary, true);
    } finally {
      await remote.stop();
    }
  });

  test('named sources: another engine is added with its key, shown beside, and removed; bad ones are refused', async () => {
    const added = (await h.connection.sendRequest('pronto/monitor/addSource', {
      id: 'green',
      label: 'Green',
      url: green.url,
      apiKey: 'green-key',
      role: 'green',
    })) as { sources: MonitorSourceInfo[] };
    assert.deepEqual(
      added.sources.map((s) => s.id),
      ['engine', 'green'],
    );
    assert.equal(JSON.stringify(added).includes('green-key'), false, 'the key is never sent back');
    const ok = await waitForSnapshot('green sampled', (s) => (s.sources.find((x) => x.id === 'green')?.state === 'ok' ? s : undefined));
    assert.equal(ok.sources[1]?.role, 'green');
    assert.ok(ok.series.green!.values.ramPercent.some((x) => x !== null));
    assert.ok(
      ok.series.green!.values.keystrokeP95Ms.every((x) => x === null),
      'the sidecar figures belong to its own engine only',
    );

    await h.connection.sendRequest('pronto/monitor/addSource', { id: 'blue', label: 'Blue', url: green.url, apiKey: 'wrong' });
    const refused = await waitForSnapshot('blue refused', (s) => s.sources.find((x) => x.id === 'blue' && x.state === 'unauthorized'));
    assert.match(refused.message ?? '', /refused the API key/);

    const bad: Array<[unknown, RegExp]> = [
      [{ id: 'engine', label: 'x', url: 'http://127.0.0.1:1' }, /own engine/],
      [{ id: '../x', label: 'x', url: 'http://127.0.0.1:1' }, /id: must be/],
      [{ id: 'x', label: 'x', url: 'file:///etc/passwd' }, /url/],
      [{ id: 'x', label: 'x', url: 'http://127.0.0.1:1', extra: 1 }, /extra/],
      [{ id: 'x', label: '', url: 'http://127.0.0.1:1' }, /label/],
      [null, /params/],
    ];
    for (const [params, re] of bad) {
      await assert.rejects(h.connection.sendRequest('pronto/monitor/addSource', params), re, JSON.stringify(params));
    }
    await assert.rejects(h.connection.sendRequest('pronto/monitor/removeSource', { id: 'engine' }), /cannot be removed/);
    await assert.rejects(h.connection.sendRequest('pronto/monitor/removeSource', { id: 'nope' }), /no monitor source "nope"/);
    await assert.rejects(h.connection.sendRequest('pronto/monitor/snapshot', { windowMs: -1 }), /windowMs/);
    for (const id of ['green', 'blue']) await h.connection.sendRequest('pronto/monitor/removeSource', { id });
    assert.deepEqual(
      (await snapshot()).sources.map((s) => s.id),
      ['engine'],
    );
  });
});
