/**
 * The monitor feature's one registration call (server.ts wires it; everything else lives here): it
 * builds the MonitorService, keeps its `engine` source pointed at the sidecar's current engine and
 * its settings current (both read at every tick, so the wiring needs no further calls), hears the
 * completion records and accepts, answers `pronto/monitor/*` requests and pushes alert changes.
 */
import { ResponseError, ErrorCodes, type Connection } from 'vscode-languageserver';
import type { StatusAlert } from '../../../protocol/lsp';
import {
  MonitorAddSourceRequest,
  MonitorAlertNotification,
  MonitorRemoveSourceRequest,
  MonitorSnapshotRequest,
  monitorSourceSpecSchema,
  type MonitorSnapshotParams,
} from '../../../protocol/monitor';
import type { Settings } from '../settings';
import type { CompletionStats } from '../stats';
import { MonitorService, type MonitorDeps, type MonitorSettings } from './service';

export interface MonitorWiring {
  stats: CompletionStats;
  getSettings: () => Settings;
  /** The sidecar's engine now: a label and, while it runs, its URL (and API key). */
  engine: () => { label: string; url?: string; apiKey?: string };
  languageOf: (uri: string) => string | undefined;
  setStatusAlert: (alert: StatusAlert | undefined) => void;
  log: (line: string) => void;
  /** Tests: a fake scrape or clock. */
  deps?: Pick<MonitorDeps, 'scrape' | 'now'>;
}

export interface MonitorHandle {
  service: MonitorService;
  dispose(): Promise<void>;
}

export function monitorSettings(s: Settings): MonitorSettings {
  return {
    intervalMs: s['monitor.intervalSeconds'] * 1000,
    windowMs: s['monitor.alerts.windowSeconds'] * 1000,
    alerts: {
      latencyP95Ms: s['monitor.alerts.latencyP95Ms'],
      gpuUtilisationPercent: s['monitor.alerts.gpuUtilisationPercent'],
      memoryPercent: s['monitor.alerts.memoryPercent'],
      errorRatePercent: s['monitor.alerts.errorRatePercent'],
      forMs: s['monitor.alerts.forSeconds'] * 1000,
      hysteresisPercent: s['monitor.alerts.hysteresisPercent'],
      cooldownMs: s['monitor.alerts.cooldownMinutes'] * 60_000,
    },
  };
}

function invalidParams(message: string): ResponseError<void> {
  return new ResponseError(ErrorCodes.InvalidParams, message);
}

export function registerMonitor(connection: Connection, w: MonitorWiring): MonitorHandle {
  let applied = JSON.stringify(monitorSettings(w.getSettings()));
  const service = new MonitorService(JSON.parse(applied) as MonitorSettings, {
    ...w.deps,
    languageOf: w.languageOf,
    log: w.log,
    beforeTick: () => refresh(),
    onStatusAlert: w.setStatusAlert,
    onAlert: (p) => {
      const notify = p.notify && w.getSettings()['monitor.alerts.notifications'];
      void connection.sendNotification(MonitorAlertNotification.method, { ...p, notify });
    },
  });
  // Before each sample and snapshot: the current engine and settings.
  function refresh(): void {
    service.sources.setEngine(w.engine());
    const next = JSON.stringify(monitorSettings(w.getSettings()));
    if (next !== applied) {
      applied = next;
      service.configure(JSON.parse(next) as MonitorSettings);
    }
  }
  const unsubscribe = [w.stats.onRecord((r) => service.noteRecord(r)), w.stats.onAccept((p) => service.noteAccept(p))];

  connection.onRequest(MonitorSnapshotRequest.method, (p: MonitorSnapshotParams | undefined) => {
    const windowMs = typeof p?.windowMs === 'number' ? p.windowMs : Number.NaN;
    if (!Number.isFinite(windowMs) || windowMs <= 0) throw invalidParams('windowMs must be a positive number of milliseconds');
    const since = typeof p?.since === 'number' && Number.isFinite(p.since) ? p.since : undefined;
    refresh();
    return service.snapshot({ windowMs, ...(since !== undefined ? { since } : {}) }, w.stats.snapshot());
  });
  connection.onRequest(MonitorAddSourceRequest.method, (p: unknown) => {
    const parsed = monitorSourceSpecSchema.safeParse(p);
    if (!parsed.success)
      throw invalidParams(
        `invalid monitor source: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ')}`,
      );
    try {
      service.sources.add(parsed.data);
    } catch (err) {
      throw invalidParams((err as Error).message);
    }
    w.log(`monitor: source "${parsed.data.id}" (${parsed.data.label}) at ${parsed.data.url}`);
    return { sources: service.sourceInfos() };
  });
  connection.onRequest(MonitorRemoveSourceRequest.method, (p: { id?: unknown } | undefined) => {
    if (typeof p?.id !== 'string') throw invalidParams('id must be a string');
    try {
      if (!service.sources.remove(p.id)) throw new Error(`no monitor source "${p.id}"`);
    } catch (err) {
      throw invalidParams((err as Error).message);
    }
    w.log(`monitor: source "${p.id}" removed`);
    return { sources: service.sourceInfos() };
  });

  refresh();
  service.start();
  return {
    service,
    async dispose() {
      for (const u of unsubscribe) u();
      await service.stop();
    },
  };
}
