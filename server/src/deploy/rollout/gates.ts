/**
 * Flagger's gates as pure functions: a measurement over a window (requests, failures, p95 latency)
 * checked against the deploy config's thresholds. Measurements come from:
 *   - the engine's Prometheus text (`/metrics` of each replica of a colour, sampled at the start and
 *     the end of the window: `sampleFromMetrics` + `measureBetween`), or
 *   - PromQL over the window (metrics.ts), or
 *   - the controller's own analysis requests through the preview service (analysis.ts).
 */
import type { Gates } from '../config/schema';
import type { GateResult, GateStage } from './machine';

/** The counters of one colour at one moment (summed over its replicas). */
export interface MetricsSample {
  /** Requests the engine finished (pronto_requests_total). */
  finished: number;
  /** Requests that failed on the server's side (internal, overloaded, prompt_too_long). */
  failed: number;
  /** Cumulative latency histogram: upper bound (s) → count (pronto_request_latency_seconds_bucket). */
  latencyBuckets: Map<number, number>;
}

export interface Measurement {
  requests: number;
  failures: number;
  /** null: no request in the window. */
  p95Seconds: number | null;
}

/** Error kinds that are the server's fault; the rest (bad_request, unauthorized, not_found) are the client's. */
export const SERVER_ERROR_KINDS = ['internal', 'overloaded', 'prompt_too_long'] as const;

/** Parses the Prometheus text format into `name{labels}` → value (only what the gates need). */
export function parsePrometheusText(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (!Number.isNaN(v)) out.push({ name: m[1]!, labels, value: v });
  }
  return out;
}

export function sampleFromMetrics(text: string): MetricsSample {
  const sample: MetricsSample = { finished: 0, failed: 0, latencyBuckets: new Map() };
  for (const s of parsePrometheusText(text)) {
    if (s.name === 'pronto_requests_total') sample.finished += s.value;
    else if (s.name === 'pronto_errors_total' && (SERVER_ERROR_KINDS as readonly string[]).includes(s.labels.kind ?? ''))
      sample.failed += s.value;
    else if (s.name === 'pronto_request_latency_seconds_bucket') {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      if (!Number.isNaN(le)) sample.latencyBuckets.set(le, (sample.latencyBuckets.get(le) ?? 0) + s.value);
    }
  }
  return sample;
}

export function addSamples(a: MetricsSample, b: MetricsSample): MetricsSample {
  const buckets = new Map(a.latencyBuckets);
  for (const [le, n] of b.latencyBuckets) buckets.set(le, (buckets.get(le) ?? 0) + n);
  return { finished: a.finished + b.finished, failed: a.failed + b.failed, latencyBuckets: buckets };
}

/**
 * Prometheus' histogram_quantile over cumulative buckets: linear interpolation inside the bucket
 * that holds the rank; the +Inf bucket answers with the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number | null {
  const sorted = [...buckets.entries()].sort((x, y) => x[0] - y[0]);
  const total = sorted.length ? sorted[sorted.length - 1]![1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      if (count === prevCount) return bound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / (count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

/** The window between two samples; a counter that went down means the engine restarted (null). */
export function measureBetween(start: MetricsSample, end: MetricsSample): Measurement | null {
  const finished = end.finished - start.finished;
  const failed = end.failed - start.failed;
  if (finished < 0 || failed < 0) return null;
  const delta = new Map<number, number>();
  for (const [le, n] of end.latencyBuckets) {
    const d = n - (start.latencyBuckets.get(le) ?? 0);
    if (d < 0) return null;
    delta.set(le, d);
  }
  return { requests: finished + failed, failures: failed, p95Seconds: histogramQuantile(0.95, delta) };
}

export const pct = (x: number) => `${(x * 100).toFixed(x >= 0.999 && x < 1 ? 2 : 1)}%`;
export const secs = (x: number) => (x < 1 ? `${Math.round(x * 1000)} ms` : `${x.toFixed(2)} s`);

/** The three gates for one measurement, each with its threshold and measured value. */
export function evaluateGates(m: Measurement, gates: Gates, source: string, stage: GateStage = 'analysis'): GateResult[] {
  const rate = m.requests > 0 ? (m.requests - m.failures) / m.requests : null;
  return [
    {
      stage,
      name: 'requests',
      source,
      threshold: `≥ ${gates.minRequests}`,
      measured: String(m.requests),
      passed: m.requests >= gates.minRequests,
      value: m.requests,
      limit: gates.minRequests,
    },
    {
      stage,
      name: 'success rate',
      source,
      threshold: `≥ ${pct(gates.minSuccessRate)}`,
      measured: rate === null ? 'no requests' : `${pct(rate)} (${m.failures} of ${m.requests} failed)`,
      // No requests: the `requests` gate speaks for it (unless no minimum was asked for).
      passed: rate === null ? gates.minRequests === 0 : rate >= gates.minSuccessRate,
      value: rate ?? undefined,
      limit: gates.minSuccessRate,
    },
    {
      stage,
      name: 'p95 latency',
      source,
      threshold: `≤ ${secs(gates.maxP95Latency)}`,
      measured: m.p95Seconds === null ? 'no requests' : secs(m.p95Seconds),
      passed: m.p95Seconds === null ? gates.minRequests === 0 : m.p95Seconds <= gates.maxP95Latency,
      value: m.p95Seconds ?? undefined,
      limit: gates.maxP95Latency,
    },
  ];
}

/** p95 of a list of latencies (s), nearest-rank; the client-side view of the analysis requests. */
export function p95(latencies: number[]): number | null {
  if (!latencies.length) return null;
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
}
