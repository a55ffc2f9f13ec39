/**
 * Per-request statistics for monitoring (`pronto/stats`) and the status bar figures: a bounded list
 * of recent records plus running counters.
 */
import type { CompletionRecord, StatsResult } from '../../protocol/lsp';

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

  constructor(private readonly keep = 200) {}

  record(rec: CompletionRecord): void {
    this.requests++;
    if (rec.fromCache) this.cacheHits++;
    if (rec.outcome === 'shown') this.shown++;
    else if (rec.outcome === 'cancelled') this.cancelled++;
    else if (rec.outcome === 'error') this.errors++;
    if (rec.outcome === 'shown' || rec.outcome === 'empty') this.lastLatencyMs = rec.latencyMs;
    this.recent.push(rec);
    if (this.recent.length > this.keep) this.recent.shift();
  }

  recordDecode(generatedTokens: number, decodeMs: number): void {
    if (generatedTokens > 0 && decodeMs > 0) this.tokensPerSecond = Math.round((generatedTokens / decodeMs) * 10000) / 10;
  }

  recordAccepted(): void {
    this.accepted++;
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
