/**
 * media/lib/monitorFormat.ts: what each chart plots (lines per source and series, aligned columns,
 * thresholds, unavailable figures named, never plotted as 0) and how incremental snapshots merge.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { CHARTS, chartData, formatValue, mergeSnapshot, sourceLine, windowLabel } from '../../media/lib/monitorFormat';
import { MONITOR_METRIC_IDS, type MonitorSeries, type MonitorSnapshot, type MonitorSourceInfo } from '../../protocol/monitorData';
import { alertRules } from '../../server/src/monitor/alerts';

const rules = alertRules({
  latencyP95Ms: 200,
  gpuUtilisationPercent: 90,
  memoryPercent: 90,
  errorRatePercent: 1,
  forMs: 30_000,
  hysteresisPercent: 10,
  cooldownMs: 0,
});

function series(t: number[], values: Partial<Record<(typeof MONITOR_METRIC_IDS)[number], (number | null)[]>>): MonitorSeries {
  const all = Object.fromEntries(MONITOR_METRIC_IDS.map((id) => [id, values[id] ?? t.map(() => null)]));
  return { t, values: all as MonitorSeries['values'] };
}

const source = (over: Partial<MonitorSourceInfo>): MonitorSourceInfo => ({
  id: 'engine',
  label: 'Local engine',
  url: 'http://127.0.0.1:1',
  kind: 'engine',
  primary: true,
  state: 'ok',
  unavailable: {},
  compute: 'CPU',
  ...over,
});

function snapshot(now: number, sources: MonitorSourceInfo[], bySource: Record<string, MonitorSeries>): MonitorSnapshot {
  return {
    now,
    intervalMs: 1000,
    historyMs: 7_200_000,
    sources,
    series: bySource,
    acceptance: { total: { shown: 0, acceptedFull: 0, acceptedPartial: 0, dismissed: 0, pending: 0 }, byLanguage: {} },
    alerts: { rules, forMs: 30_000, active: [], history: [] },
    stats: {
      requests: 0,
      cacheHits: 0,
      shown: 0,
      accepted: 0,
      cancelled: 0,
      errors: 0,
      latencyP50Ms: null,
      latencyP95Ms: null,
      recent: [],
      prefetch: { started: 0, aborted: 0, joined: 0, answered: 0 },
      engineRequests: 0,
    },
  };
}

const chart = (id: string) => CHARTS.find((c) => c.id === id)!;

test('merge: a full snapshot replaces, an incremental one appends only newer samples and drops old ones', () => {
  const engine = source({});
  let store = mergeSnapshot(
    undefined,
    snapshot(3000, [engine], { engine: series([1000, 2000, 3000], { busySequences: [1, 2, 3] }) }),
    5000,
    true,
  );
  assert.deepEqual(store.bySource.engine?.t, [1000, 2000, 3000]);
  // The same samples again (a racing poll) and one new one.
  store = mergeSnapshot(store, snapshot(4000, [engine], { engine: series([3000, 4000], { busySequences: [3, 4] }) }), 5000, false);
  assert.deepEqual(store.bySource.engine?.values.busySequences, [1, 2, 3, 4]);
  // Time moves on: samples older than the window go.
  store = mergeSnapshot(store, snapshot(7500, [engine], { engine: series([7000], { busySequences: [7] }) }), 5000, false);
  assert.deepEqual(store.bySource.engine?.t, [3000, 4000, 7000]);
  // A full one (another window) starts over.
  store = mergeSnapshot(store, snapshot(8000, [engine], { engine: series([8000], { busySequences: [8] }) }), 1_800_000, true);
  assert.deepEqual(store.bySource.engine?.t, [8000]);
  // A removed source disappears; a new one appears.
  const green = source({ id: 'green', label: 'Green', kind: 'external', primary: false, role: 'green' });
  store = mergeSnapshot(store, snapshot(9000, [green], { green: series([9000], {}) }), 1_800_000, false);
  assert.deepEqual(Object.keys(store.bySource), ['green']);
});

test('one source: a line per series; the threshold of its alert rule; newest value in the header', () => {
  const engine = source({});
  const store = mergeSnapshot(
    undefined,
    snapshot(3000, [engine], {
      engine: series([1000, 2000, 3000], { requestP95Ms: [120, null, 340], requestP95WindowMs: [120, 120, 250], ttftP50Ms: [5, null, 7] }),
    }),
    60_000,
    true,
  );
  const d = chartData(chart('latency'), [engine], store, rules);
  assert.deepEqual(
    d.lines.map((l) => l.label),
    ['first token p50', 'first token p95', 'request p50', 'request p95', 'request p95 (alert window)'],
  );
  assert.deepEqual(d.xs, [1000, 2000, 3000]);
  assert.deepEqual(d.ys[3], [120, null, 340], 'an idle interval is a gap (null), not 0');
  assert.deepEqual(d.threshold, { value: 200, clearAt: 180, severity: 'warning' });
  assert.equal(d.current, 7, 'newest measured value of the first line');
  assert.equal(d.measured, 2 + 2 + 3);
  assert.equal(d.unavailable, undefined);
});

test('unavailable figures: named, not plotted; GPU on a CPU engine falls back to CPU and RAM without a note', () => {
  const cpu = source({
    unavailable: {
      gpuUtilisationPercent: 'no GPU: the engine runs on the CPU',
      gpuMemoryPercent: 'no GPU: the engine runs on the CPU',
      queueDepth: 'not reported by this engine (an older version?)',
    },
  });
  const store = mergeSnapshot(
    undefined,
    snapshot(1000, [cpu], { engine: series([1000], { cpuUtilisationPercent: [55], ramPercent: [40] }) }),
    60_000,
    true,
  );
  const util = chartData(chart('utilisation'), [cpu], store, rules);
  assert.deepEqual(
    util.lines.map((l) => l.metric),
    ['cpuUtilisationPercent'],
  );
  assert.equal(util.threshold, undefined, 'the GPU threshold is not drawn over a CPU line');
  assert.deepEqual(util.notes, []);
  const memory = chartData(chart('memory'), [cpu], store, rules);
  assert.deepEqual(
    memory.lines.map((l) => l.metric),
    ['ramPercent'],
  );
  assert.equal(memory.threshold?.value, 90);
  const sequences = chartData(chart('sequences'), [cpu], store, rules);
  assert.deepEqual(
    sequences.lines.map((l) => l.metric),
    ['busySequences'],
  );
  assert.deepEqual(sequences.notes, ['queued: unavailable (not reported by this engine (an older version?))']);
  // Nothing at all: the chart says why.
  const none = source({ unavailable: { decodeTokensPerSecond: 'not reported by this engine (an older version?)' } });
  const decode = chartData(chart('decode'), [none], store, rules);
  assert.equal(decode.lines.length, 0);
  assert.equal(decode.unavailable, 'not reported by this engine (an older version?)');
});

test('a GPU engine: GPU utilisation with its critical threshold', () => {
  const gpu = source({ compute: 'GPU' });
  const store = mergeSnapshot(undefined, snapshot(1000, [gpu], { engine: series([1000], { gpuUtilisationPercent: [97] }) }), 60_000, true);
  const d = chartData(chart('utilisation'), [gpu], store, rules);
  assert.deepEqual(
    d.lines.map((l) => l.metric),
    ['gpuUtilisationPercent'],
  );
  assert.deepEqual(d.threshold, { value: 90, clearAt: 81, severity: 'critical' });
});

test('several sources side by side: lines named by source, keystroke chart only for the primary one', () => {
  const blue = source({ id: 'blue', label: 'Blue', kind: 'external', primary: false, role: 'blue' });
  const green = source({ id: 'green', label: 'Green', kind: 'external', primary: false, role: 'green' });
  const engine = source({});
  const snap = snapshot(2000, [engine, blue, green], {
    engine: series([1000, 2000], { keystrokeP95Ms: [50, 60] }),
    blue: series([1000, 2000], { decodeTokensPerSecond: [30, 31] }),
    green: series([2000], { decodeTokensPerSecond: [40] }),
  });
  const store = mergeSnapshot(undefined, snap, 60_000, true);
  const decode = chartData(chart('decode'), snap.sources, store, rules);
  assert.deepEqual(
    decode.lines.map((l) => [l.label, l.role ?? '']),
    [
      ['Local engine · tokens/s', ''],
      ['Blue · tokens/s', 'blue'],
      ['Green · tokens/s', 'green'],
    ],
  );
  assert.deepEqual(decode.ys[2], [null, 40], 'aligned on the shared sample times');
  assert.deepEqual(decode.measuredSources, ['Blue', 'Green'], 'the engine measured no decode speed: only the colours are named');
  const keystroke = chartData(chart('keystroke'), snap.sources, store, rules);
  assert.deepEqual(
    keystroke.lines.map((l) => l.source),
    ['engine', 'engine'],
  );
});

test('formatting', () => {
  assert.equal(formatValue(null, 'ms'), '–');
  assert.equal(formatValue(Number.NaN, 'ms'), '–');
  assert.equal(formatValue(212.4, 'ms'), '212 ms');
  assert.equal(formatValue(1.234, 'ms'), '1.23 ms');
  assert.equal(formatValue(12_345, 'ms'), '12.3 s');
  assert.equal(formatValue(18.44, 'tokens/s'), '18.4 tok/s');
  assert.equal(formatValue(45, '%'), '45%');
  assert.equal(formatValue(1_234_000_000, 'bytes'), '1.23 GB');
  assert.equal(windowLabel(300_000), '5 min');
  assert.equal(windowLabel(7_200_000), '2 h');
  assert.equal(sourceLine(source({})), 'Local engine · CPU');
  assert.equal(
    sourceLine(source({ state: 'unauthorized', message: 'http://x/metrics refused the API key (HTTP 401)' })),
    'Local engine · unauthorized: http://x/metrics refused the API key (HTTP 401)',
  );
});
