/**
 * The monitor's data model (protocol/monitor.ts has the messages): series, sources, alerts and
 * acceptance counts as the sidecar reports them. No runtime imports, so webview pages (media/) can
 * import the constants without bundling zod or the LSP protocol.
 *
 * A value is `null` when it was not measured in that interval (no requests, a failed scrape) or the
 * engine does not report it (the source lists it as `unavailable`, with the reason): never 0.
 */
import type { DeployGate, DeployPhase } from './deploy';
import type { StatsResult } from './lsp';

// ---------------------------------------------------------------------------------------------
// Series
// ---------------------------------------------------------------------------------------------

/** One series of the monitor: what it measures and in which unit. */
export interface MonitorMetricSpec {
  label: string;
  unit: 'ms' | 'tokens/s' | 'tokens' | '%' | 'count' | 'bytes' | 'requests/s';
}

/**
 * Every series a source has, by id. Interval values cover the time since the previous sample;
 * "window" values cover the alert window (`pronto.monitor.alerts.windowSeconds`).
 */
export const MONITOR_METRICS = {
  // The sidecar's view (only for the source its completions go to): keystroke to suggestion.
  keystrokeP50Ms: { label: 'Keystroke → suggestion p50', unit: 'ms' },
  keystrokeP95Ms: { label: 'Keystroke → suggestion p95', unit: 'ms' },
  completionRequests: { label: 'Completion requests', unit: 'count' },
  completionCancelled: { label: 'Cancelled (superseded) requests', unit: 'count' },
  completionErrors: { label: 'Failed requests', unit: 'count' },
  // The engine's /metrics.
  ttftP50Ms: { label: 'Time to first token p50', unit: 'ms' },
  ttftP95Ms: { label: 'Time to first token p95', unit: 'ms' },
  requestP50Ms: { label: 'Request latency p50', unit: 'ms' },
  requestP95Ms: { label: 'Request latency p95', unit: 'ms' },
  requestP95WindowMs: { label: 'Request latency p95 (alert window)', unit: 'ms' },
  requestsPerSecond: { label: 'Engine requests', unit: 'requests/s' },
  decodeTokensPerSecond: { label: 'Decode speed', unit: 'tokens/s' },
  draftedTokens: { label: 'Drafted tokens', unit: 'tokens' },
  acceptedDraftTokens: { label: 'Accepted draft tokens', unit: 'tokens' },
  speculativeAcceptancePercent: { label: 'Speculative acceptance', unit: '%' },
  promptTokensReused: { label: 'Prompt tokens reused', unit: 'tokens' },
  promptTokensEvaluated: { label: 'Prompt tokens evaluated', unit: 'tokens' },
  busySequences: { label: 'Busy sequences', unit: 'count' },
  queueDepth: { label: 'Queue depth', unit: 'count' },
  kvCachePercent: { label: 'KV cache used', unit: '%' },
  gpuMemoryPercent: { label: 'GPU memory used', unit: '%' },
  gpuMemoryUsedBytes: { label: 'GPU memory used', unit: 'bytes' },
  ramPercent: { label: 'RAM used (host)', unit: '%' },
  processMemoryBytes: { label: 'Engine resident memory', unit: 'bytes' },
  gpuUtilisationPercent: { label: 'GPU utilisation', unit: '%' },
  cpuUtilisationPercent: { label: 'CPU utilisation (engine)', unit: '%' },
  errorRateWindowPercent: { label: 'Error rate (alert window)', unit: '%' },
} as const satisfies Record<string, MonitorMetricSpec>;

export type MonitorMetricId = keyof typeof MONITOR_METRICS;

/** The time windows the monitor panel offers: 5 min, 30 min, 2 h. */
export const MONITOR_WINDOWS_MS = [5 * 60_000, 30 * 60_000, 2 * 60 * 60_000] as const;
export type MonitorWindowMs = (typeof MONITOR_WINDOWS_MS)[number];
export const MONITOR_METRIC_IDS = Object.keys(MONITOR_METRICS) as MonitorMetricId[];

