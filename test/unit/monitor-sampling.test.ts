/**
 * Time-series sampling and windowing: the bounded ring, and the MonitorService's ticks over fake
 * scrapes and a fake clock (one tick = one row per source; interval values from two scrapes, gauges
 * as read, windowed values over the alert window; unavailable figures are null with a reason, never
 * 0; failed scrapes are gaps with the reason; sources come and go).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { CompletionRecord } from '../../protocol/lsp';
import { deriveEngineValues, type EngineScrape } from '../../server/src/monitor/engineSample';
import { HISTORY_MS, MonitorService, type MonitorSettings, type ScrapeOutcome } from '../../server/src/monitor/service';
import { TimeSeriesRing } from '../../server/src/monitor/timeSeries';
import { CompletionStats } from '../../server/src/stats';

test('ring: keeps the newest rows up to its capacity, oldest first', () => {
  const ring = new TimeSeriesRing(3, ['busySequences', 'queueDepth']);
  for (let i = 1; i <= 5; i++) ring.push(i * 1000, { busySequences: i, queueDepth: i === 4 ? null : 10 * i });
  assert.equal(ring.length, 3);
  const w = ring.window(0);
  assert.deepEqual(w.t, [3000, 4000, 5000]);
  assert.deepEqual(w.values.busySequences, [3, 4, 5]);
  assert.deepEqual(w.values.queueDepth, [30, null, 50], 'not measured stays null');
  assert.equal(ring.latest('busySequences'), 5);
  assert.equal(ring.lastTime, 5000);
});

test('ring: windows by time, and incrementally after a time', () => {
  const ring = new TimeSeriesRing(100, ['busySequences']);
  for (let i = 0; i < 10; i++) ring.push(i * 1000, { busySequences: i });
  assert.deepEqual(ring.window(7000).t, [7000, 8000, 9000]);
  assert.deepEqual(ring.window(0, 8000).t, [9000]);
  assert.deepEqual(ring.window(0, 9000).t, []);
  // NaN, Infinity and undefined are "not measured".
  ring.push(10_000, { busySequences: Number.POSITIVE_INFINITY });
  assert.deepEqual(ring.window(10_000).values.busySequences, [null]);
});

test('ring: resize keeps the newest rows', () => {
  const ring = new TimeSeriesRing(5, ['busySequences']);
  for (let i = 0; i < 5; i++) ring.push(i, { busySequences: i });
  ring.resize(2);
  assert.deepEqual(ring.window(Number.NEGATIVE_INFINITY).values.busySequences, [3, 4]);
  ring.resize(4);
  ring.push(5, { busySequences: 5 });
  assert.deepEqual(ring.window(Number.NEGATIVE_INFINITY).values.busySequences, [3, 4, 5]);
  assert.throws(() => new TimeSeriesRing(0), /positive integer/);
});

// ---------------------------------------------------------------------------------------------

interface FakeEngine {
  requests: number;
  errors: number;
  /** Observations per latency bucket (not cumulative): <=0.1, <=0.5, above. */
  latency: [number, number, number];
  perTokenCount: number;
  perTokenSum: number;
  drafted: number;
  accepted: number;
  busy: number;
  cpuSeconds: number;
  gpu?: { used: number; total: number; util?: number };
  queueDepth?: number;
}

