/**
 * The monitor's sampler: on a fixed interval it scrapes `/metrics` of every source (with its API key),
 * reduces and derives the series (engineSample.ts), adds the sidecar's own per-request figures to the
 * engine source, appends one row per source to a bounded ring (2 h of history, so a panel opened
 * later shows what happened before), and evaluates the alert rules. Nothing is pushed to clients
 * except alert changes; the panel asks for a window with `pronto/monitor/snapshot` while it is open.
 *
 * Ticks never overlap: the next one is scheduled when the previous has finished, and every scrape
 * has a deadline. Timers are unref'd (the sidecar's life is decided elsewhere).
 */
import type { CompletionRecord, DidAcceptParams, StatsResult, StatusAlert } from '../../../protocol/lsp';
import type { MonitorAlertParams } from '../../../protocol/monitor';
import type {
  MonitorDeploymentInfo,
  MonitorSnapshot,
  MonitorSnapshotParams,
  MonitorSourceInfo,
  MonitorSourceState,
} from '../../../protocol/monitorData';
import { AcceptanceTracker } from './acceptance';
import { AlertEvaluator, type AlertSettings } from './alerts';
import {
  deriveEngineValues,
  deriveSidecarValues,
  reduceExposition,
  unavailableReasons,
  type EngineScrape,
  type MonitorValues,
} from './engineSample';
import { MAX_METRICS_BYTES, parseExposition } from './prometheusText';
import { ENGINE_SOURCE_ID, SourceRegistry, type RegisteredSource, type ScrapeOutcome } from './sources';

export type { ScrapeOutcome } from './sources';
import { TimeSeriesRing } from './timeSeries';

export const HISTORY_MS = 2 * 60 * 60 * 1000;

export interface MonitorSettings {
  intervalMs: number;
  /** The alert window: windowed series (p95, error rate) cover this much time. */
  windowMs: number;
  alerts: AlertSettings;
}

export interface MonitorDeps {
  /** GET <url>/metrics. Injected by unit tests; the default uses fetch with a deadline and a size cap. */
  scrape?: (url: string, apiKey: string | undefined, timeoutMs: number) => Promise<ScrapeOutcome>;
  now?: () => number;
  /** The language of a document (its LSP languageId), for acceptance by language. */
  languageOf?: (uri: string) => string | undefined;
  /** An alert fired or resolved. */
  onAlert?: (p: MonitorAlertParams) => void;
  /** The worst alert firing now changed (undefined: none). */
  onStatusAlert?: (a: StatusAlert | undefined) => void;
  log?: (line: string) => void;
  /** Called at the start of every tick (the wiring updates the engine source and the settings). */
  beforeTick?: () => void;
}

interface SourceState {
  ring: TimeSeriesRing;
  /** Successful scrapes of the last alert window (and one before it), oldest first. */
  scrapes: EngineScrape[];
  /** The URL those scrapes came from: another URL (a restarted engine) starts over. */
  scrapedUrl?: string;
  state: MonitorSourceState;
  message?: string;
  lastScrapeAt?: number;
  unavailable: MonitorSourceInfo['unavailable'];
  compute?: 'GPU' | 'CPU';
}

/** Reads at most `limit` bytes of a response body; undefined when it is larger. */
async function readCapped(res: Response, limit: number): Promise<string | undefined> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function scrapeMetrics(url: string, apiKey: string | undefined, timeoutMs: number): Promise<ScrapeOutcome> {
  let target: URL;
  try {
    target = new URL('/metrics', url);
  } catch {
    return { ok: false, state: 'unreachable', message: `not a URL: ${url}` };
  }
  try {
    const res = await fetch(target, {
      headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, state: 'unauthorized', message: `${target.href} refused the API key (HTTP ${res.status})` };
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, state: 'bad-response', message: `${target.href} answered HTTP ${res.status}` };
    }
    const text = await readCapped(res, MAX_METRICS_BYTES);
    if (text === undefined)
      return { ok: false, state: 'bad-response', message: `${target.href} sent more than ${MAX_METRICS_BYTES} bytes` };
    return { ok: true, text };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { ok: false, state: 'unreachable', message: `cannot reach ${target.href}: ${why}` };
  }
}

