/**
 * The monitor against the real engine: its `/metrics` after a known sequence of requests, parsed
 * with the library (parse-prometheus-text-format) and checked value by value; the sampler
 * (MonitorService with its real HTTP scrape) over a real engine with an API key, right and wrong;
 * and NVML loaded at run time (dlopen) when a libnvidia-ml.so.1 is on the library path — here a
 * stand-in library built by the test, as this machine has no NVIDIA driver.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { DoneEvent, SubmitMessage } from '../../protocol/engine';
import { reduceExposition, unavailableReasons } from '../../server/src/monitor/engineSample';
import { histogramQuantile } from '../../server/src/monitor/histogram';
import { parseExposition, scalar } from '../../server/src/monitor/prometheusText';
import { MonitorService } from '../../server/src/monitor/service';
import { CompletionStats } from '../../server/src/stats';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';
import { ensureTestModels } from '../support/models';

let engine: RunningEngine;
let model: string;
const KEY = 'monitor-key';

before(async () => {
  model = (await ensureTestModels()).target;
  engine = await startEngine({ model, args: ['--ctx', '2048', '--parallel', '2', '--api-key', KEY] });
});
after(async () => {
  await engine?.stop();
});

const auth = { Authorization: `Bearer ${KEY}` };

async function scrape(e: RunningEngine, headers: Record<string, string> = auth) {
  const res = await fetch(`${e.url}/metrics`, { headers });
  assert.equal(res.status, 200);
  const parsed = parseExposition(await res.text());
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  return parsed.families;
}

const submit = (id: string, prefix: string, maxTokens: number): SubmitMessage => ({
  type: 'submit',
  id,
  fim: { prefix, suffix: '\n' },
  limits: { max_tokens: maxTokens, ignore_eos: true },
});

test("the engine's /metrics after a known sequence of requests, parsed with the library", async () => {
  const before = reduceExposition(await scrape(engine), 0);
  const socket = await EngineSocket.open(engine.url, auth);
  const done: DoneEvent[] = [];
  try {
    // Three requests of exactly 8 tokens; the second and third repeat the first prompt (KV reuse).
    for (let i = 0; i < 3; i++) {
      const r = await socket.request(submit(`known-${i}`, 'def add(a, b):\n    return', 8));
      assert.ok(r.done, JSON.stringify(r.error));
      done.push(r.done);
    }
    // One bad request (an error of kind bad_request).
    const bad = await socket.request({ type: 'submit', id: 'bad', limits: { max_tokens: -1 } } as unknown as SubmitMessage);
    assert.equal(bad.error?.error.code, 'bad_request');
  } finally {
    await socket.close();
  }
  const families = await scrape(engine);
  const after = reduceExposition(families, 1);
  const sum = (k: 'prompt_tokens' | 'reused_tokens' | 'evaluated_tokens' | 'generated_tokens') => done.reduce((n, d) => n + d.stats[k], 0);

  assert.equal(after.requests! - before.requests!, 3);
  assert.equal(after.generated! - before.generated!, 24);
  assert.equal(sum('generated_tokens'), 24);
  assert.equal(after.promptEvaluated! - before.promptEvaluated!, sum('evaluated_tokens'));
  assert.equal(after.promptReused! - before.promptReused!, sum('reused_tokens'));
  assert.ok(sum('reused_tokens') > 0, 'the repeated prompt was reused from the KV cache');
  assert.equal(
    scalar(families, 'pronto_errors_total', (l) => l.kind === 'bad_request'),
    1,
  );
  assert.equal(after.errors, 1);
  // Histograms: one latency and one first-token observation per request, one per-token gap per
  // token after the first.
  assert.equal(after.latency!.count - (before.latency?.count ?? 0), 3);
  assert.equal(after.ttft!.count - (before.ttft?.count ?? 0), 3);
  assert.equal(after.perToken!.count - (before.perToken?.count ?? 0), 3 * 7);
  const slowest = Math.max(...done.map((d) => d.stats.t_total_ms)) / 1000;
  const p100 = histogramQuantile(1, after.latency!.buckets)!;
  const bound = after.latency!.buckets.find((b) => b.le >= slowest)!.le;
  assert.ok(p100 <= bound, `the quantile stays within the slowest request's bucket (${p100} <= ${bound})`);
  assert.ok(Math.abs(after.latency!.sum - done.reduce((n, d) => n + d.stats.t_total_ms, 0) / 1000) < 0.01, 'latency sum');
  // Gauges, and the machine's figures.
  assert.equal(after.busy, 0);
  assert.equal(after.sequences, 2);
  assert.equal(after.queueDepth, 0, 'the scheduler reports its queue (nothing waits now)');
  assert.ok(after.kvUsage! > 0 && after.kvUsage! <= 1);
  assert.equal(after.gpuDevices, 0, 'no GPU on this machine');
  assert.equal(after.nvml, 0, 'no NVML on this machine');
  assert.ok(after.cpuSeconds! > 0);
  assert.ok(after.cpuSeconds! >= before.cpuSeconds!, 'CPU time only grows');
  assert.ok(after.rss! > 10e6, `resident memory ${after.rss}`);
  assert.ok(after.hostMemAvailable! > 0 && after.hostMemAvailable! <= after.hostMemTotal!);
  assert.equal(after.cpus, os.availableParallelism());
  // What the monitor then says: GPU figures unavailable with the reason, never 0.
  assert.match(unavailableReasons(after).gpuUtilisationPercent ?? '', /no GPU/);
  assert.equal(unavailableReasons(after).queueDepth, undefined, 'the queue depth is measured, not unavailable');
});

test('the sampler scrapes the real engine with its API key, and says so when the key is wrong', async () => {
  const fired: string[] = [];
  const service = new MonitorService(
    {
      intervalMs: 1000,
      windowMs: 10_000,
      alerts: {
        latencyP95Ms: 0.001,
        gpuUtilisationPercent: 90,
        memoryPercent: 100,
        errorRatePercent: 100,
        forMs: 0,
        hysteresisPercent: 10,
        cooldownMs: 0,
      },
    },
    { onAlert: (p) => fired.push(`${p.incident.rule}:${p.change}`) },
  );
  const stats = new CompletionStats().snapshot();
  service.sources.setEngine({ label: 'Local engine', url: engine.url, apiKey: KEY });
  service.sources.add({ id: 'wrong-key', label: 'Wrong key', url: engine.url, apiKey: 'nope' });
  service.sources.add({ id: 'nobody', label: 'Nobody', url: 'http://127.0.0.1:9' });
  await service.tick();
  const socket = await EngineSocket.open(engine.url, auth);
  try {
    const r = await socket.request(submit('sampled', 'print("hello")', 16));
    assert.ok(r.done);
  } finally {
    await socket.close();
  }
  // The second tick sees the request: interval values from two real scrapes.
  await service.tick();
  const snap = service.snapshot({ windowMs: 60_000 }, stats);
  const [local, wrong, nobody] = snap.sources;
  assert.equal(local?.state, 'ok', local?.message);
  assert.equal(wrong?.state, 'unauthorized');
  assert.match(wrong?.message ?? '', /refused the API key \(HTTP 401\)/);
  assert.equal(nobody?.state, 'unreachable');
  assert.match(nobody?.message ?? '', /cannot reach http:\/\/127\.0\.0\.1:9\/metrics/);
  const v = snap.series.engine!.values;
  assert.equal(v.requestsPerSecond.length, 2);
  assert.ok(v.requestsPerSecond[1]! > 0);
  assert.ok(v.requestP95Ms[1]! > 0, 'request latency p95 from the histogram difference');
  assert.ok(v.decodeTokensPerSecond[1]! > 0, 'decode speed from the per-token histogram');
  assert.ok(v.ramPercent[1]! > 0 && v.ramPercent[1]! < 100);
  assert.ok(v.cpuUtilisationPercent[1]! >= 0);
  assert.equal(v.gpuUtilisationPercent[1], null, 'no GPU: null, not 0');
  assert.equal(v.speculativeAcceptancePercent[1], null, 'nothing drafted: null, not 0');
  // The latency rule with a tiny threshold fired on the real figures.
  assert.deepEqual(fired, ['latency:fired']);
  await service.stop();
});

/** A stand-in libnvidia-ml.so.1: the NVML entry points the engine looks up, answering `init`. */
function buildFakeNvml(dir: string, initResult: number): void {
  const src = path.join(dir, 'nvml.c');
  writeFileSync(
    src,
    `int nvmlInit_v2(void) { return ${initResult}; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int *n) { *n = 0; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d) { return 2; }
int nvmlDeviceGetHandleByPciBusId_v2(const char *id, void **d) { return 2; }
int nvmlDeviceGetUtilizationRates(void *d, void *u) { return 2; }
`,
  );
  execFileSync('cc', ['-shared', '-fPIC', '-o', path.join(dir, 'libnvidia-ml.so.1'), src]);
}

