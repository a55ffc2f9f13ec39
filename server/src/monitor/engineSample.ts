/**
 * From scrapes of an engine's `/metrics` to the monitor's series (protocol/monitorData.ts): pure
 * functions, table-tested. A scrape is first reduced to the few numbers the monitor uses
 * (`reduceExposition`); two scrapes give the interval's values (`deriveEngineValues`: quantiles of
 * the histogram differences, counter increases, gauges as read), and the scrape at the start of the
 * alert window gives the windowed values the alert rules watch.
 *
 * What the engine does not report stays undefined here and becomes `null` in the series, with a
 * reason in `unavailableReasons` (no GPU, no NVML, an engine version without the metric): the panel
 * says "unavailable", never 0.
 */
import type { CompletionRecord } from '../../../protocol/lsp';
import type { MonitorMetricId } from '../../../protocol/monitorData';
import { percentile } from '../stats';
import { counterDelta, histogramDelta, histogramQuantile } from './histogram';
import { labelled, scalar, type Exposition, type HistogramValue } from './prometheusText';

/** The engine metric names the monitor reads (documented in native/README.md, "Metrics"). */
export const ENGINE_METRIC_NAMES = {
  latency: 'pronto_request_latency_seconds',
  ttft: 'pronto_time_to_first_token_seconds',
  perToken: 'pronto_per_token_latency_seconds',
  requests: 'pronto_requests_total',
  errors: 'pronto_errors_total',
  generated: 'pronto_generated_tokens_total',
  promptEvaluated: 'pronto_prompt_tokens_evaluated_total',
  promptReused: 'pronto_prompt_tokens_reused_total',
  drafted: 'pronto_drafted_tokens_total',
  accepted: 'pronto_accepted_tokens_total',
  busy: 'pronto_busy_sequences',
  queueDepth: 'pronto_queue_depth',
  sequences: 'pronto_sequences',
  kvUsage: 'pronto_kv_cache_usage_ratio',
  gpuDevices: 'pronto_gpu_devices',
  gpuMemUsed: 'pronto_gpu_memory_used_bytes',
  gpuMemTotal: 'pronto_gpu_memory_total_bytes',
  gpuUtil: 'pronto_gpu_utilization_ratio',
  nvml: 'pronto_nvml_available',
  cpuSeconds: 'process_cpu_seconds_total',
  rss: 'process_resident_memory_bytes',
  hostMemTotal: 'pronto_host_memory_total_bytes',
  hostMemAvailable: 'pronto_host_memory_available_bytes',
  cpus: 'pronto_host_cpus',
} as const;

/** One scrape, reduced. Absent numbers: the engine did not report them. */
export interface EngineScrape {
  at: number;
  latency?: HistogramValue;
  ttft?: HistogramValue;
  perToken?: HistogramValue;
  requests?: number;
  errors?: number;
  generated?: number;
  promptEvaluated?: number;
  promptReused?: number;
  drafted?: number;
  accepted?: number;
  busy?: number;
  queueDepth?: number;
  sequences?: number;
  kvUsage?: number;
  gpuDevices?: number;
  /** Summed over GPUs. */
  gpuMemUsed?: number;
  gpuMemTotal?: number;
  /** The busiest GPU, 0..1. */
  gpuUtil?: number;
  nvml?: number;
  cpuSeconds?: number;
  rss?: number;
  hostMemTotal?: number;
  hostMemAvailable?: number;
  cpus?: number;
}

export type MonitorValues = Partial<Record<MonitorMetricId, number | null>>;

const sumOf = (families: Exposition, name: string): number | undefined => {
  const values = labelled(families, name);
  return values.length ? values.reduce((a, s) => a + s.value, 0) : undefined;
};

