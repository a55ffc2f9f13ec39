/**
 * Messages between the extension and its webviews (today: the "Pronto: Statistics" panel,
 * extension/src/statsPanel.ts ⇄ media/stats.ts). Every message is a `{ type }` object.
 *
 * - webview → extension: `WebviewToExtension`. The page is a trust boundary (it renders data and
 *   could be made to post anything), so the extension parses every message with
 *   `parseWebviewMessage` (zod) before acting on it, and a page may only ask for the commands in
 *   `PANEL_COMMANDS`.
 * - extension → webview: `ExtensionToWebview`. Built by the extension from what the server sent,
 *   so plain TypeScript types; the page renders them with textContent only (no HTML from data).
 *
 * Handshake: the page posts `{ type: 'ready' }` once its script has run (also after it is
 * re-created when shown again); only then does the extension send `status` and `stats`.
 *
 * The page imports this module with `import type` only, so zod is not bundled into the webview.
 */
import { z } from 'zod';
import type { StatsResult, StatusParams } from './lsp';

/** Commands a webview may ask the extension to run (an allow-list, not any command id). */
export const PANEL_COMMANDS = ['pronto.showLogs', 'pronto.restartServer'] as const;
export type PanelCommand = (typeof PANEL_COMMANDS)[number];

export const webviewToExtensionSchema = z.discriminatedUnion('type', [
  /** The page's script ran; send it data. */
  z.strictObject({ type: z.literal('ready') }),
  /** The user pressed "Refresh": ask the server for stats now instead of at the next tick. */
  z.strictObject({ type: z.literal('refresh') }),
  /** The user pressed a button that runs one of the allowed commands. */
  z.strictObject({ type: z.literal('runCommand'), command: z.enum(PANEL_COMMANDS) }),
]);
export type WebviewToExtension = z.infer<typeof webviewToExtensionSchema>;

export type ParsedWebviewMessage = { ok: true; message: WebviewToExtension } | { ok: false; error: string };

/** Validates a message from a webview; the error names what was wrong, for the log. */
export function parseWebviewMessage(raw: unknown): ParsedWebviewMessage {
  const r = webviewToExtensionSchema.safeParse(raw);
  if (r.success) return { ok: true, message: r.data };
  const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'message'}: ${i.message}`).join('; ');
  let shown: string;
  try {
    shown = JSON.stringify(raw) ?? String(raw);
  } catch {
    shown = String(raw);
  }
  if (shown.length > 200) shown = `${shown.slice(0, 200)}…`;
  return { ok: false, error: `invalid webview message ${shown}: ${issues}` };
}

/** Whether the language server is up, and the last status it pushed (null: none yet / down). */
export interface StatusMessage {
  type: 'status';
  server: 'running' | 'down';
  status: StatusParams | null;
}

/** Fresh `pronto/stats` result. `receivedAt` is the extension's clock (ms since the epoch). */
export interface StatsMessage {
  type: 'stats';
  stats: StatsResult;
  receivedAt: number;
}

/** The stats request failed (or could not be sent); the page keeps the last figures and says why. */
export interface StatsErrorMessage {
  type: 'statsError';
  message: string;
}

export type ExtensionToWebview = StatusMessage | StatsMessage | StatsErrorMessage;

/** What the statistics page keeps with `setState`, so it redraws at once when shown again. */
export interface StatsPanelState {
  status?: StatusMessage;
  stats?: StatsMessage;
  error?: string;
}