test('NVML is loaded at run time when libnvidia-ml.so.1 can be found (stand-in library)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pronto-nvml-'));
  const failing = mkdtempSync(path.join(os.tmpdir(), 'pronto-nvml-fail-'));
  try {
    buildFakeNvml(dir, 0);
    buildFakeNvml(failing, 999);
    const env = (libDir: string) => ({ ...process.env, LD_LIBRARY_PATH: [libDir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') });
    const found = await startEngine({ model, args: ['--ctx', '256', '--parallel', '1'], env: env(dir) });
    try {
      const families = await scrape(found, {});
      assert.equal(scalar(families, 'pronto_nvml_available'), 1);
      // No ggml GPU device here, so nothing to ask NVML about: no utilisation figure, not a 0.
      assert.equal(families.get('pronto_gpu_utilization_ratio'), undefined);
    } finally {
      await found.stop();
    }
    const broken = await startEngine({ model, args: ['--ctx', '256', '--parallel', '1'], env: env(failing) });
    try {
      assert.equal(scalar(await scrape(broken, {}), 'pronto_nvml_available'), 0);
      // Logged when the first scrape loads NVML; the stderr pipe may deliver it after the answer.
      const end = Date.now() + 10_000;
      while (!/libnvidia-ml\.so\.1 found but NVML did not initialise/.test(broken.stderr()) && Date.now() < end)
        await new Promise((r) => setTimeout(r, 50)); // read stderr again
      assert.match(broken.stderr(), /libnvidia-ml\.so\.1 found but NVML did not initialise/);
    } finally {
      await broken.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(failing, { recursive: true, force: true });
  }
});