export class MonitorService {
  readonly sources = new SourceRegistry();
  readonly acceptance: AcceptanceTracker;
  private readonly alerts: AlertEvaluator;
  private readonly states = new Map<string, SourceState>();
  private pendingRecords: CompletionRecord[] = [];
  private settings: MonitorSettings;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;
  private lastStatusAlert = '';
  private deployments: MonitorDeploymentInfo[] = [];
  private readonly scrape: NonNullable<MonitorDeps['scrape']>;
  private readonly now: () => number;

  constructor(
    settings: MonitorSettings,
    private readonly deps: MonitorDeps = {},
  ) {
    this.settings = settings;
    this.scrape = deps.scrape ?? scrapeMetrics;
    this.now = deps.now ?? Date.now;
    this.acceptance = new AcceptanceTracker(deps.languageOf ?? (() => undefined));
    this.alerts = new AlertEvaluator(settings.alerts);
    this.sources.setEngine({ label: 'Engine' });
    this.sources.onDidChange(() => this.syncStates());
    this.syncStates();
  }

  private capacity(): number {
    return Math.ceil(HISTORY_MS / this.settings.intervalMs) + 1;
  }

  private syncStates(): void {
    const ids = new Set(this.sources.list().map((s) => s.id));
    for (const id of [...this.states.keys()]) {
      if (ids.has(id)) continue;
      this.states.delete(id);
      for (const change of this.alerts.dropSource(id, this.now())) this.deps.onAlert?.(change);
      this.pushStatusAlert();
    }
    for (const id of ids) {
      if (!this.states.has(id))
        this.states.set(id, { ring: new TimeSeriesRing(this.capacity()), scrapes: [], state: 'waiting', unavailable: {} });
    }
  }

  configure(settings: MonitorSettings): void {
    const intervalChanged = settings.intervalMs !== this.settings.intervalMs;
    this.settings = settings;
    this.alerts.configure(settings.alerts);
    if (intervalChanged) {
      for (const st of this.states.values()) st.ring.resize(this.capacity());
      if (this.running) this.schedule(0);
    }
  }

  /** Starts sampling (the first sample at once). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.running || this.ticking) return;
      const started = this.now();
      this.ticking = this.tick()
        .catch((err) => this.deps.log?.(`monitor: sampling failed: ${(err as Error).stack ?? err}`))
        .finally(() => {
          this.ticking = undefined;
          if (this.running) this.schedule(Math.max(0, this.settings.intervalMs - (this.now() - started)));
        });
    }, delayMs);
    this.timer.unref?.();
  }

  /** A completion request ended (from CompletionStats). */
  noteRecord(rec: CompletionRecord): void {
    this.pendingRecords.push(rec);
    // Bounded even if sampling stalls: far more than a tick ever sees.
    if (this.pendingRecords.length > 10_000) this.pendingRecords.splice(0, this.pendingRecords.length - 10_000);
    this.acceptance.onRecord(rec);
  }

  noteAccept(p: Pick<DidAcceptParams, 'uri' | 'kind'>): void {
    this.acceptance.onAccept(p);
  }

  noteClosed(uri: string): void {
    this.acceptance.onClose(uri);
  }

  /** One sample of every source, now. Exposed for tests; the timer calls it. */
  async tick(): Promise<void> {
    this.deps.beforeTick?.();
    const at = this.now();
    const records = this.pendingRecords;
    this.pendingRecords = [];
    const sources = this.sources.list();
    await Promise.all(sources.map((s) => this.sample(s, at, s.id === ENGINE_SOURCE_ID ? deriveSidecarValues(records) : {})));
    this.pushStatusAlert();
  }

