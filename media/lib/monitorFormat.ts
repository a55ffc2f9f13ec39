/**
 * Pure logic of the monitor page's charts (media/monitor.ts): which series each chart shows, the
 * merge of incremental snapshots, the aligned columns a chart plots (one line per source and
 * series), its threshold, its "unavailable" reason, and value formatting. No DOM and no chart
 * library here, so it is unit-tested in Node (test/unit/webview-monitor-format.test.ts).
 */
import type {
  AlertRuleId,
  AlertRuleInfo,
  MonitorMetricId,
  MonitorMetricSpec,
  MonitorSeries,
  MonitorSnapshot,
  MonitorSourceInfo,
} from '../../protocol/monitorData';
import { MONITOR_METRIC_IDS, MONITOR_METRICS } from '../../protocol/monitorData';

export interface ChartSeriesDef {
  metric: MonitorMetricId;
  label: string;
  /** Drawn dashed (a derived or windowed figure). */
  dashed?: boolean;
}

export interface ChartDef {
  id: string;
  title: string;
  unit: MonitorMetricSpec['unit'];
  series: ChartSeriesDef[];
  /** Only the source the sidecar's completions go to has these series. */
  primaryOnly?: boolean;
  /** Per source, only the first series it can report (GPU memory, else RAM). */
  firstAvailable?: boolean;
  /** The alert rule whose threshold is drawn. */
  rule?: AlertRuleId;
  /** A figure for the chart's header besides the newest value. */
  headline?: MonitorMetricId;
}

export const CHARTS: ChartDef[] = [
  {
    id: 'keystroke',
    title: 'Keystroke → suggestion',
    unit: 'ms',
    primaryOnly: true,
    series: [
      { metric: 'keystrokeP50Ms', label: 'p50' },
      { metric: 'keystrokeP95Ms', label: 'p95' },
    ],
  },
  {
    id: 'latency',
    title: 'Engine latency',
    unit: 'ms',
    rule: 'latency',
    series: [
      { metric: 'ttftP50Ms', label: 'first token p50' },
      { metric: 'ttftP95Ms', label: 'first token p95' },
      { metric: 'requestP50Ms', label: 'request p50' },
      { metric: 'requestP95Ms', label: 'request p95' },
      { metric: 'requestP95WindowMs', label: 'request p95 (alert window)', dashed: true },
    ],
  },
  { id: 'decode', title: 'Decode speed', unit: 'tokens/s', series: [{ metric: 'decodeTokensPerSecond', label: 'tokens/s' }] },
  {
    id: 'speculation',
    title: 'Speculative decoding',
    unit: 'tokens',
    headline: 'speculativeAcceptancePercent',
    series: [
      { metric: 'draftedTokens', label: 'drafted' },
      { metric: 'acceptedDraftTokens', label: 'accepted' },
    ],
  },
  {
    id: 'prompt',
    title: 'Prompt tokens',
    unit: 'tokens',
    series: [
      { metric: 'promptTokensReused', label: 'reused' },
      { metric: 'promptTokensEvaluated', label: 'evaluated' },
    ],
  },
  {
    id: 'sequences',
    title: 'Sequences',
    unit: 'count',
    series: [
      { metric: 'busySequences', label: 'busy' },
      { metric: 'queueDepth', label: 'queued' },
    ],
  },
  { id: 'kv', title: 'KV cache', unit: '%', series: [{ metric: 'kvCachePercent', label: 'used' }] },
  {
    id: 'memory',
    title: 'Memory',
    unit: '%',
    rule: 'memory',
    firstAvailable: true,
    series: [
      { metric: 'gpuMemoryPercent', label: 'GPU memory' },
      { metric: 'ramPercent', label: 'RAM (host)' },
    ],
  },
  {
    id: 'utilisation',
    title: 'Utilisation',
    unit: '%',
    rule: 'gpuUtilisation',
    firstAvailable: true,
    series: [
      { metric: 'gpuUtilisationPercent', label: 'GPU' },
      { metric: 'cpuUtilisationPercent', label: 'CPU (engine)' },
    ],
  },
  {
    id: 'errors',
    title: 'Error rate',
    unit: '%',
    rule: 'errorRate',
    series: [{ metric: 'errorRateWindowPercent', label: 'errors (alert window)' }],
  },
];

