import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parseDeployConfig } from '../../server/src/deploy/config/load';
import {
  evaluateGates,
  histogramQuantile,
  measureBetween,
  p95,
  parsePrometheusText,
  sampleFromMetrics,
} from '../../server/src/deploy/rollout/gates';

const metrics = (finished: number, errors: Record<string, number>, buckets: Array<[string, number]>) =>
  [
    '# HELP pronto_requests_total Requests finished.',
    '# TYPE pronto_requests_total counter',
    `pronto_requests_total ${finished}`,
    ...Object.entries(errors).map(([k, v]) => `pronto_errors_total{kind="${k}"} ${v}`),
    ...buckets.map(([le, n]) => `pronto_request_latency_seconds_bucket{le="${le}"} ${n}`),
    'pronto_busy_sequences 1',
  ].join('\n');

const gates = (() => {
  const r = parseDeployConfig(
    'name: t\ntarget: {kind: local}\nmodel: {path: /m}\ngates: {minSuccessRate: 0.99, maxP95Latency: 500ms, minRequests: 10}\n',
  );
  if (!r.ok) throw new Error('config');
  return r.config.gates;
})();

test('Prometheus text: labels, +Inf, comments, garbage lines ignored', () => {
  const s = parsePrometheusText('# x\nfoo{a="1",b="q\\"x"} 3\nbar +Inf\nnot a metric line\nbaz NaN\n');
  assert.deepEqual(s, [
    { name: 'foo', labels: { a: '1', b: 'q\\"x' }, value: 3 },
    { name: 'bar', labels: {}, value: Infinity },
  ]);
});

test('server-side failures count; client mistakes do not', () => {
  const s = sampleFromMetrics(metrics(10, { internal: 1, overloaded: 2, prompt_too_long: 3, bad_request: 50, unauthorized: 9 }, []));
  assert.equal(s.finished, 10);
  assert.equal(s.failed, 6);
});

test('histogram quantile: interpolation inside the bucket, +Inf answers the last finite bound, empty is null', () => {
  const b = new Map<number, number>([
    [0.1, 50],
    [0.5, 90],
    [1, 100],
    [Infinity, 100],
  ]);
  assert.equal(histogramQuantile(0.5, b), 0.1);
  assert.ok(Math.abs(histogramQuantile(0.95, b)! - 0.75) < 1e-9);
  assert.equal(
    histogramQuantile(
      0.99,
      new Map([
        [0.1, 0],
        [Infinity, 10],
      ]),
    ),
    0.1,
  );
  assert.equal(
    histogramQuantile(
      0.95,
      new Map([
        [0.1, 0],
        [Infinity, 0],
      ]),
    ),
    null,
  );
});

test('window between samples: deltas; a counter reset (engine restart) is null', () => {
  const start = sampleFromMetrics(
    metrics(100, { internal: 0 }, [
      ['0.1', 100],
      ['1', 100],
      ['+Inf', 100],
    ]),
  );
  const end = sampleFromMetrics(
    metrics(118, { internal: 2 }, [
      ['0.1', 110],
      ['1', 118],
      ['+Inf', 118],
    ]),
  );
  const m = measureBetween(start, end)!;
  assert.equal(m.requests, 20);
  assert.equal(m.failures, 2);
  assert.ok(m.p95Seconds! > 0.1 && m.p95Seconds! <= 1);
  assert.equal(measureBetween(end, start), null);
});

const TABLE: Array<[string, { requests: number; failures: number; p95Seconds: number | null }, Record<string, boolean>]> = [
  ['healthy', { requests: 40, failures: 0, p95Seconds: 0.02 }, { requests: true, 'success rate': true, 'p95 latency': true }],
  ['erroring', { requests: 40, failures: 20, p95Seconds: 0.02 }, { requests: true, 'success rate': false, 'p95 latency': true }],
  ['at the boundary (99%)', { requests: 100, failures: 1, p95Seconds: 0.5 }, { requests: true, 'success rate': true, 'p95 latency': true }],
  ['slow', { requests: 40, failures: 0, p95Seconds: 0.8 }, { requests: true, 'success rate': true, 'p95 latency': false }],
  ['too few requests', { requests: 3, failures: 0, p95Seconds: 0.01 }, { requests: false, 'success rate': true, 'p95 latency': true }],
  ['no traffic', { requests: 0, failures: 0, p95Seconds: null }, { requests: false, 'success rate': false, 'p95 latency': false }],
];
for (const [title, m, expected] of TABLE) {
  test(`gates: ${title}`, () => {
    const results = evaluateGates(m, gates, 'green /metrics');
    assert.deepEqual(Object.fromEntries(results.map((g) => [g.name, g.passed])), expected);
    for (const g of results) {
      assert.ok(g.threshold && g.measured, 'every gate shows its threshold and measured value');
      assert.equal(g.source, 'green /metrics');
    }
  });
}

test('gate texts a person reads', () => {
  const [req, rate, lat] = evaluateGates({ requests: 40, failures: 20, p95Seconds: 0.8 }, gates, 's');
  assert.equal(req!.threshold, '≥ 10');
  assert.equal(rate!.measured, '50.0% (20 of 40 failed)');
  assert.equal(rate!.threshold, '≥ 99.0%');
  assert.equal(lat!.measured, '800 ms');
  assert.equal(lat!.threshold, '≤ 500 ms');
});

test('client-side p95 (nearest rank)', () => {
  assert.equal(p95([]), null);
  assert.equal(p95([5]), 5);
  assert.equal(p95(Array.from({ length: 100 }, (_, i) => i + 1)), 95);
});
