/**
 * Quantiles from Prometheus histogram buckets, the way Prometheus' `histogram_quantile` computes them
 * (linear interpolation inside the bucket holding the rank; the +Inf bucket answers with the highest
 * finite bound), and the difference of two cumulative snapshots (what happened between two scrapes,
 * Prometheus' `increase`). So the panel and a Grafana dashboard over the same engine agree.
 */
import type { HistogramBucket, HistogramValue } from './prometheusText';

/**
 * The q-quantile (0..1) of the observations in `buckets` (cumulative, any order), or null when
 * there are none (or the buckets are unusable: no +Inf bucket, fewer than two).
 */
export function histogramQuantile(q: number, buckets: readonly HistogramBucket[]): number | null {
  if (!(q >= 0 && q <= 1)) return null;
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  // Equal bounds (as "1" and "1.0" can be after parsing) are one bucket.
  const merged: HistogramBucket[] = [];
  for (const b of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.le === b.le) last.count = Math.max(last.count, b.count);
    else merged.push({ ...b });
  }
  if (merged.length < 2 || merged[merged.length - 1]!.le !== Number.POSITIVE_INFINITY) return null;
  // Cumulative counts must not fall (a scrape racing an update can make them): Prometheus'
  // ensureMonotonic.
  for (let i = 1; i < merged.length; i++) merged[i]!.count = Math.max(merged[i]!.count, merged[i - 1]!.count);
  const total = merged[merged.length - 1]!.count;
  if (!(total > 0)) return null;
  let rank = q * total;
  let b = merged.findIndex((x) => x.count >= rank);
  if (b < 0) b = merged.length - 1;
  if (b === merged.length - 1) return merged[merged.length - 2]!.le;
  if (b === 0 && merged[0]!.le <= 0) return merged[0]!.le;
  let start = 0;
  let count = merged[b]!.count;
  if (b > 0) {
    start = merged[b - 1]!.le;
    count -= merged[b - 1]!.count;
    rank -= merged[b - 1]!.count;
  }
  if (count <= 0) return merged[b]!.le;
  return start + (merged[b]!.le - start) * (rank / count);
}

/**
 * Observations between two cumulative snapshots. A counter that went down means the engine
 * restarted (counters start again at 0): then everything in `cur` is new, as in Prometheus' rate().
 */
export function histogramDelta(prev: HistogramValue | undefined, cur: HistogramValue): HistogramValue {
  if (!prev) return cur;
  const sameBounds = prev.buckets.length === cur.buckets.length && prev.buckets.every((b, i) => b.le === cur.buckets[i]!.le);
  if (!sameBounds || cur.count < prev.count) return cur;
  const buckets = cur.buckets.map((b, i) => ({ le: b.le, count: b.count - prev.buckets[i]!.count }));
  if (buckets.some((b) => b.count < 0)) return cur;
  return { buckets, sum: Math.max(0, cur.sum - prev.sum), count: cur.count - prev.count };
}

/** Increase of a counter between two scrapes (a reset counts from 0); undefined when either is unknown. */
export function counterDelta(prev: number | undefined, cur: number | undefined): number | undefined {
  if (cur === undefined || !Number.isFinite(cur)) return undefined;
  if (prev === undefined || !Number.isFinite(prev)) return undefined;
  return cur >= prev ? cur - prev : cur;
}