/** The page's data: every source's samples within the window. */
export interface SeriesStore {
  windowMs: number;
  bySource: Record<string, MonitorSeries>;
}

const emptySeries = (): MonitorSeries => ({
  t: [],
  values: Object.fromEntries(MONITOR_METRIC_IDS.map((id) => [id, []])) as unknown as MonitorSeries['values'],
});

/**
 * A snapshot into the store: a full one replaces it; an incremental one appends the samples newer
 * than what is there (never twice), and samples older than the window are dropped.
 */
export function mergeSnapshot(store: SeriesStore | undefined, snap: MonitorSnapshot, windowMs: number, full: boolean): SeriesStore {
  const bySource: Record<string, MonitorSeries> = {};
  const from = snap.now - windowMs;
  for (const source of snap.sources) {
    const incoming = snap.series[source.id] ?? emptySeries();
    const base = full || !store || store.windowMs !== windowMs ? emptySeries() : (store.bySource[source.id] ?? emptySeries());
    const last = base.t[base.t.length - 1] ?? Number.NEGATIVE_INFINITY;
    const merged = emptySeries();
    const keep = (t: number) => t >= from;
    base.t.forEach((t, i) => {
      if (!keep(t)) return;
      merged.t.push(t);
      for (const id of MONITOR_METRIC_IDS) merged.values[id].push(base.values[id]?.[i] ?? null);
    });
    incoming.t.forEach((t, i) => {
      if (t <= last || !keep(t)) return;
      merged.t.push(t);
      for (const id of MONITOR_METRIC_IDS) merged.values[id].push(incoming.values[id]?.[i] ?? null);
    });
    bySource[source.id] = merged;
  }
  return { windowMs, bySource };
}

export interface PlotLine {
  label: string;
  source: string;
  metric: MonitorMetricId;
  /** Index of the source in the snapshot (for its colour). */
  sourceIndex: number;
  /** Index of the series in the chart's definition (for its colour or dash). */
  seriesIndex: number;
  dashed: boolean;
  role?: string;
}

export interface ChartData {
  /** Sample times (ms since the epoch), ascending, shared by every line. */
  xs: number[];
  lines: PlotLine[];
  /** One column per line, aligned with xs; null where not measured. */
  ys: (number | null)[][];
  /** Set when no source can show anything in this chart: why. */
  unavailable?: string;
  /** Series left out because their source cannot report them (shown under the chart). */
  notes: string[];
  threshold?: { value: number; clearAt: number; severity: AlertRuleInfo['severity'] };
  /** Newest measured value of the first line, for the header. */
  current: number | null;
  /** Newest value of the chart's headline figure, if any. */
  headline: number | null;
  /** Values measured (non-null) over all lines: the e2e test watches it grow. */
  measured: number;
  /** Labels of the sources with at least one measured value in this chart (blue and green side by side). */
  measuredSources: string[];
}