function exposition(e: FakeEngine): string {
  const [a, b, c] = e.latency;
  const lines = [
    '# TYPE pronto_request_latency_seconds histogram',
    `pronto_request_latency_seconds_bucket{le="0.1"} ${a}`,
    `pronto_request_latency_seconds_bucket{le="0.5"} ${a + b}`,
    `pronto_request_latency_seconds_bucket{le="+Inf"} ${a + b + c}`,
    `pronto_request_latency_seconds_sum ${a * 0.05 + b * 0.3 + c}`,
    `pronto_request_latency_seconds_count ${a + b + c}`,
    '# TYPE pronto_per_token_latency_seconds histogram',
    `pronto_per_token_latency_seconds_bucket{le="+Inf"} ${e.perTokenCount}`,
    `pronto_per_token_latency_seconds_sum ${e.perTokenSum}`,
    `pronto_per_token_latency_seconds_count ${e.perTokenCount}`,
    '# TYPE pronto_requests_total counter',
    `pronto_requests_total ${e.requests}`,
    '# TYPE pronto_errors_total counter',
    `pronto_errors_total{kind="bad_request"} ${e.errors}`,
    `pronto_errors_total{kind="internal"} 0`,
    '# TYPE pronto_drafted_tokens_total counter',
    `pronto_drafted_tokens_total ${e.drafted}`,
    '# TYPE pronto_accepted_tokens_total counter',
    `pronto_accepted_tokens_total ${e.accepted}`,
    '# TYPE pronto_busy_sequences gauge',
    `pronto_busy_sequences ${e.busy}`,
    '# TYPE pronto_kv_cache_usage_ratio gauge',
    'pronto_kv_cache_usage_ratio 0.25',
    '# TYPE process_cpu_seconds_total counter',
    `process_cpu_seconds_total ${e.cpuSeconds}`,
    'pronto_host_cpus 2',
    'pronto_host_memory_total_bytes 1000',
    'pronto_host_memory_available_bytes 250',
    'process_resident_memory_bytes 123',
    `pronto_gpu_devices ${e.gpu ? 1 : 0}`,
    `pronto_nvml_available ${e.gpu?.util !== undefined ? 1 : 0}`,
  ];
  if (e.gpu) {
    lines.push(
      `pronto_gpu_memory_used_bytes{device="CUDA0"} ${e.gpu.used}`,
      `pronto_gpu_memory_total_bytes{device="CUDA0"} ${e.gpu.total}`,
    );
    if (e.gpu.util !== undefined) lines.push(`pronto_gpu_utilization_ratio{device="CUDA0"} ${e.gpu.util}`);
  }
  if (e.queueDepth !== undefined) lines.push(`pronto_queue_depth ${e.queueDepth}`);
  return `${lines.join('\n')}\n`;
}

const settings = (over: Partial<MonitorSettings['alerts']> = {}): MonitorSettings => ({
  intervalMs: 1000,
  windowMs: 3000,
  alerts: {
    latencyP95Ms: 200,
    gpuUtilisationPercent: 90,
    memoryPercent: 90,
    errorRatePercent: 1,
    forMs: 0,
    hysteresisPercent: 10,
    cooldownMs: 0,
    ...over,
  },
});

function harness(over: Partial<MonitorSettings['alerts']> = {}) {
  let now = 100_000;
  const engines = new Map<string, FakeEngine | ScrapeOutcome>();
  const scraped: Array<{ url: string; apiKey?: string }> = [];
  const alerts: string[] = [];
  const service = new MonitorService(settings(over), {
    now: () => now,
    languageOf: () => 'python',
    scrape: async (url, apiKey) => {
      scraped.push({ url, apiKey });
      const e = engines.get(url);
      if (!e) return { ok: false, state: 'unreachable', message: `cannot reach ${url}` };
      if ('ok' in e) return e;
      return { ok: true, text: exposition(e) };
    },
    onAlert: (p) => alerts.push(`${p.incident.source}:${p.incident.rule}:${p.change}`),
  });
  const fresh = (): FakeEngine => ({
    requests: 0,
    errors: 0,
    latency: [0, 0, 0],
    perTokenCount: 0,
    perTokenSum: 0,
    drafted: 0,
    accepted: 0,
    busy: 0,
    cpuSeconds: 0,
  });
  return {
    service,
    engines,
    scraped,
    alerts,
    fresh,
    advance: async (ms = 1000) => {
      now += ms;
      await service.tick();
    },
    get now() {
      return now;
    },
  };
}

