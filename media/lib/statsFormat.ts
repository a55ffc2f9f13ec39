/**
 * Pure formatting for the statistics page (media/stats.ts): figures from `pronto/stats` and
 * `pronto/status` into the strings the page shows. No DOM here, so it is unit-tested in Node
 * (test/unit/webview-stats-format.test.ts).
 */
import type { CompletionRecord, StatsResult, StatusParams } from '../../protocol/lsp';
import type { StatusMessage } from '../../protocol/webview';

export interface Counter {
  /** Stable id, used as `data-stat` in the page (and by the e2e test). */
  id: string;
  label: string;
  value: string;
}

export function formatMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  return `${Math.round(v)} ms`;
}

/** "3 (25%)" — a count with its share of `total`, when there is a total. */
export function withShare(count: number, total: number): string {
  if (total <= 0) return String(count);
  return `${count} (${Math.round((100 * count) / total)}%)`;
}

export function counters(s: StatsResult): Counter[] {
  return [
    { id: 'requests', label: 'Requests', value: String(s.requests) },
    { id: 'cacheHits', label: 'Cache hits', value: withShare(s.cacheHits, s.requests) },
    { id: 'shown', label: 'Shown', value: withShare(s.shown, s.requests) },
    { id: 'accepted', label: 'Accepted', value: withShare(s.accepted, s.shown) },
    { id: 'cancelled', label: 'Cancelled', value: String(s.cancelled) },
    { id: 'errors', label: 'Errors', value: String(s.errors) },
    { id: 'latencyP50', label: 'Latency p50', value: formatMs(s.latencyP50Ms) },
    { id: 'latencyP95', label: 'Latency p95', value: formatMs(s.latencyP95Ms) },
  ];
}

/** The last path segment of a document URI, decoded ("file:///a/b%20c.ts" → "b c.ts"). */
export function fileName(uri: string): string {
  const last =
    uri
      .replace(/[?#].*$/, '')
      .split('/')
      .filter(Boolean)
      .pop() ?? uri;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** HH:MM:SS in the page's local time. */
export function clock(at: number): string {
  const d = new Date(at);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** One table row: the cells in the order of the page's <thead>. */
export function recentRow(r: CompletionRecord): string[] {
  return [
    clock(r.at),
    fileName(r.uri),
    r.fromCache ? `${r.outcome} (cache)` : r.outcome,
    formatMs(r.latencyMs),
    `${r.reusedTokens} / ${r.evaluatedTokens}`,
    String(r.generatedTokens),
    r.draftedTokens > 0 ? `${r.draftedTokens} / ${r.acceptedTokens}` : '–',
  ];
}

/** Newest first, at most `limit` rows. */
export function recentRows(s: StatsResult, limit = 20): string[][] {
  return [...s.recent]
    .sort((a, b) => b.at - a.at)
    .slice(0, limit)
    .map(recentRow);
}

/** The line at the top of the page: is the server up, and in which state. */
export function serverLine(m: StatusMessage | undefined): { text: string; down: boolean } {
  if (!m) return { text: 'Waiting for the extension…', down: false };
  if (m.server === 'down') {
    return {
      text: 'The Pronto language server is not running: no statistics. Restart it, or see the logs for why it stopped.',
      down: true,
    };
  }
  const s: StatusParams | null = m.status;
  if (!s) return { text: 'Language server running; waiting for its first status.', down: false };
  const parts = [`Engine: ${s.state}`];
  if (s.model) parts.push(s.model + (s.demoModel ? ' (demo model)' : ''));
  if (s.backend) parts.push(s.backend);
  if (typeof s.tokensPerSecond === 'number') parts.push(`${Math.round(s.tokensPerSecond)} tok/s`);
  if (!s.enabled) parts.push('completions disabled');
  return { text: `${parts.join(' · ')} — ${s.message}`, down: s.state === 'stopped' || s.state === 'error' };
}