function newest(series: MonitorSeries | undefined, metric: MonitorMetricId): number | null {
  const column = series?.values[metric] ?? [];
  for (let i = column.length - 1; i >= 0; i--) {
    const v = column[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** The lines, columns, threshold and notes of one chart. */
export function chartData(def: ChartDef, sources: MonitorSourceInfo[], store: SeriesStore, rules: AlertRuleInfo[]): ChartData {
  const shown = sources.filter((s) => !def.primaryOnly || s.primary);
  const lines: PlotLine[] = [];
  const notes: string[] = [];
  const reasons: string[] = [];
  const many = shown.length > 1;
  shown.forEach((source) => {
    const sourceIndex = sources.indexOf(source);
    const usable = def.series.filter((s) => !source.unavailable[s.metric]);
    const picked = def.firstAvailable ? usable.slice(0, 1) : usable;
    for (const s of def.series) {
      const why = source.unavailable[s.metric];
      if (!why) continue;
      // firstAvailable: a GPU figure missing on a CPU engine is expected, not worth a note, when the CPU one is shown.
      if (def.firstAvailable && picked.length) continue;
      const note = `${s.label}${many ? ` on ${source.label}` : ''}: unavailable (${why})`;
      notes.push(note);
      reasons.push(why);
    }
    for (const s of picked) {
      lines.push({
        label: many ? `${source.label} · ${s.label}` : s.label,
        source: source.id,
        metric: s.metric,
        sourceIndex,
        seriesIndex: def.series.indexOf(s),
        dashed: s.dashed === true,
        ...(source.role ? { role: source.role } : {}),
      });
    }
  });
  const times = new Set<number>();
  for (const line of lines) for (const t of store.bySource[line.source]?.t ?? []) times.add(t);
  const xs = [...times].sort((a, b) => a - b);
  const ys = lines.map((line) => {
    const series = store.bySource[line.source];
    const at = new Map<number, number | null>();
    series?.t.forEach((t, i) => {
      at.set(t, series.values[line.metric]?.[i] ?? null);
    });
    return xs.map((t) => at.get(t) ?? null);
  });
  const rule = def.rule ? rules.find((r) => r.id === def.rule) : undefined;
  // The GPU utilisation threshold means nothing on a CPU line.
  const ruleApplies = rule && rule.threshold > 0 && lines.some((l) => rule.metrics.includes(l.metric));
  const firstLine = lines[0];
  const headlineSource = shown.find((s) => s.primary) ?? shown[0];
  return {
    xs,
    lines,
    ys,
    notes,
    ...(lines.length === 0
      ? { unavailable: reasons.length ? [...new Set(reasons)].join('; ') : shown.length ? 'no data' : 'no source reports this' }
      : {}),
    ...(ruleApplies ? { threshold: { value: rule.threshold, clearAt: rule.clearAt, severity: rule.severity } } : {}),
    current: firstLine ? newest(store.bySource[firstLine.source], firstLine.metric) : null,
    headline: def.headline && headlineSource ? newest(store.bySource[headlineSource.id], def.headline) : null,
    measured: ys.reduce((n, col) => n + col.filter((v) => v !== null).length, 0),
    measuredSources: [
      ...new Set(
        lines.filter((_, i) => ys[i]!.some((v) => v !== null)).map((l) => sources.find((s) => s.id === l.source)?.label ?? l.source),
      ),
    ],
  };
}

/** A value in a chart's unit, compact: "212 ms", "18.4 tok/s", "45%", "1.2 GB". */
export function formatValue(v: number | null, unit: MonitorMetricSpec['unit']): string {
  if (v === null || !Number.isFinite(v)) return '–';
  const compact = (x: number) => (Math.abs(x) >= 100 ? String(Math.round(x)) : String(Number(x.toPrecision(3))));
  switch (unit) {
    case 'ms':
      return v >= 1000 ? `${compact(v / 1000)} s` : `${compact(v)} ms`;
    case 'tokens/s':
      return `${compact(v)} tok/s`;
    case 'requests/s':
      return `${compact(v)}/s`;
    case '%':
      return `${compact(v)}%`;
    case 'bytes': {
      const units = ['B', 'KB', 'MB', 'GB', 'TB'];
      let x = v;
      let i = 0;
      while (x >= 1000 && i < units.length - 1) {
        x /= 1000;
        i++;
      }
      return `${compact(x)} ${units[i]}`;
    }
    default:
      return compact(v);
  }
}

export function metricLabel(id: MonitorMetricId): string {
  return MONITOR_METRICS[id].label;
}

/** "5 min", "2 h". */
export function windowLabel(ms: number): string {
  return ms >= 3_600_000 ? `${ms / 3_600_000} h` : `${Math.round(ms / 60_000)} min`;
}

/** A source's chip: "Local engine · ok · CPU", or the reason it cannot be read. */
export function sourceLine(s: MonitorSourceInfo): string {
  const parts = [s.label];
  if (s.state === 'ok') parts.push(s.compute ?? 'ok');
  else parts.push(s.message ? `${s.state}: ${s.message}` : s.state);
  return parts.join(' · ');
}
