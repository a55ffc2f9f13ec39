/**
 * Per-request statistics for monitoring (`pronto/stats`) and the status bar figures: a bounded list
 * of recent records plus running counters.
 */
import type { CompletionRecord, DidAcceptParams, StatsResult } from '../../protocol/lsp';

/** What an accept listener hears (from `pronto/didAcceptCompletion`). */
export type AcceptEvent = Pick<DidAcceptParams, 'uri' | 'text' | 'kind'>;

export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** Counters beyond the per-request records. */
export type Counter = 'prefetchStarted' | 'prefetchAborted' | 'prefetchJoined' | 'prefetchAnswered' | 'engineRequests';

export class CompletionStats {
  private readonly counters: Record<Counter, number> = {
    prefetchStarted: 0,
    prefetchAborted: 0,
    prefetchJoined: 0,
    prefetchAnswered: 0,
    engineRequests: 0,
  };
  private readonly recent: CompletionRecord[] = [];
  private requests = 0;
  private cacheHits = 0;
  private shown = 0;
  private accepted = 0;
  private cancelled = 0;
  private errors = 0;
  /** Decode speed of the last engine answer with generated tokens. */
  tokensPerSecond: number | undefined;
  lastLatencyMs: number | undefined;

  private nextId = 1;
  private readonly recordListeners = new Set<(rec: CompletionRecord) => void>();
  private readonly acceptListeners = new Set<(p: AcceptEvent) => void>();

  constructor(private readonly keep = 200) {}

  /** Hears every record as it is made (the monitor samples them). Returns the unsubscribe. */
  onRecord(listener: (rec: CompletionRecord) => void): () => void {
    this.recordListeners.add(listener);
    return () => this.recordListeners.delete(listener);
  }

  /** Hears every accept notification (the monitor's acceptance analytics). */
  onAccept(listener: (p: AcceptEvent) => void): () => void {
    this.acceptListeners.add(listener);
    return () => this.acceptListeners.delete(listener);
  }

  /** Stores a record, numbering it (`#id` in log lines about it); returns the id. */
  record(rec: CompletionRecord): number {
    rec.id = this.nextId++;
    this.requests++;
    if (rec.fromCache) this.cacheHits++;
    if (rec.outcome === 'shown') this.shown++;
    else if (rec.outcome === 'cancelled') this.cancelled++;
    else if (rec.outcome === 'error') this.errors++;
    if (rec.outcome === 'shown' || rec.outcome === 'empty') this.lastLatencyMs = rec.latencyMs;
    this.recent.push(rec);
    if (this.recent.length > this.keep) this.recent.shift();
    for (const l of this.recordListeners) l(rec);
    return rec.id;
  }

  recordDecode(generatedTokens: number, decodeMs: number): void {
    if (generatedTokens > 0 && decodeMs > 0) this.tokensPerSecond = Math.round((generatedTokens / decodeMs) * 10000) / 10;
  }

  recordAccepted(p?: AcceptEvent): void {
    this.accepted++;
    if (p) for (const l of this.acceptListeners) l(p);
  }

  count(counter: Counter): void {
    this.counters[counter]++;
  }

  snapshot(): StatsResult {
    const latencies = this.recent
      .filter((r) => r.outcome === 'shown' || r.outcome === 'empty')
      .map((r) => r.latencyMs)
      .sort((a, b) => a - b);
    return {
      requests: this.requests,
      cacheHits: this.cacheHits,
      shown: this.shown,
      accepted: this.accepted,
      cancelled: this.cancelled,
      errors: this.errors,
      latencyP50Ms: percentile(latencies, 50),
      latencyP95Ms: percentile(latencies, 95),
      prefetch: {
        started: this.counters.prefetchStarted,
        aborted: this.counters.prefetchAborted,
        joined: this.counters.prefetchJoined,
        answered: this.counters.prefetchAnswered,
      },
      engineRequests: this.counters.engineRequests,
      recent: this.recent.slice(-50),
    };
  }
}