/** Columns of one source's samples: `t[i]` (ms since the epoch) and each series' value at `t[i]`. */
export interface MonitorSeries {
  t: number[];
  values: Record<MonitorMetricId, (number | null)[]>;
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

/** What a feature registers: an engine to sample. `id` is stable (e.g. "blue", "green"). */
export interface MonitorSourceSpec {
  id: string;
  /** Shown in the panel, e.g. "Green (v1.4.2)". */
  label: string;
  /** Base URL of the engine; `/metrics` is appended. */
  url: string;
  /** Sent as `Authorization: Bearer` (the engine's --api-key). Never sent back to clients. */
  apiKey?: string;
  /** Free-form tag the panel can colour by, e.g. "blue" or "green". */
  role?: string;
}

export type MonitorSourceState = 'waiting' | 'ok' | 'unreachable' | 'unauthorized' | 'bad-response';

export interface MonitorSourceInfo {
  id: string;
  label: string;
  url: string;
  role?: string;
  /** `engine`: the sidecar's own engine (local process or pronto.engine.url); `external`: added by a feature. */
  kind: 'engine' | 'external';
  /** The sidecar's completions go to this source (its keystroke series are filled). */
  primary: boolean;
  state: MonitorSourceState;
  /** What went wrong with the last scrape, for a person. */
  message?: string;
  lastScrapeAt?: number;
  /** Series this engine does not report, with why (e.g. "no GPU: the engine runs on the CPU"). */
  unavailable: Partial<Record<MonitorMetricId, string>>;
  /** "GPU" when the engine reports a GPU, "CPU" otherwise; undefined before the first scrape. */
  compute?: 'GPU' | 'CPU';
}

/**
 * A deployment whose colours the monitor samples (the deploy feature adds them while the deployment
 * runs): what the panel shows next to the charts, so a rollout's gates sit beside its curves.
 */
export interface MonitorDeploymentInfo {
  /** The config's `name`. */
  name: string;
  /** Its `.pronto/deploy.yaml` (absolute path). */
  configFile: string;
  /** The colour the `active` service selects. */
  active?: 'blue' | 'green';
  /** The rollout in progress, or the last one (a terminal phase), with its gates. */
  rollout?: {
    id: string;
    phase: DeployPhase;
    candidate: 'blue' | 'green';
    switched: boolean;
    gates: DeployGate[];
    reason?: string;
  };
  /** The sources of its colours (ids in `MonitorSnapshot.sources`), active first. */
  sources: string[];
  /** One line for a person: "green (candidate) analysing next to blue (active)". */
  summary: string;
  /** The deployment could not be read (the config broke, the cluster is unreachable): why. */
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

export type AlertRuleId = 'latency' | 'gpuUtilisation' | 'memory' | 'errorRate';
export type AlertSeverity = 'warning' | 'critical';

export interface AlertRuleInfo {
  id: AlertRuleId;
  label: string;
  severity: AlertSeverity;
  /** The series the rule watches: the first one measured is used (memory: GPU memory, else RAM). */
  metrics: MonitorMetricId[];
  /** Fires above this (after `forMs`); 0 = rule switched off. */
  threshold: number;
  /** Clears at or below this (hysteresis), after `forMs`. */
  clearAt: number;
  unit: MonitorMetricSpec['unit'];
}

/** A rule's state for one source. `pending`: above the threshold, not for long enough yet. */
export interface ActiveAlert {
  rule: AlertRuleId;
  source: string;
  severity: AlertSeverity;
  phase: 'pending' | 'firing' | 'clearing';
  /** When the current phase began. */
  since: number;
  value: number | null;
  threshold: number;
  message: string;
}

/** One incident, from firing to resolved. */
export interface AlertIncident {
  id: number;
  rule: AlertRuleId;
  source: string;
  sourceLabel: string;
  severity: AlertSeverity;
  firedAt: number;
  resolvedAt?: number;
  /** Highest value seen while firing. */
  peak: number;
  threshold: number;
  message: string;
}

export interface MonitorAlerts {
  rules: AlertRuleInfo[];
  forMs: number;
  active: ActiveAlert[];
  /** Newest first, bounded. */
  history: AlertIncident[];
}

// ---------------------------------------------------------------------------------------------
// Acceptance
// ---------------------------------------------------------------------------------------------

/**
 * Each suggestion shown ends as exactly one of: accepted in full, accepted in part (word/line
 * accepts, then the rest dismissed), dismissed; or is still `pending` (on screen). A suggestion
 * continued by typing through it or by a partial accept is one suggestion, not several.
 */
export interface AcceptanceCounts {
  shown: number;
  acceptedFull: number;
  acceptedPartial: number;
  dismissed: number;
  pending: number;
}

export interface AcceptanceSummary {
  total: AcceptanceCounts;
  /** By VS Code language id ("typescript", "python", …; "unknown" when the document was not open). */
  byLanguage: Record<string, AcceptanceCounts>;
}

// ---------------------------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------------------------

export interface MonitorSnapshotParams {
  /** How far back the series go, in ms (clamped to the history kept: 2 h). */
  windowMs: number;
  /** Only samples taken after this time (ms since the epoch): for incremental updates. */
  since?: number;
}

export interface MonitorSnapshot {
  now: number;
  intervalMs: number;
  /** History kept, in ms. */
  historyMs: number;
  sources: MonitorSourceInfo[];
  /** By source id. */
  series: Record<string, MonitorSeries>;
  acceptance: AcceptanceSummary;
  alerts: MonitorAlerts;
  /** The per-request counters and recent records (the former Statistics panel). */
  stats: StatsResult;
  /** Deployments whose colours are among the sources (blue-green side by side during a rollout). */
  deployments?: MonitorDeploymentInfo[];
}
