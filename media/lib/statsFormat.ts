/**
 * Pure formatting of the monitor page's tables (media/monitor.ts): the request counters, the
 * acceptance table, the recent completions (cancelled ones collapsed) and the server line, from
 * `pronto/monitor/snapshot` and `pronto/status`. No DOM here, so it is unit-tested in Node
 * (test/unit/webview-stats-format.test.ts).
 */
import type { CompletionRecord, StatsResult, StatusParams } from '../../protocol/lsp';
import type { AcceptanceCounts, AcceptanceSummary } from '../../protocol/monitorData';
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

/** Share of the suggestions that ended (not still on screen) that were accepted in full, in percent. */
export function acceptanceRate(c: AcceptanceCounts): number | null {
  const ended = c.acceptedFull + c.acceptedPartial + c.dismissed;
  return ended > 0 ? (100 * c.acceptedFull) / ended : null;
}

const percentText = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)}%`);

export function counters(s: StatsResult, a: AcceptanceSummary): Counter[] {
  const t = a.total;
  const ended = t.acceptedFull + t.acceptedPartial + t.dismissed;
  return [
    { id: 'requests', label: 'Requests', value: String(s.requests) },
    { id: 'cacheHits', label: 'Cache hits', value: withShare(s.cacheHits, s.requests) },
    { id: 'shown', label: 'Suggestions shown', value: String(t.shown) },
    { id: 'accepted', label: 'Accepted in full', value: withShare(t.acceptedFull, ended) },
    { id: 'acceptedPartial', label: 'Accepted in part', value: withShare(t.acceptedPartial, ended) },
    { id: 'dismissed', label: 'Dismissed', value: withShare(t.dismissed, ended) },
    { id: 'acceptanceRate', label: 'Acceptance (full)', value: percentText(acceptanceRate(t)) },
    { id: 'cancelled', label: 'Cancelled', value: String(s.cancelled) },
    { id: 'errors', label: 'Errors', value: String(s.errors) },
    { id: 'latencyP50', label: 'Latency p50', value: formatMs(s.latencyP50Ms) },
    { id: 'latencyP95', label: 'Latency p95', value: formatMs(s.latencyP95Ms) },
  ];
}

/** The acceptance table: one row per language (most shown first), then the total. */
export function acceptanceRows(a: AcceptanceSummary): string[][] {
  const row = (name: string, c: AcceptanceCounts) => [
    name,
    String(c.shown),
    String(c.acceptedFull),
    String(c.acceptedPartial),
    String(c.dismissed),
    String(c.pending),
    percentText(acceptanceRate(c)),
  ];
  const rows = Object.entries(a.byLanguage).map(([lang, c]) => row(lang, c));
  if (rows.length > 1) rows.push(row('all', a.total));
  return rows;
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
  let outcome: string = r.outcome;
  if (r.fromCache) outcome += ' (cache)';
  if (r.outcome === 'error' && r.message) outcome += `: ${r.message}`;
  return [
    clock(r.at),
    r.id !== undefined ? `#${r.id}` : '',
    fileName(r.uri),
    outcome,
    formatMs(r.latencyMs),
    `${r.reusedTokens} / ${r.evaluatedTokens}`,
    String(r.generatedTokens),
    r.draftedTokens > 0 ? `${r.draftedTokens} / ${r.acceptedTokens}` : '–',
  ];
}

/** A row of the recent table: a request, or a run of cancelled ones folded into one line. */
export type RecentRow =
  | { kind: 'record'; outcome: CompletionRecord['outcome']; cells: string[] }
  | { kind: 'cancelled'; count: number; text: string };

/**
 * Newest first, at most `limit` rows. Requests superseded by the next keystroke (cancelled) are most
 * of them while typing: unless `showCancelled`, each run of them is one folded row.
 */
export function recentRows(s: StatsResult, options: { limit?: number; showCancelled?: boolean } = {}): RecentRow[] {
  const limit = options.limit ?? 20;
  const rows: RecentRow[] = [];
  for (const r of [...s.recent].sort((a, b) => b.at - a.at)) {
    if (rows.length >= limit) break;
    if (r.outcome === 'cancelled' && !options.showCancelled) {
      const last = rows[rows.length - 1];
      if (last?.kind === 'cancelled') {
        last.count++;
        last.text = `${last.count} requests cancelled (superseded by later keystrokes)`;
      } else rows.push({ kind: 'cancelled', count: 1, text: '1 request cancelled (superseded by a later keystroke)' });
      continue;
    }
    rows.push({ kind: 'record', outcome: r.outcome, cells: recentRow(r) });
  }
  return rows;
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
