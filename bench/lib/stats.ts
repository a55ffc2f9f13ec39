// Percentiles and the comparison table.

/** Nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((s, x) => s + x, 0) / values.length : NaN;
}

/** Median (mean of the two middle values for an even count); NaN for an empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((x, y) => x - y);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** What one FIM request measured, client side. */
export interface RequestSample {
  /** Prompt tokens the server evaluated (not reused from cache). */
  evaluated: number;
  /** Prompt tokens in total, as the server reports them. */
  promptTokens: number;
  /** Time to the first generated token as the server reports it (llama-server: timings.prompt_ms;
   * ours: stats.t_first_token_ms). Random weights often produce partial UTF-8 first, which both
   * servers hold back, so the first streamed text can come much later than the first token. */
  ttftMs: number;
  /** Client side: request sent -> first streamed text. */
  firstTextMs: number;
  /** Client side: request sent -> final event. */
  latencyMs: number;
  generated: number;
}

export interface TraceSummary {
  requests: number;
  evaluatedMean: number;
  promptTokensMean: number;
  ttftP50: number;
  ttftP95: number;
  latencyP50: number;
  latencyP95: number;
}

export function summarize(samples: readonly RequestSample[]): TraceSummary {
  return {
    requests: samples.length,
    evaluatedMean: mean(samples.map((s) => s.evaluated)),
    promptTokensMean: mean(samples.map((s) => s.promptTokens)),
    ttftP50: percentile(
      samples.map((s) => s.ttftMs),
      50,
    ),
    ttftP95: percentile(
      samples.map((s) => s.ttftMs),
      95,
    ),
    latencyP50: percentile(
      samples.map((s) => s.latencyMs),
      50,
    ),
    latencyP95: percentile(
      samples.map((s) => s.latencyMs),
      95,
    ),
  };
}

/** Renders rows as a fixed-width text table. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
export const ratio = (ours: number, peer: number): string =>
  Number.isFinite(ours) && Number.isFinite(peer) && peer !== 0 ? `${(ours / peer).toFixed(2)}x` : 'n/a';
