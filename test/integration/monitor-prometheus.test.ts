/**
 * The operators' monitoring files (deploy/monitoring/) against a REAL Prometheus (Debian's package,
 * installed by scripts/install-monitoring.mjs) scraping a real engine:
 *   - `promtool check config` / `check rules` pass on the shipped files, and `promtool test rules`
 *     runs the shipped rule tests (hysteresis included);
 *   - a copy of the shipped config and rules (1 s scrapes, 10 s windows, 2 s hold: only the timing is
 *     changed, the thresholds are the shipped ones) scrapes the engine with its API key; the series
 *     land (asked through Prometheus' HTTP API);
 *   - the shipped latency alert goes firing when the engine is made slow (long generations, made
 *     longer until one takes 5× the threshold) and resolved when it is fast again (one-token
 *     requests) — bound by the alert's state, not by time;
 *   - every query of the Grafana dashboard is valid PromQL and the main ones return series.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import type { DoneEvent, SubmitMessage } from '../../protocol/engine';
import { EngineSocket, startEngine, type RunningEngine } from '../support/engine';
import { ensureTestModels } from '../support/models';

const repoRoot = path.resolve(__dirname, '..', '..');
const shipped = path.join(repoRoot, 'deploy', 'monitoring');
const KEY = 'prometheus-test-key';
const THRESHOLD_S = 0.2;

let engine: RunningEngine;
let prometheus: ChildProcess | undefined;
let promUrl = '';
let work = '';
let promLog = '';

function promtool(...args: string[]): string {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: shipped });
  if (r.error) throw new Error(`promtool is not installed (${r.error.message}): run node scripts/install-monitoring.mjs`);
  assert.equal(r.status, 0, `promtool ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function api<T>(query: string): Promise<T> {
  const res = await fetch(`${promUrl}${query}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  assert.equal(body.status, 'success', `${query}: ${body.error}`);
  return body.data;
}

type Vector = { metric: Record<string, string>; value: [number, string] }[];
const instant = (expr: string) => api<{ result: Vector }>(`/api/v1/query?query=${encodeURIComponent(expr)}`).then((d) => d.result);

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}
const alerts = () =>
  api<{ alerts: PromAlert[] }>('/api/v1/alerts').then((d) => d.alerts.filter((a) => a.labels.alertname === 'ProntoLatencyP95High'));

/** Polls `check` until it returns a value, at most `deadlineMs` (a guard against hangs, not a timing). */
async function until<T>(what: string, deadlineMs: number, check: () => Promise<T | undefined>, step?: () => Promise<void>): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${deadlineMs} ms\nPrometheus log:\n${promLog.slice(-3000)}`);
    if (step) await step();
    else await new Promise((r) => setTimeout(r, 250)); // ask the API again
  }
}

before(async () => {
  const { target } = await ensureTestModels();
  engine = await startEngine({ model: target, args: ['--ctx', '8192', '--parallel', '1', '--api-key', KEY] });
  work = mkdtempSync(path.join(os.tmpdir(), 'pronto-prometheus-'));
});

after(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    prometheus.kill('SIGTERM');
    const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  await engine?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('promtool accepts the shipped scrape config and rules, and the shipped rule tests pass', () => {
  assert.match(promtool('check', 'config', 'prometheus.yml'), /SUCCESS: prometheus\.yml is valid prometheus config file syntax/);
  assert.match(promtool('check', 'rules', 'pronto-rules.yml'), /SUCCESS: 9 rules found/);
  assert.match(promtool('test', 'rules', 'pronto-rules.test.yml'), /SUCCESS/);
});

test('a real Prometheus scrapes the engine with its API key: the series land', { timeout: 120_000 }, async () => {
  // The test's copy: the shipped files with faster timing, pointed at this engine, with its key.
  const config = parse(readFileSync(path.join(shipped, 'prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[]; authorization?: unknown }[];
  };
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  const job = config.scrape_configs.find((j) => j.job_name === 'pronto-engine');
  assert.ok(job, 'the shipped config has the pronto-engine job');
  job.static_configs = [{ targets: [`127.0.0.1:${engine.port}`] }];
  writeFileSync(path.join(work, 'pronto-api-key'), KEY);
  job.authorization = { type: 'Bearer', credentials_file: 'pronto-api-key' };
  writeFileSync(path.join(work, 'prometheus.yml'), stringify(config));
  let rules = readFileSync(path.join(shipped, 'pronto-rules.yml'), 'utf8');
  const swaps: Array<[RegExp, string]> = [
    [/\[1m\]/g, '[10s]'],
    [/ for: 30s/g, ' for: 2s'],
    [/ keep_firing_for: 30s/g, ' keep_firing_for: 2s'],
  ];
  for (const [re, to] of swaps) {
    assert.ok(re.test(rules), `the shipped rules contain ${re}`);
    rules = rules.replace(re, to);
  }
  writeFileSync(path.join(work, 'pronto-rules.yml'), rules);
  const check = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: work, encoding: 'utf8' });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);

  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${path.join(work, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(work, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      promLog += d.toString();
      if (promLog.includes('Server is ready to receive web requests.')) resolve();
    };
    prometheus!.stderr!.on('data', onData);
    prometheus!.stdout!.on('data', onData);
    prometheus!.once('exit', (code) => reject(new Error(`prometheus exited (${code}) before it was ready:\n${promLog}`)));
  });
  await ready;

  // Scraped with the key (a missing or wrong key would make `up` 0: the engine answers 401).
  await until('the engine target is up', 60_000, async () => {
    const r = await instant('up{job="pronto-engine"}');
    return r[0]?.value[1] === '1' ? r : undefined;
  });
  const socket = await EngineSocket.open(engine.url, { Authorization: `Bearer ${KEY}` });
  try {
    const r = await socket.request({
      type: 'submit',
      id: 'land',
      fim: { prefix: 'x = ', suffix: '' },
      limits: { max_tokens: 4, ignore_eos: true },
    });
    assert.ok(r.done);
  } finally {
    await socket.close();
  }
  await until('pronto_requests_total reaches Prometheus', 30_000, async () => {
    const r = await instant('pronto_requests_total{job="pronto-engine"}');
    return Number(r[0]?.value[1]) >= 1 ? r : undefined;
  });
  for (const name of [
    'pronto_request_latency_seconds_bucket',
    'pronto_generated_tokens_total',
    'pronto_kv_cache_usage_ratio',
    'pronto_busy_sequences',
    'process_cpu_seconds_total',
    'pronto_host_memory_available_bytes',
  ]) {
    const r = await instant(`${name}{job="pronto-engine"}`);
    assert.ok(r.length > 0, `${name} landed in Prometheus`);
    assert.equal(r[0]!.metric.instance, `127.0.0.1:${engine.port}`);
  }
  assert.equal((await instant('pronto_gpu_devices'))[0]?.value[1], '0');
  // The recording rules run too.
  const memory = await until('pronto:memory_used_ratio is recorded', 30_000, async () => {
    const r = await instant('pronto:memory_used_ratio');
    return r.length ? r : undefined;
  });
  assert.ok(Number(memory[0]!.value[1]) > 0 && Number(memory[0]!.value[1]) < 1);
});

let requestNo = 0;
async function generate(socket: EngineSocket, maxTokens: number): Promise<DoneEvent> {
  const msg: SubmitMessage = {
    type: 'submit',
    id: `p${requestNo++}`,
    fim: { prefix: 'def f(x):\n    return', suffix: '\n' },
    limits: { max_tokens: maxTokens, ignore_eos: true },
  };
  const r = await socket.request(msg);
  assert.ok(r.done, JSON.stringify(r.error));
  return r.done;
}

test('the shipped latency alert goes firing when the engine is slow and resolved when it is fast again', {
  timeout: 420_000,
}, async (t) => {
  assert.ok(promUrl, 'Prometheus runs (previous test)');
  assert.deepEqual(await alerts(), [], 'no alert before the slow requests');
  const socket = await EngineSocket.open(engine.url, { Authorization: `Bearer ${KEY}` });
  try {
    // Slow: long generations, made longer until one takes 5× the threshold on this machine.
    let slowTokens = 256;
    for (;;) {
      const d = await generate(socket, slowTokens);
      if (d.stats.t_total_ms >= 5 * THRESHOLD_S * 1000) break;
      assert.ok(slowTokens < 6000, `even ${slowTokens} tokens took only ${d.stats.t_total_ms} ms`);
      slowTokens *= 2;
    }
    let slowRequests = 0;
    await until(
      'ProntoLatencyP95High fires',
      180_000,
      async () => ((await alerts()).some((a) => a.state === 'firing') ? true : undefined),
      async () => {
        slowRequests++;
        await generate(socket, slowTokens);
      },
    );
    const p95 = Number((await instant('pronto:request_latency_seconds:p95'))[0]?.value[1]);
    assert.ok(p95 > THRESHOLD_S, `the recorded p95 ${p95} s is above the threshold`);
    // Fast: one-token requests until the alert is gone (resolved).
    let fastRequests = 0;
    await until(
      'ProntoLatencyP95High resolves',
      180_000,
      async () => ((await alerts()).length === 0 ? true : undefined),
      async () => {
        fastRequests++;
        await generate(socket, 1);
      },
    );
    const after = (await instant('pronto:request_latency_seconds:p95'))[0]?.value[1];
    t.diagnostic(`slow: ${slowTokens} tokens × ${slowRequests}, fast: ${fastRequests}, p95 after: ${after} s`);
  } finally {
    await socket.close();
  }
});

test('every query of the Grafana dashboard is valid PromQL; the main charts have data', async () => {
  assert.ok(promUrl, 'Prometheus runs (previous tests)');
  const dashboard = JSON.parse(readFileSync(path.join(shipped, 'grafana-dashboard.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const withData: string[] = [];
  for (const panel of dashboard.panels) {
    for (const t of panel.targets) {
      const expr = t.expr.replaceAll('$job', '.*').replaceAll('$instance', '.*').replaceAll('$__rate_interval', '30s');
      const result = await instant(expr); // status "success", else the assertion in api() names the query
      if (result.length) withData.push(panel.title);
    }
  }
  for (const title of [
    'Engine latency',
    'Decode speed',
    'Prompt tokens',
    'Sequences and queue',
    'KV cache',
    'Memory',
    'Utilisation',
    'Error rate',
    'Requests',
  ])
    assert.ok(withData.includes(title), `"${title}" shows data (panels with data: ${[...new Set(withData)].join(', ')})`);
});
