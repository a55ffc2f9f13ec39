/**
 * The named sources the monitor samples. The sidecar's own engine is the source `engine` (a local
 * process or `pronto.engine.url`), set by the wiring as the engine comes and goes; other features add
 * their own (deployment: `blue` and `green`) with `add`/`remove`, in-process or through
 * `pronto/monitor/addSource` / `removeSource` (protocol/monitor.ts). Listeners hear every change.
 */
import type { MonitorSourceSpec, MonitorSourceState } from '../../../protocol/monitorData';

/** What one scrape of a source's `/metrics` gave. */
export type ScrapeOutcome =
  | { ok: true; text: string }
  | { ok: false; state: Exclude<MonitorSourceState, 'ok' | 'waiting'>; message: string };

/**
 * A source's own way to its `/metrics`, for in-process features whose engines are not reachable by
 * a plain URL from here (deployment: a Kubernetes pod through a port-forward). It holds the key.
 */
export type SourceScrape = (timeoutMs: number) => Promise<ScrapeOutcome>;

export const ENGINE_SOURCE_ID = 'engine';
/** More would make the panel unreadable and the sampling costly. */
export const MAX_SOURCES = 8;

export interface RegisteredSource extends MonitorSourceSpec {
  kind: 'engine' | 'external';
  /** In-process sources only: fetch `/metrics` this way instead of GET `url` with `apiKey`. */
  scrape?: SourceScrape;
}

export class SourceRegistry {
  private readonly sources = new Map<string, RegisteredSource>();
  private readonly listeners = new Set<() => void>();

  list(): RegisteredSource[] {
    return [...this.sources.values()];
  }

  get(id: string): RegisteredSource | undefined {
    return this.sources.get(id);
  }

  onDidChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /**
   * Adds or replaces a source added by a feature (a replaced source keeps its history). Throws a
   * readable Error when it cannot be.
   */
  add(spec: MonitorSourceSpec, options: { scrape?: SourceScrape } = {}): void {
    if (spec.id === ENGINE_SOURCE_ID) throw new Error(`the source id "${ENGINE_SOURCE_ID}" is the sidecar's own engine; choose another id`);
    if (!this.sources.has(spec.id) && this.sources.size >= MAX_SOURCES)
      throw new Error(`at most ${MAX_SOURCES} monitor sources; remove one first`);
    this.sources.set(spec.id, { ...spec, kind: 'external', ...(options.scrape ? { scrape: options.scrape } : {}) });
    this.changed();
  }

  /** Removes a source added with `add`; false when there was none. */
  remove(id: string): boolean {
    if (id === ENGINE_SOURCE_ID) throw new Error(`the source "${ENGINE_SOURCE_ID}" follows the sidecar's engine and cannot be removed`);
    const had = this.sources.delete(id);
    if (had) this.changed();
    return had;
  }

  /**
   * The sidecar's engine. The source stays while the engine restarts or is stopped (its history with
   * it); without an endpoint (`url` empty) it is not sampled and says why.
   */
  setEngine(engine: { label: string; url?: string; apiKey?: string }): void {
    const next: RegisteredSource = {
      id: ENGINE_SOURCE_ID,
      kind: 'engine',
      label: engine.label,
      url: engine.url ?? '',
      apiKey: engine.apiKey,
    };
    const current = this.sources.get(ENGINE_SOURCE_ID);
    if (current && current.url === next.url && current.apiKey === next.apiKey && current.label === next.label) return;
    // The engine goes first in the list.
    const rest = [...this.sources.values()].filter((s) => s.id !== ENGINE_SOURCE_ID);
    this.sources.clear();
    this.sources.set(ENGINE_SOURCE_ID, next);
    for (const s of rest) this.sources.set(s.id, s);
    this.changed();
  }
}