export function reduceExposition(families: Exposition, at: number): EngineScrape {
  const n = ENGINE_METRIC_NAMES;
  const hist = (name: string) => families.get(name)?.histogram;
  const utils = labelled(families, n.gpuUtil).map((s) => s.value);
  return {
    at,
    latency: hist(n.latency),
    ttft: hist(n.ttft),
    perToken: hist(n.perToken),
    requests: scalar(families, n.requests),
    errors: scalar(families, n.errors),
    generated: scalar(families, n.generated),
    promptEvaluated: scalar(families, n.promptEvaluated),
    promptReused: scalar(families, n.promptReused),
    drafted: scalar(families, n.drafted),
    accepted: scalar(families, n.accepted),
    busy: scalar(families, n.busy),
    queueDepth: scalar(families, n.queueDepth),
    sequences: scalar(families, n.sequences),
    kvUsage: scalar(families, n.kvUsage),
    gpuDevices: scalar(families, n.gpuDevices),
    gpuMemUsed: sumOf(families, n.gpuMemUsed),
    gpuMemTotal: sumOf(families, n.gpuMemTotal),
    gpuUtil: utils.length ? Math.max(...utils) : undefined,
    nvml: scalar(families, n.nvml),
    cpuSeconds: scalar(families, n.cpuSeconds),
    rss: scalar(families, n.rss),
    hostMemTotal: scalar(families, n.hostMemTotal),
    hostMemAvailable: scalar(families, n.hostMemAvailable),
    cpus: scalar(families, n.cpus),
  };
}

const ms = (seconds: number | null): number | null => (seconds === null ? null : seconds * 1000);
const ratio = (num: number | undefined, den: number | undefined): number | null =>
  num === undefined || den === undefined || !(den > 0) ? null : num / den;
const pct = (r: number | null): number | null => (r === null ? null : r * 100);
const orNull = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

function quantiles(prev: HistogramValue | undefined, cur: HistogramValue | undefined, hasPrev: boolean) {
  if (!cur || !hasPrev) return { p50: null, p95: null };
  const d = histogramDelta(prev, cur);
  return { p50: ms(histogramQuantile(0.5, d.buckets)), p95: ms(histogramQuantile(0.95, d.buckets)) };
}

/** Error share of what the engine answered between two scrapes, in percent; null without traffic. */
function errorRate(from: EngineScrape | undefined, to: EngineScrape): number | null {
  if (!from) return null;
  const errors = counterDelta(from.errors, to.errors);
  const requests = counterDelta(from.requests, to.requests);
  if (errors === undefined || requests === undefined) return null;
  return pct(ratio(errors, requests + errors));
}

/**
 * The series values at `cur`: interval values between `prev` and `cur` (null on the first scrape),
 * windowed values between `windowStart` (the scrape one alert window ago, or the oldest kept) and
 * `cur`, and gauges as read at `cur`.
 */
export function deriveEngineValues(
  prev: EngineScrape | undefined,
  cur: EngineScrape,
  windowStart: EngineScrape | undefined,
): MonitorValues {
  const dtSeconds = prev ? (cur.at - prev.at) / 1000 : 0;
  const hasPrev = prev !== undefined && dtSeconds > 0;
  const d = (k: 'requests' | 'drafted' | 'accepted' | 'promptReused' | 'promptEvaluated' | 'cpuSeconds') =>
    hasPrev ? counterDelta(prev[k], cur[k]) : undefined;
  const latency = quantiles(prev?.latency, cur.latency, hasPrev);
  const ttft = quantiles(prev?.ttft, cur.ttft, hasPrev);
  const perToken = hasPrev && cur.perToken ? histogramDelta(prev.perToken, cur.perToken) : undefined;
  const requests = d('requests');
  const drafted = d('drafted');
  const accepted = d('accepted');
  const cpu = d('cpuSeconds');
  const windowed =
    windowStart && cur.latency && windowStart.at < cur.at
      ? ms(histogramQuantile(0.95, histogramDelta(windowStart.latency, cur.latency).buckets))
      : null;
  const hasGpu = (cur.gpuDevices ?? 0) > 0;
  return {
    requestP50Ms: latency.p50,
    requestP95Ms: latency.p95,
    requestP95WindowMs: windowed,
    ttftP50Ms: ttft.p50,
    ttftP95Ms: ttft.p95,
    requestsPerSecond: requests === undefined ? null : requests / dtSeconds,
    decodeTokensPerSecond: perToken && perToken.sum > 0 && perToken.count > 0 ? perToken.count / perToken.sum : null,
    draftedTokens: orNull(drafted),
    acceptedDraftTokens: orNull(accepted),
    speculativeAcceptancePercent: pct(ratio(accepted, drafted)),
    promptTokensReused: orNull(d('promptReused')),
    promptTokensEvaluated: orNull(d('promptEvaluated')),
    busySequences: orNull(cur.busy),
    queueDepth: orNull(cur.queueDepth),
    kvCachePercent: pct(orNull(cur.kvUsage)),
    gpuMemoryPercent: hasGpu ? pct(ratio(cur.gpuMemUsed, cur.gpuMemTotal)) : null,
    gpuMemoryUsedBytes: hasGpu ? orNull(cur.gpuMemUsed) : null,
    ramPercent:
      cur.hostMemTotal !== undefined && cur.hostMemAvailable !== undefined
        ? pct(ratio(cur.hostMemTotal - cur.hostMemAvailable, cur.hostMemTotal))
        : null,
    processMemoryBytes: orNull(cur.rss),
    gpuUtilisationPercent: hasGpu ? pct(orNull(cur.gpuUtil)) : null,
    cpuUtilisationPercent: cpu === undefined || !(cur.cpus && cur.cpus > 0) ? null : pct(cpu / dtSeconds / cur.cpus),
    errorRateWindowPercent: errorRate(windowStart && windowStart.at < cur.at ? windowStart : undefined, cur),
  };
}

