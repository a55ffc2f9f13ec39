/**
 * Messages between the extension and its webviews (today: the "Pronto: Monitor" panel,
 * extension/src/monitorPanel.ts ⇄ media/monitor.ts). Every message is a `{ type }` object.
 *
 * - webview → extension: `WebviewToExtension`. The page is a trust boundary (it renders data and
 *   could be made to post anything), so the extension parses every message with
 *   `parseWebviewMessage` (zod) before acting on it, and a page may only ask for the commands in
 *   `PANEL_COMMANDS`.
 * - extension → webview: `ExtensionToWebview`. Built by the extension from what the server sent,
 *   so plain TypeScript types; the page renders them with textContent only (no HTML from data).
 *
 * Handshake: the page posts `{ type: 'ready' }` once its script has run (also after it is
 * re-created when shown again); only then does the extension send `status` and a full `snapshot`,
 * then incremental ones while the panel is visible and not paused.
 *
 * The page imports this module with `import type` only, so zod is not bundled into the webview.
 */
import { z } from 'zod';
import type { StatusParams } from './lsp';
import { MONITOR_WINDOWS_MS, type MonitorSnapshot } from './monitorData';

export { MONITOR_WINDOWS_MS };

/** Commands a webview may ask the extension to run (an allow-list, not any command id). */
export const PANEL_COMMANDS = ['pronto.showLogs', 'pronto.restartServer'] as const;
export type PanelCommand = (typeof PANEL_COMMANDS)[number];

/** A PNG snapshot of the charts, as a data URL; larger ones are refused. */
export const MAX_PNG_DATA_URL = 32 * 1024 * 1024;

export const webviewToExtensionSchema = z.discriminatedUnion('type', [
  /** The page's script ran; send it data. */
  z.strictObject({ type: z.literal('ready') }),
  /** The user pressed "Refresh": fetch now instead of at the next tick. */
  z.strictObject({ type: z.literal('refresh') }),
  /** The user chose another time window: a full snapshot of it is sent. */
  z.strictObject({ type: z.literal('setWindow'), windowMs: z.union(MONITOR_WINDOWS_MS.map((w) => z.literal(w))) }),
  /** Pause: no more updates until resumed (the charts stay as they are). */
  z.strictObject({ type: z.literal('setPaused'), paused: z.boolean() }),
  /** Save the current window's data as JSON (the extension asks where). */
  z.strictObject({ type: z.literal('exportJson') }),
  /** Save the charts as a PNG the page drew. */
  z.strictObject({
    type: z.literal('exportPng'),
    dataUrl: z
      .string()
      .max(MAX_PNG_DATA_URL, 'the image is too large')
      .regex(/^data:image\/png;base64,[A-Za-z0-9+/]+={0,2}$/, 'must be a base64 PNG data URL'),
  }),
  /** Open the settings of the alert thresholds. */
  z.strictObject({ type: z.literal('openAlertSettings') }),
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

/**
 * A `pronto/monitor/snapshot` answer. `full`: it replaces what the page has (first load, another
 * window, after a pause); otherwise its samples are appended. `receivedAt` is the extension's clock.
 */
export interface SnapshotMessage {
  type: 'snapshot';
  snapshot: MonitorSnapshot;
  windowMs: number;
  full: boolean;
  receivedAt: number;
}

/** The snapshot request failed (or could not be sent); the page keeps the last figures and says why. */
export interface SnapshotErrorMessage {
  type: 'snapshotError';
  message: string;
}

/** An export finished (`path`) or failed (`error`); nothing when the user cancelled the dialog. */
export interface ExportedMessage {
  type: 'exported';
  format: 'png' | 'json';
  path?: string;
  error?: string;
}

export type ExtensionToWebview = StatusMessage | SnapshotMessage | SnapshotErrorMessage | ExportedMessage;

/** What the monitor page keeps with `setState` (small: the series are asked for again). */
export interface MonitorPanelState {
  windowMs?: number;
  paused?: boolean;
  showCancelled?: boolean;
}
