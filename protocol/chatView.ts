/**
 * Messages between the extension (extension/src/chat/) and the chat page (media/chat.ts), and the
 * stored form of the chat history. Both the page and the history file are trust boundaries: every
 * message from the page, and the history file read back from disk, is parsed with zod here before
 * the extension uses it. The page imports this module with `import type` only (no zod in it).
 *
 * Handshake as in protocol/webview.ts: the page posts `ready` once its script ran (also when it is
 * re-created after being hidden); the extension answers with the whole `state`, then streams
 * `delta`s and sends a new `state` whenever something else changed.
 */
import { z } from 'zod';
import type { ChatContextReport, SlashCommandInfo } from './chat';
import type { StatusParams } from './lsp';
import type { ChatState } from '../media/lib/conversation';

/** Commands the chat page may ask the extension to run. */
export const CHAT_PAGE_COMMANDS = [
  'pronto.showLogs',
  'pronto.restartServer',
  'pronto.restartEngine',
  'pronto.chat.configureTemplate',
  'pronto.openTemplates',
] as const;

const MAX_CODE = 1 << 20;

export const chatPageToExtensionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  /** Send a message with the chips still attached (by id). */
  z.strictObject({
    type: z.literal('send'),
    text: z.string().max(100_000),
    command: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/)
      .optional(),
    chips: z.array(z.string().max(10_000)).max(64),
  }),
  z.strictObject({ type: z.literal('stop') }),
  z.strictObject({ type: z.literal('newConversation') }),
  z.strictObject({ type: z.literal('selectConversation'), id: z.string().max(100) }),
  z.strictObject({ type: z.literal('deleteConversation'), id: z.string().max(100) }),
  /** The chips the user kept changed (one removed): count their tokens again. */
  z.strictObject({ type: z.literal('chipsChanged'), chips: z.array(z.string().max(10_000)).max(64) }),
  /** Pick another file to attach. */
  z.strictObject({ type: z.literal('addFile') }),
  z.strictObject({
    type: z.literal('codeAction'),
    action: z.enum(['copy', 'insert', 'apply']),
    code: z.string().max(MAX_CODE),
    language: z.string().max(64),
  }),
  z.strictObject({ type: z.literal('runCommand'), command: z.enum(CHAT_PAGE_COMMANDS) }),
]);
export type ChatPageToExtension = z.infer<typeof chatPageToExtensionSchema>;

/** Validates a message from a page against a schema; the error names what was wrong (for the log). */
export function parsePageMessage<T>(
  schema: z.ZodType<T>,
  raw: unknown,
  page: string,
): { ok: true; message: T } | { ok: false; error: string } {
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, message: r.data };
  let shown: string;
  try {
    shown = JSON.stringify(raw) ?? String(raw);
  } catch {
    shown = String(raw);
  }
  if (shown.length > 200) shown = `${shown.slice(0, 200)}…`;
  return {
    ok: false,
    error: `invalid ${page} message ${shown}: ${r.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')}`,
  };
}

export const parseChatPageMessage = (raw: unknown) => parsePageMessage(chatPageToExtensionSchema, raw, 'chat page');

/** A piece of context offered to the next message; the page shows it as a removable chip. */
export interface Chip {
  /** Stable per kind and file (`selection:<uri>`, `file:<uri>`). */
  id: string;
  kind: 'selection' | 'file';
  label: string;
  uri: string;
  /** Tokens (from the engine's tokenizer) once counted; what was cut. */
  tokens?: number;
  sentTokens?: number;
  cut?: 'none' | 'truncated' | 'dropped';
  note?: string;
}

/** Why the chat cannot answer right now (shown as a banner with what to do). */
export interface ChatBlocker {
  kind: 'server-down' | 'engine-starting' | 'engine-error' | 'no-chat-template';
  message: string;
}

export interface ChatPageState {
  chat: ChatState;
  /** The answer in progress, if any (`stop` ends it). */
  streaming: boolean;
  commands: SlashCommandInfo[];
  chips: Chip[];
  /** Token count of what will be sent (from pronto/chat/context), when known. */
  report?: ChatContextReport;
  reportError?: string;
  blocker?: ChatBlocker;
  status?: StatusParams;
}

export type ExtensionToChatPage =
  | { type: 'state'; state: ChatPageState }
  | { type: 'delta'; conversationId: string; text: string }
  | { type: 'notice'; kind: 'info' | 'error'; message: string }
  | { type: 'focus'; text?: string };

// ---------------------------------------------------------------------------------------------
// The stored history (one file per workspace, in VS Code's workspace storage)
// ---------------------------------------------------------------------------------------------

const statsSchema = z.object({
  promptTokens: z.number(),
  reusedTokens: z.number(),
  evaluatedTokens: z.number(),
  generatedTokens: z.number(),
  timeToFirstTokenMs: z.number(),
  totalMs: z.number(),
});
const userTurnSchema = z.object({
  role: z.literal('user'),
  text: z.string(),
  sent: z.string().optional(),
  command: z.string().optional(),
  context: z.array(z.object({ kind: z.enum(['selection', 'file']), label: z.string(), uri: z.string() })).default([]),
});
const assistantTurnSchema = z.object({
  role: z.literal('assistant'),
  text: z.string(),
  // An answer that was streaming when VS Code closed is stored as stopped.
  status: z.enum(['streaming', 'done', 'stopped', 'error']).transform((s) => (s === 'streaming' ? 'stopped' : s)),
  finishReason: z.enum(['stop', 'length', 'eos', 'time', 'cancelled', 'error']).optional(),
  stats: statsSchema.optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  cut: z.array(z.any()).optional(),
  droppedTurns: z.number().optional(),
});
export const storedHistorySchema = z.object({
  version: z.literal(1),
  currentId: z.string().nullable().default(null),
  conversations: z.array(
    z.object({
      id: z.string().min(1).max(100),
      title: z.string(),
      createdAt: z.number(),
      updatedAt: z.number(),
      turns: z.array(z.discriminatedUnion('role', [userTurnSchema, assistantTurnSchema])),
    }),
  ),
});
export type StoredHistory = z.infer<typeof storedHistorySchema>;