const OLD_ENGINE = 'not reported by this engine (an older version?)';

/** Series the engine cannot fill, with the reason a person should read. */
export function unavailableReasons(cur: EngineScrape): Partial<Record<MonitorMetricId, string>> {
  const out: Partial<Record<MonitorMetricId, string>> = {};
  if (cur.gpuDevices === undefined) {
    out.gpuUtilisationPercent = OLD_ENGINE;
    out.gpuMemoryPercent = OLD_ENGINE;
    out.gpuMemoryUsedBytes = OLD_ENGINE;
  } else if (cur.gpuDevices === 0) {
    const why = 'no GPU: the engine runs on the CPU';
    out.gpuUtilisationPercent = why;
    out.gpuMemoryPercent = why;
    out.gpuMemoryUsedBytes = why;
  } else {
    if (cur.gpuUtil === undefined)
      out.gpuUtilisationPercent = cur.nvml === 0 ? 'NVML (libnvidia-ml.so.1) not found: GPU utilisation unknown' : OLD_ENGINE;
    if (cur.gpuMemUsed === undefined || cur.gpuMemTotal === undefined) {
      out.gpuMemoryPercent = 'the GPU backend does not report its memory';
      out.gpuMemoryUsedBytes = out.gpuMemoryPercent;
    }
  }
  if (cur.queueDepth === undefined) out.queueDepth = OLD_ENGINE;
  if (cur.cpuSeconds === undefined || cur.cpus === undefined) out.cpuUtilisationPercent = OLD_ENGINE;
  if (cur.hostMemTotal === undefined || cur.hostMemAvailable === undefined) out.ramPercent = OLD_ENGINE;
  if (cur.rss === undefined) out.processMemoryBytes = OLD_ENGINE;
  if (cur.kvUsage === undefined) out.kvCachePercent = OLD_ENGINE;
  if (!cur.latency) {
    out.requestP50Ms = OLD_ENGINE;
    out.requestP95Ms = OLD_ENGINE;
    out.requestP95WindowMs = OLD_ENGINE;
  }
  if (!cur.ttft) {
    out.ttftP50Ms = OLD_ENGINE;
    out.ttftP95Ms = OLD_ENGINE;
  }
  if (!cur.perToken) out.decodeTokensPerSecond = OLD_ENGINE;
  return out;
}

/** The sidecar's own series for one interval, from the completion records that ended in it. */
export function deriveSidecarValues(records: readonly CompletionRecord[]): MonitorValues {
  const latencies = records
    .filter((r) => r.outcome === 'shown' || r.outcome === 'empty')
    .map((r) => r.latencyMs)
    .sort((a, b) => a - b);
  return {
    keystrokeP50Ms: percentile(latencies, 50),
    keystrokeP95Ms: percentile(latencies, 95),
    completionRequests: records.length,
    completionCancelled: records.filter((r) => r.outcome === 'cancelled').length,
    completionErrors: records.filter((r) => r.outcome === 'error').length,
  };
}