test('sampling: one row per tick; interval values from two scrapes, gauges as read', async () => {
  const h = harness();
  const e = h.fresh();
  h.engines.set('http://e', e);
  h.service.sources.setEngine({ label: 'Local engine', url: 'http://e' });
  await h.advance();
  e.requests = 10;
  e.latency = [8, 2, 0];
  e.perTokenCount = 100;
  e.perTokenSum = 2; // 20 ms per token
  e.drafted = 40;
  e.accepted = 10;
  e.busy = 1;
  e.cpuSeconds = 1; // one core-second in one second on two cores: 50 %
  await h.advance();
  const snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  const s = snap.series.engine!;
  assert.equal(s.t.length, 2);
  // First row: gauges only (no previous scrape for interval values).
  assert.equal(s.values.requestsPerSecond[0], null);
  assert.equal(s.values.busySequences[0], 0);
  assert.equal(s.values.requestsPerSecond[1], 10);
  assert.equal(s.values.decodeTokensPerSecond[1], 50);
  assert.equal(s.values.speculativeAcceptancePercent[1], 25);
  assert.equal(s.values.busySequences[1], 1);
  assert.equal(s.values.kvCachePercent[1], 25);
  assert.equal(s.values.ramPercent[1], 75);
  assert.equal(s.values.processMemoryBytes[1], 123);
  assert.equal(s.values.cpuUtilisationPercent[1], 50);
  // p95 of 8 observations <= 0.1 and 2 in (0.1, 0.5]: 0.1 + 0.4 * (1.5 / 2) = 0.4 s.
  assert.ok(Math.abs(s.values.requestP95Ms[1]! - 400) < 1e-6, String(s.values.requestP95Ms[1]));
  assert.ok(Math.abs(s.values.requestP50Ms[1]! - 62.5) < 1e-6, String(s.values.requestP50Ms[1]));
  // No GPU on this fake engine: the GPU figures are null, with the reason, never 0.
  assert.equal(s.values.gpuUtilisationPercent[1], null);
  assert.equal(s.values.gpuMemoryPercent[1], null);
  assert.equal(snap.sources[0]?.compute, 'CPU');
  assert.match(snap.sources[0]?.unavailable.gpuUtilisationPercent ?? '', /no GPU/);
  assert.match(snap.sources[0]?.unavailable.queueDepth ?? '', /not reported/);
  assert.equal(snap.sources[0]?.state, 'ok');
});

test('sampling: an idle interval has no latency (null), not 0 ms', async () => {
  const h = harness();
  const e = h.fresh();
  h.engines.set('http://e', e);
  h.service.sources.setEngine({ label: 'Local engine', url: 'http://e' });
  await h.advance();
  await h.advance();
  const s = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot()).series.engine!;
  assert.deepEqual(s.values.requestP95Ms, [null, null]);
  assert.deepEqual(s.values.decodeTokensPerSecond, [null, null]);
  assert.deepEqual(s.values.speculativeAcceptancePercent, [null, null]);
  assert.deepEqual(s.values.requestsPerSecond, [null, 0]);
});

test('sampling: GPU figures when the engine reports them; NVML missing is named', async () => {
  const h = harness();
  const e: FakeEngine = { ...h.fresh(), gpu: { used: 600, total: 1000, util: 0.42 }, queueDepth: 3 };
  h.engines.set('http://e', e);
  h.service.sources.setEngine({ label: 'Local engine', url: 'http://e' });
  await h.advance();
  let snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.equal(snap.series.engine!.values.gpuMemoryPercent[0], 60);
  assert.equal(snap.series.engine!.values.gpuUtilisationPercent[0], 42);
  assert.equal(snap.series.engine!.values.queueDepth[0], 3);
  assert.equal(snap.sources[0]?.compute, 'GPU');
  const reasons = snap.sources[0]!.unavailable;
  assert.deepEqual([reasons.gpuUtilisationPercent, reasons.gpuMemoryPercent, reasons.queueDepth], [undefined, undefined, undefined]);
  delete e.gpu!.util;
  await h.advance();
  snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.equal(snap.series.engine!.values.gpuUtilisationPercent[1], null);
  assert.match(snap.sources[0]?.unavailable.gpuUtilisationPercent ?? '', /NVML/);
});

