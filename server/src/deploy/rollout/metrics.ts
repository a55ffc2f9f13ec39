/**
 * Where the server-side gate measurements come from, over one window on one colour:
 *   - ScrapeSource: each replica's `/metrics` at the start and at the end of the window (the
 *     counters' difference); no Prometheus needed.
 *   - PrometheusSource: PromQL over `[window]` at its end, from the Prometheus in `metrics.prometheus`.
 */
import type { Colour } from '../manifests/render';
import { readBody, type Platform } from '../platform/types';
import { addSamples, measureBetween, type Measurement, type MetricsSample, sampleFromMetrics, SERVER_ERROR_KINDS } from './gates';

export interface WindowHandle {
  finish(): Promise<Measurement>;
}

export interface MetricsSource {
  /** "green /metrics", "prometheus". */
  label(colour: Colour): string;
  begin(colour: Colour): Promise<WindowHandle>;
}

export class ScrapeSource implements MetricsSource {
  constructor(private readonly platform: Platform) {}

  label(colour: Colour): string {
    return `${colour} /metrics`;
  }

  private async sample(colour: Colour): Promise<MetricsSample> {
    const n = await this.platform.replicas(colour);
    if (n === 0) throw new Error(`${colour} has no replica to scrape`);
    let total: MetricsSample = { finished: 0, failed: 0, latencyBuckets: new Map() };
    for (let i = 0; i < n; i++) {
      const res = await this.platform.request(
        { colour, replica: i },
        { method: 'GET', path: '/metrics', signal: AbortSignal.timeout(10_000) },
      );
      const text = await readBody(res, 4 << 20);
      if (res.status !== 200) throw new Error(`${colour} replica ${i} /metrics answered HTTP ${res.status}`);
      total = addSamples(total, sampleFromMetrics(text));
    }
    return total;
  }

  async begin(colour: Colour): Promise<WindowHandle> {
    const start = await this.sample(colour);
    return {
      finish: async () => {
        const m = measureBetween(start, await this.sample(colour));
        if (!m) throw new Error(`${colour}'s counters went down during the window: an engine restarted`);
        return m;
      },
    };
  }
}

export class PrometheusSource implements MetricsSource {
  constructor(
    private readonly baseUrl: string,
    private readonly platform: Platform,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  label(): string {
    return `prometheus ${this.baseUrl}`;
  }

  /** One instant query; a missing series (no traffic) reads as 0, or null for a quantile. */
  async query(promql: string, at: number): Promise<number | null> {
    const url = `${this.baseUrl.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(promql)}&time=${(at / 1000).toFixed(3)}`;
    const res = await this.fetchImpl(url, { signal: AbortSignal.timeout(15_000) });
    const body = (await res.json().catch(() => undefined)) as
      | { status?: string; error?: string; data?: { resultType?: string; result?: Array<{ value?: [number, string] }> } }
      | undefined;
    if (!res.ok || body?.status !== 'success')
      throw new Error(`Prometheus query failed (HTTP ${res.status}): ${body?.error ?? 'no JSON answer'}: ${promql}`);
    const v = body.data?.result?.[0]?.value?.[1];
    if (v === undefined) return null;
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }

  async begin(colour: Colour): Promise<WindowHandle> {
    const started = Date.now();
    const sel = await this.platform.promSelector(colour);
    return {
      finish: async () => {
        const now = Date.now();
        const w = `${Math.max(1, Math.round((now - started) / 1000))}s`;
        const kinds = SERVER_ERROR_KINDS.join('|');
        const [finished, failed, p95] = await Promise.all([
          this.query(`sum(increase(pronto_requests_total{${sel}}[${w}]))`, now),
          this.query(`sum(increase(pronto_errors_total{${sel},kind=~"${kinds}"}[${w}]))`, now),
          this.query(`histogram_quantile(0.95, sum by (le) (increase(pronto_request_latency_seconds_bucket{${sel}}[${w}])))`, now),
        ]);
        const f = Math.round(finished ?? 0);
        const e = Math.round(failed ?? 0);
        return { requests: f + e, failures: e, p95Seconds: f + e > 0 ? p95 : null };
      },
    };
  }
}

export function metricsSourceFor(platform: Platform, prometheusUrl: string): MetricsSource {
  return prometheusUrl ? new PrometheusSource(prometheusUrl, platform) : new ScrapeSource(platform);
}
