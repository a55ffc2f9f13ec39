// The PromQL gate source against a local HTTP server that answers as Prometheus' HTTP API documents
// (GET /api/v1/query → {status, data: {resultType: "vector", result: [{metric, value: [t, "v"]}]}}):
// the exact queries, the window in them, a missing series (no traffic), and an error answer.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Platform } from '../../server/src/deploy/platform/types';
import { PrometheusSource } from '../../server/src/deploy/rollout/metrics';

const queries: string[] = [];
let answers: Record<string, string | null> = {};
let server: http.Server;
let url = '';

before(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/api/v1/query') {
      res.writeHead(404).end();
      return;
    }
    const q = u.searchParams.get('query') ?? '';
    queries.push(q);
    if (q.includes('bad')) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error at char 3' }));
      return;
    }
    const key = Object.keys(answers).find((k) => q.startsWith(k));
    const v = key === undefined ? null : answers[key];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        status: 'success',
        data: { resultType: 'vector', result: v === null ? [] : [{ metric: {}, value: [Number(u.searchParams.get('time')), v] }] },
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const platform = { promSelector: async (c: string) => `namespace="pronto",pod=~"pronto-team-${c}-.*"` } as unknown as Platform;

test('a window measured with PromQL: requests, server-side failures, p95', async () => {
  answers = {
    'sum(increase(pronto_requests_total': '97.00000001',
    'sum(increase(pronto_errors_total': '3',
    'histogram_quantile(0.95': '0.42',
  };
  queries.length = 0;
  const source = new PrometheusSource(url, platform);
  const handle = await source.begin('green');
  const m = await handle.finish();
  assert.deepEqual(m, { requests: 100, failures: 3, p95Seconds: 0.42 });
  assert.deepEqual(
    queries.map((q) => q.replace(/\[\d+s\]/, '[W]')),
    [
      'sum(increase(pronto_requests_total{namespace="pronto",pod=~"pronto-team-green-.*"}[W]))',
      'sum(increase(pronto_errors_total{namespace="pronto",pod=~"pronto-team-green-.*",kind=~"internal|overloaded|prompt_too_long"}[W]))',
      'histogram_quantile(0.95, sum by (le) (increase(pronto_request_latency_seconds_bucket{namespace="pronto",pod=~"pronto-team-green-.*"}[W])))',
    ],
  );
  assert.equal(source.label(), `prometheus ${url}`);
});

test('no series (no traffic in the window): zero requests and no p95', async () => {
  answers = { 'histogram_quantile(0.95': 'NaN' };
  const m = await (await new PrometheusSource(url, platform).begin('blue')).finish();
  assert.deepEqual(m, { requests: 0, failures: 0, p95Seconds: null });
});

test('an error answer names the query and Prometheus’ reason', async () => {
  await assert.rejects(
    new PrometheusSource(url, platform).query('bad query', Date.now()),
    /Prometheus query failed \(HTTP 400\): parse error at char 3: bad query/,
  );
  await assert.rejects(new PrometheusSource('http://127.0.0.1:1', platform).query('up', Date.now()), /fetch failed|ECONNREFUSED/);
});