test('windowed values cover the alert window (p95 and error rate)', async () => {
  const h = harness();
  const e = h.fresh();
  h.engines.set('http://e', e);
  h.service.sources.setEngine({ label: 'Local engine', url: 'http://e' });
  await h.advance(); // t0
  e.requests = 10;
  e.latency = [0, 0, 10]; // slow
  await h.advance(); // t0+1
  e.requests = 20;
  e.latency = [10, 0, 10]; // then fast
  await h.advance(); // t0+2
  const read = () => h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot()).series.engine!.values;
  // The window (3 s) still holds the slow requests: p95 is high although this interval was fast.
  assert.ok(read().requestP95Ms[2]! < 100);
  assert.equal(read().requestP95WindowMs[2], 500);
  e.requests = 30;
  e.errors = 1;
  e.latency = [20, 0, 10];
  await h.advance(); // t0+3
  await h.advance(); // t0+4: the slow interval (t0..t0+1) left the window
  const v = read();
  assert.ok(v.requestP95WindowMs[4]! < 100, `window p95 ${v.requestP95WindowMs[4]}`);
  // 1 error in the window against 20 answered requests + 1 error.
  assert.ok(Math.abs(v.errorRateWindowPercent[4]! - 100 / 21) < 1e-9, String(v.errorRateWindowPercent[4]));
});

test('failed scrapes are gaps with the reason, and the next good scrape goes on', async () => {
  const h = harness();
  h.service.sources.setEngine({ label: 'Remote engine', url: 'http://remote', apiKey: 'k' });
  h.engines.set('http://remote', { ok: false, state: 'unauthorized', message: 'http://remote/metrics refused the API key (HTTP 401)' });
  await h.advance();
  let snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.equal(snap.sources[0]?.state, 'unauthorized');
  assert.match(snap.sources[0]?.message ?? '', /API key/);
  assert.equal(h.scraped[0]?.apiKey, 'k', 'the API key is sent');
  assert.equal(JSON.stringify(snap.sources).includes('"k"'), false, 'the API key is never sent back');
  h.engines.set('http://remote', { ok: true, text: '<html>oops</html>' });
  await h.advance();
  snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.equal(snap.sources[0]?.state, 'bad-response');
  h.engines.set('http://remote', h.fresh());
  await h.advance();
  snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.equal(snap.sources[0]?.state, 'ok');
  assert.equal(snap.series.engine?.t.length, 3, 'a row per tick, failed ones too');
  assert.deepEqual(snap.series.engine?.values.busySequences, [null, null, 0]);
});

test('the engine source waits without an endpoint, and keeps its history across restarts', async () => {
  const h = harness();
  await h.advance();
  let snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.equal(snap.sources[0]?.id, 'engine');
  assert.equal(snap.sources[0]?.state, 'waiting');
  assert.equal(h.scraped.length, 0);
  h.engines.set('http://a', h.fresh());
  h.service.sources.setEngine({ label: 'Local engine', url: 'http://a' });
  await h.advance();
  h.service.sources.setEngine({ label: 'Local engine' });
  await h.advance();
  h.engines.set('http://b', h.fresh());
  h.service.sources.setEngine({ label: 'Local engine', url: 'http://b' });
  await h.advance();
  snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.equal(snap.series.engine?.t.length, 4);
  assert.equal(snap.sources[0]?.state, 'ok');
});

