/**
 * The engine's `/metrics` text (Prometheus exposition format 0.0.4) parsed with the maintained npm
 * parser `parse-prometheus-text-format` (prom2json-compatible output), then turned into plain numbers
 * keyed by family name. The text crosses a trust boundary (a remote engine, or anything at that URL),
 * so the size is capped, a parse failure is a result rather than an exception, and every number is
 * checked (`+Inf`, `NaN`, `1e400` are read as what they are, never as 0).
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/** Larger answers are refused: the engine's whole /metrics is a few KB. */
export const MAX_METRICS_BYTES = 2 * 1024 * 1024;

export interface HistogramBucket {
  /** Upper bound in the metric's unit; Infinity for the last bucket. */
  le: number;
  /** Cumulative count of observations <= le. */
  count: number;
}

export interface HistogramValue {
  buckets: HistogramBucket[];
  sum: number;
  count: number;
}

export interface SampleValue {
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  /** Counters, gauges, untyped: one entry per label set. */
  samples: SampleValue[];
  /** Histograms without labels other than `le` (the library merges labelled ones; see below). */
  histogram?: HistogramValue;
}

export type Exposition = Map<string, MetricFamily>;

export type ParseResult = { ok: true; families: Exposition } | { ok: false; error: string };

/** A Prometheus float as written: `+Inf`, `-Inf`, `NaN` and plain decimals; NaN when it is none. */
export function promNumber(text: string | undefined): number {
  if (text === undefined) return Number.NaN;
  const t = text.trim();
  if (t === '+Inf' || t === 'Inf') return Number.POSITIVE_INFINITY;
  if (t === '-Inf') return Number.NEGATIVE_INFINITY;
  if (t === '' || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number.NaN;
  return Number(t);
}

/**
 * Parses an exposition. Histograms come out of the library with their buckets merged over label sets
 * and without count/sum when they carry labels other than `le`: such a histogram is left without a
 * `histogram` value (reported as unavailable), never half-read.
 */
export function parseExposition(text: string): ParseResult {
  if (text.length > MAX_METRICS_BYTES) return { ok: false, error: `metrics text too large (${text.length} bytes)` };
  let parsed: ReturnType<typeof parsePrometheusTextFormat>;
  try {
    // The library drops the last sample when the text does not end with a line break.
    parsed = parsePrometheusTextFormat(text.endsWith('\n') ? text : `${text}\n`);
  } catch (err) {
    return { ok: false, error: `not Prometheus text: ${(err as Error).message.slice(0, 200)}` };
  }
  if (!Array.isArray(parsed)) return { ok: false, error: 'not Prometheus text' };
  // The library is lenient ("<html>502 Bad Gateway</html>" is a metric named "<html>502" to it):
  // names and values are checked here.
  const bad = checkNamesAndValues(parsed);
  if (bad) return { ok: false, error: `not Prometheus text: ${bad}` };
  const families: Exposition = new Map();
  for (const f of parsed) {
    const type = (f.type ?? 'UNTYPED').toLowerCase() as MetricFamily['type'];
    const family: MetricFamily = { type, help: f.help ?? '', samples: [] };
    if (type === 'histogram') {
      const only = f.metrics.length === 1 ? f.metrics[0] : undefined;
      if (only?.buckets && only.count !== undefined && only.sum !== undefined) {
        const buckets = Object.entries(only.buckets)
          .map(([le, count]) => ({ le: promNumber(le), count: promNumber(count) }))
          .filter((b) => !Number.isNaN(b.le) && Number.isFinite(b.count) && b.count >= 0)
          .sort((a, b) => a.le - b.le);
        const count = promNumber(only.count);
        const sum = promNumber(only.sum);
        if (buckets.length > 0 && Number.isFinite(count) && Number.isFinite(sum)) family.histogram = { buckets, sum, count };
      }
    } else if (type !== 'summary') {
      for (const m of f.metrics) family.samples.push({ labels: m.labels ?? {}, value: promNumber(m.value) });
    }
    families.set(f.name, family);
  }
  return { ok: true, families };
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const isNumberText = (t: string | undefined) => t === undefined || t.trim() === 'NaN' || !Number.isNaN(promNumber(t));

function checkNamesAndValues(families: ReturnType<typeof parsePrometheusTextFormat>): string | undefined {
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) return `invalid metric name ${JSON.stringify(f.name.slice(0, 80))}`;
    for (const m of f.metrics) {
      const texts = [m.value, m.count, m.sum, ...Object.values(m.buckets ?? {}), ...Object.values(m.quantiles ?? {})];
      const wrong = texts.find((t) => !isNumberText(t));
      if (wrong !== undefined) return `invalid value ${JSON.stringify(wrong.slice(0, 80))} of ${f.name}`;
    }
  }
  return undefined;
}

/** The value of an unlabelled counter or gauge, or the sum over its label sets; undefined when absent. */
export function scalar(families: Exposition, name: string, match?: (labels: Record<string, string>) => boolean): number | undefined {
  const f = families.get(name);
  if (!f) return undefined;
  const values = f.samples.filter((s) => (match ? match(s.labels) : true)).map((s) => s.value);
  if (values.length === 0) return undefined;
  const total = values.reduce((a, b) => a + b, 0);
  return Number.isFinite(total) ? total : undefined;
}

/** Every label set's value of a family (e.g. one per GPU). */
export function labelled(families: Exposition, name: string): SampleValue[] {
  return families.get(name)?.samples.filter((s) => Number.isFinite(s.value)) ?? [];
}