  private async sample(source: RegisteredSource, at: number, sidecar: MonitorValues): Promise<void> {
    const st = this.states.get(source.id);
    if (!st) return;
    let values: MonitorValues = { ...sidecar };
    if (!source.url) {
      st.state = 'waiting';
      st.message = source.kind === 'engine' ? 'The engine is not running.' : 'No URL.';
    } else {
      const timeoutMs = Math.min(10_000, Math.max(1000, this.settings.intervalMs * 2));
      const outcome = source.scrape ? await source.scrape(timeoutMs) : await this.scrape(source.url, source.apiKey, timeoutMs);
      // The source may have been removed or replaced while the scrape ran.
      if (this.states.get(source.id) !== st) return;
      const parsed = outcome.ok ? parseExposition(outcome.text) : undefined;
      if (!outcome.ok) {
        st.state = outcome.state;
        st.message = outcome.message;
      } else if (!parsed?.ok) {
        st.state = 'bad-response';
        st.message = `${source.url}/metrics: ${parsed?.ok === false ? parsed.error : 'unreadable'}`;
      } else {
        const scrape = reduceExposition(parsed.families, at);
        if (st.scrapedUrl !== source.url) {
          st.scrapes = [];
          st.scrapedUrl = source.url;
        }
        const prev = st.scrapes[st.scrapes.length - 1];
        // The window starts at the newest scrape at least one window old, else the oldest kept.
        const windowStart = [...st.scrapes].reverse().find((s) => s.at <= at - this.settings.windowMs) ?? st.scrapes[0];
        values = { ...values, ...deriveEngineValues(prev, scrape, windowStart) };
        st.scrapes.push(scrape);
        const keepFrom = st.scrapes.findIndex((s) => s.at > at - this.settings.windowMs);
        if (keepFrom > 1) st.scrapes.splice(0, keepFrom - 1);
        st.state = 'ok';
        st.message = undefined;
        st.lastScrapeAt = at;
        st.unavailable = unavailableReasons(scrape);
        st.compute = (scrape.gpuDevices ?? 0) > 0 ? 'GPU' : 'CPU';
      }
    }
    st.ring.push(at, values);
    for (const change of this.alerts.evaluate(at, source.id, source.label, values)) {
      const verb = change.change === 'fired' ? `${change.incident.severity} alert` : 'alert resolved';
      this.deps.log?.(`monitor: ${verb} #${change.incident.id}: ${change.incident.message}`);
      this.deps.onAlert?.(change);
    }
  }

  private pushStatusAlert(): void {
    const a = this.alerts.statusAlert();
    const key = JSON.stringify(a ?? null);
    if (key === this.lastStatusAlert) return;
    this.lastStatusAlert = key;
    this.deps.onStatusAlert?.(a);
  }

  /** The deployments whose colours are sources, for the panel (set by the deploy feature). */
  setDeployments(deployments: MonitorDeploymentInfo[]): void {
    this.deployments = deployments;
  }

  sourceInfos(): MonitorSourceInfo[] {
    return this.sources.list().map((s) => {
      const st = this.states.get(s.id);
      return {
        id: s.id,
        label: s.label,
        url: s.url,
        ...(s.role ? { role: s.role } : {}),
        kind: s.kind,
        primary: s.id === ENGINE_SOURCE_ID,
        state: st?.state ?? 'waiting',
        ...(st?.message ? { message: st.message } : {}),
        ...(st?.lastScrapeAt !== undefined ? { lastScrapeAt: st.lastScrapeAt } : {}),
        unavailable: { ...(st?.unavailable ?? {}) },
        ...(st?.compute ? { compute: st.compute } : {}),
      };
    });
  }

  snapshot(params: MonitorSnapshotParams, stats: StatsResult): MonitorSnapshot {
    const now = this.now();
    const windowMs = Math.min(HISTORY_MS, Math.max(0, Number.isFinite(params.windowMs) ? params.windowMs : HISTORY_MS));
    const since = params.since !== undefined && Number.isFinite(params.since) ? params.since : undefined;
    const series: MonitorSnapshot['series'] = {};
    for (const s of this.sources.list()) {
      const st = this.states.get(s.id);
      if (st) series[s.id] = st.ring.window(now - windowMs, since);
    }
    return {
      now,
      intervalMs: this.settings.intervalMs,
      historyMs: HISTORY_MS,
      sources: this.sourceInfos(),
      series,
      acceptance: this.acceptance.summary(),
      alerts: this.alerts.snapshot(),
      stats,
      ...(this.deployments.length ? { deployments: this.deployments } : {}),
    };
  }
}