test('the sidecar records go into the engine source: keystroke p50/p95 and counts per interval', async () => {
  const h = harness();
  const stats = new CompletionStats();
  stats.onRecord((r) => h.service.noteRecord(r));
  const rec = (latencyMs: number, outcome: CompletionRecord['outcome']): CompletionRecord => ({
    at: h.now,
    uri: 'file:///a.py',
    latencyMs,
    fromCache: false,
    promptTokens: 0,
    reusedTokens: 0,
    evaluatedTokens: 0,
    generatedTokens: 0,
    draftedTokens: 0,
    acceptedTokens: 0,
    outcome,
  });
  for (const l of [10, 20, 30, 40]) stats.record(rec(l, 'shown'));
  stats.record(rec(999, 'cancelled'));
  stats.record(rec(5, 'error'));
  await h.advance();
  await h.advance();
  const v = h.service.snapshot({ windowMs: 60_000 }, stats.snapshot()).series.engine!.values;
  assert.deepEqual(v.keystrokeP50Ms, [20, null]);
  assert.deepEqual(v.keystrokeP95Ms, [40, null]);
  assert.deepEqual(v.completionRequests, [6, 0]);
  assert.deepEqual(v.completionCancelled, [1, 0]);
  assert.deepEqual(v.completionErrors, [1, 0]);
});

test('history is bounded to 2 hours; windows and incremental reads', async () => {
  const h = harness();
  h.engines.set('http://e', h.fresh());
  h.service.sources.setEngine({ label: 'Local engine', url: 'http://e' });
  const ticks = HISTORY_MS / 1000 + 50;
  for (let i = 0; i < ticks; i++) await h.advance();
  const stats = new CompletionStats().snapshot();
  const all = h.service.snapshot({ windowMs: 10 * HISTORY_MS }, stats).series.engine!;
  assert.equal(all.t.length, HISTORY_MS / 1000 + 1, 'the ring holds 2 h of 1-s samples');
  const fiveMinutes = h.service.snapshot({ windowMs: 5 * 60_000 }, stats).series.engine!;
  assert.equal(fiveMinutes.t.length, 301);
  const last = fiveMinutes.t.at(-1)!;
  await h.advance();
  const next = h.service.snapshot({ windowMs: 5 * 60_000, since: last }, stats).series.engine!;
  assert.deepEqual(next.t, [last + 1000]);
});

test('sources added by a feature are sampled with their key; removing one resolves its alerts', async () => {
  const h = harness({ latencyP95Ms: 200 });
  const green = h.fresh();
  h.engines.set('http://green', green);
  h.engines.set('http://blue', h.fresh());
  h.service.sources.add({ id: 'blue', label: 'Blue', url: 'http://blue', role: 'blue' });
  h.service.sources.add({ id: 'green', label: 'Green', url: 'http://green', apiKey: 'g', role: 'green' });
  assert.throws(() => h.service.sources.add({ id: 'engine', label: 'x', url: 'http://x' }), /own engine/);
  assert.throws(() => h.service.sources.remove('engine'), /cannot be removed/);
  await h.advance();
  green.requests = 5;
  green.latency = [0, 0, 5];
  await h.advance();
  assert.deepEqual(h.alerts, ['green:latency:fired']);
  let snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.deepEqual(
    snap.sources.map((s) => [s.id, s.kind, s.role ?? '', s.primary]),
    [
      ['engine', 'engine', '', true],
      ['blue', 'external', 'blue', false],
      ['green', 'external', 'green', false],
    ],
  );
  assert.ok(h.scraped.some((s) => s.url === 'http://green' && s.apiKey === 'g'));
  assert.equal(h.service.sources.remove('green'), true);
  assert.deepEqual(h.alerts, ['green:latency:fired', 'green:latency:resolved']);
  snap = h.service.snapshot({ windowMs: 60_000 }, new CompletionStats().snapshot());
  assert.deepEqual(Object.keys(snap.series), ['engine', 'blue']);
  assert.equal(h.service.sources.remove('green'), false);
});

test('deriveEngineValues: a restarted engine (counters reset) gives no negative rates', () => {
  const prev: EngineScrape = { at: 0, requests: 500, drafted: 100, accepted: 50, cpuSeconds: 90, cpus: 2 };
  const cur: EngineScrape = { at: 1000, requests: 3, drafted: 4, accepted: 2, cpuSeconds: 0.5, cpus: 2 };
  const v = deriveEngineValues(prev, cur, prev);
  assert.equal(v.requestsPerSecond, 3);
  assert.equal(v.speculativeAcceptancePercent, 50);
  assert.equal(v.cpuUtilisationPercent, 25);
});
