/**
 * The engine's /metrics text parsed with the npm parser (parse-prometheus-text-format) and reduced to
 * the monitor's numbers: on a capture of the real engine's output (test/fixtures/engine-metrics.prom,
 * refreshed by hand from a running engine; test/integration/monitor-engine.test.ts checks a live one),
 * and on hostile input.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { reduceExposition, unavailableReasons } from '../../server/src/monitor/engineSample';
import { MAX_METRICS_BYTES, parseExposition, promNumber, scalar } from '../../server/src/monitor/prometheusText';

const fixture = readFileSync(path.join(__dirname, '..', 'fixtures', 'engine-metrics.prom'), 'utf8');

test('the real engine output parses: histograms with buckets, counters, labelled errors, gauges', () => {
  const r = parseExposition(fixture);
  assert.ok(r.ok, r.ok ? '' : r.error);
  const latency = r.families.get('pronto_request_latency_seconds');
  assert.equal(latency?.type, 'histogram');
  assert.ok(latency?.histogram);
  assert.equal(latency.histogram.count, 3);
  assert.equal(latency.histogram.buckets.at(-1)?.le, Number.POSITIVE_INFINITY);
  assert.equal(latency.histogram.buckets.at(-1)?.count, 3);
  assert.ok(
    latency.histogram.buckets.every((b, i, all) => i === 0 || b.le > all[i - 1]!.le),
    'buckets sorted by bound',
  );
  assert.equal(scalar(r.families, 'pronto_requests_total'), 3);
  assert.equal(r.families.get('pronto_errors_total')?.samples.length, 6);
  assert.equal(scalar(r.families, 'pronto_errors_total'), 0);
  assert.equal(
    scalar(r.families, 'pronto_errors_total', (l) => l.kind === 'bad_request'),
    0,
  );
  assert.equal(scalar(r.families, 'pronto_sequences'), 4);
  // The network side's labelled series come through too.
  assert.equal(r.families.get('pronto_connections_refused_total')?.samples.length, 3);
  assert.ok((scalar(r.families, 'pronto_connections_accepted_total') ?? 0) >= 1);

  const s = reduceExposition(r.families, 1000);
  assert.equal(s.requests, 3);
  assert.equal(s.generated, 24);
  assert.equal(s.promptReused, 28);
  assert.equal(s.promptEvaluated, 17);
  assert.equal(s.perToken?.count, 21);
  assert.ok(s.kvUsage !== undefined && s.kvUsage > 0 && s.kvUsage < 1);
  // The machine's figures (native/src/system_metrics.cpp): no GPU here, so none of those, and why.
  assert.equal(s.gpuDevices, 0);
  assert.equal(s.nvml, 0);
  assert.equal(s.gpuMemUsed, undefined);
  assert.equal(s.gpuUtil, undefined);
  assert.ok(s.cpuSeconds !== undefined && s.cpuSeconds > 0, 'CPU time');
  assert.ok(s.rss !== undefined && s.rss > 1e6, 'resident memory');
  assert.ok(s.hostMemTotal !== undefined && s.hostMemAvailable !== undefined && s.hostMemAvailable <= s.hostMemTotal);
  assert.ok(s.cpus !== undefined && s.cpus >= 1);
  const reasons = unavailableReasons(s);
  assert.match(reasons.gpuUtilisationPercent ?? '', /no GPU/);
  assert.match(reasons.gpuMemoryPercent ?? '', /no GPU/);
  assert.equal(reasons.cpuUtilisationPercent, undefined);
  assert.equal(reasons.ramPercent, undefined);
});

test('numbers: +Inf, NaN and overflow are what they are, never 0', () => {
  assert.equal(promNumber('+Inf'), Number.POSITIVE_INFINITY);
  assert.equal(promNumber('-Inf'), Number.NEGATIVE_INFINITY);
  assert.ok(Number.isNaN(promNumber('NaN')));
  assert.equal(promNumber('1e400'), Number.POSITIVE_INFINITY);
  assert.equal(promNumber('2.5e-3'), 0.0025);
  assert.ok(Number.isNaN(promNumber('0x10')));
  assert.ok(Number.isNaN(promNumber('')));
  assert.ok(Number.isNaN(promNumber(undefined)));
  // A counter of 1e400 is not a usable value: the series stays unmeasured.
  const r = parseExposition('# TYPE pronto_requests_total counter\npronto_requests_total 1e400\n');
  assert.ok(r.ok);
  assert.equal(scalar(r.families, 'pronto_requests_total'), undefined);
});

test('the last sample is kept when the text has no final line break', () => {
  const r = parseExposition('# TYPE pronto_busy_sequences gauge\npronto_busy_sequences 2');
  assert.ok(r.ok);
  assert.equal(scalar(r.families, 'pronto_busy_sequences'), 2);
});

test('bad input is a result, not an exception', () => {
  for (const text of ['<html>502 Bad Gateway</html>', 'x{a=b} 1', '# TYPE a histogram extra\n', 'a{b="c" 1']) {
    const r = parseExposition(text);
    assert.equal(r.ok, false, `${JSON.stringify(text)} was accepted`);
    assert.match(r.ok ? '' : r.error, /not Prometheus text/);
  }
  const huge = parseExposition('a 1\n'.repeat(MAX_METRICS_BYTES / 4 + 1));
  assert.equal(huge.ok, false);
  assert.match(huge.ok ? '' : huge.error, /too large/);
  // A 60,000-character label value is just data.
  const long = parseExposition(`pronto_gpu_memory_used_bytes{name="${'x'.repeat(60_000)}"} 5\n`);
  assert.ok(long.ok);
  assert.equal(scalar(long.families, 'pronto_gpu_memory_used_bytes'), 5);
});

test('a histogram with labels besides le is left unread (the parser merges its label sets)', () => {
  const text = [
    '# TYPE h histogram',
    'h_bucket{tenant="a",le="1"} 1',
    'h_bucket{tenant="a",le="+Inf"} 1',
    'h_sum{tenant="a"} 0.5',
    'h_count{tenant="a"} 1',
    'h_bucket{tenant="b",le="1"} 0',
    'h_bucket{tenant="b",le="+Inf"} 4',
    'h_sum{tenant="b"} 20',
    'h_count{tenant="b"} 4',
    '',
  ].join('\n');
  const r = parseExposition(text);
  assert.ok(r.ok);
  assert.equal(r.families.get('h')?.type, 'histogram');
  assert.equal(r.families.get('h')?.histogram, undefined);
});
