/**
 * Chat: the `pronto/chat` LSP request between a client (extension/, or any editor) and the sidecar
 * (server/src/chat/). Plain JSON-RPC, usable from any editor:
 *
 * - The client sends the conversation (previous turns as they were sent, see `ChatResult.userMessage`)
 *   and the new user message, the context to attach, optionally a slash command, and a
 *   `partialResultToken`. The server streams `$/progress` notifications `{ token, value }` on that
 *   token, whose `value` is a `ChatProgress` (first the context report, then the answer's text in
 *   pieces), and answers with the whole `ChatResult`.
 * - `$/cancelRequest` stops the answer: the cancel reaches the engine (it stops decoding within a
 *   step) and the result comes back with `finishReason: "cancelled"` and the text so far.
 * - Failures are results, not JSON-RPC errors: `error.code` says what happened (engine down, no chat
 *   template, prompt too long, ...) and `error.message` what to do.
 */
import { RequestType, RequestType0 } from 'vscode-languageserver-protocol';

export interface ChatTurn {
  role: 'user' | 'assistant';
  /** For user turns: the message as it was sent (`ChatResult.userMessage`), context included. */
  content: string;
}

/** A piece of context to attach: the selection, or a whole file. */
export interface ChatContextItem {
  kind: 'selection' | 'file';
  uri: string;
  /** The text, when the client has it; else the server takes the open document, or reads the file. */
  text?: string;
  languageId?: string;
  /** A selection's lines (0-based, inclusive), shown to the model. */
  range?: { startLine: number; endLine: number };
  /** This file is the one the user is editing (`{filename}`, `{language}`, `{file}` come from it). */
  current?: boolean;
}

export interface ChatParams {
  /** Earlier turns, oldest first. */
  history?: ChatTurn[];
  /** What the user typed now (after the slash command, when there is one). */
  message: string;
  /** A slash command's name without the slash (`explain`): its template becomes the message. */
  command?: string;
  context?: ChatContextItem[];
  /** Tokens to generate at most (default pronto.chat.maxTokens). */
  maxTokens?: number;
  /** Token for `$/progress` notifications carrying `ChatProgress`. */
  partialResultToken?: string | number;
}

export interface ChatContextItemReport {
  kind: 'selection' | 'file';
  uri: string;
  /** A short name for people: file name, and lines for a selection. */
  label: string;
  /** Tokens of the item as found, and as sent (from the engine's tokenizer). */
  tokens: number;
  sentTokens: number;
  /** none: sent whole; truncated: its start sent; dropped: not sent (no room, unreadable, too large). */
  cut: 'none' | 'truncated' | 'dropped';
  /** Why it was cut or dropped. */
  note?: string;
}

export interface ChatContextReport {
  items: ChatContextItemReport[];
  /** Tokens of context sent, and the budget it had (pronto.chat.contextTokens, capped by room in the context window). */
  sentTokens: number;
  budgetTokens: number;
  /** Earliest turns of the history left out to fit the context window. */
  droppedTurns: number;
}

export type ChatProgress = { kind: 'context'; context: ChatContextReport } | { kind: 'text'; text: string };

export interface ChatStats {
  promptTokens: number;
  /** Prompt tokens whose KV entries were reused from the previous turn (the engine's prefix reuse). */
  reusedTokens: number;
  /** Prompt tokens evaluated for this turn. */
  evaluatedTokens: number;
  generatedTokens: number;
  timeToFirstTokenMs: number;
  totalMs: number;
}

export type ChatErrorCode =
  | 'engine_unavailable'
  | 'no_chat_template'
  | 'prompt_too_long'
  | 'unknown_command'
  | 'bad_request'
  | 'engine_error';

export interface ChatResult {
  /** The answer (so far, when cancelled or failed mid-way). */
  text: string;
  finishReason: 'stop' | 'length' | 'eos' | 'time' | 'cancelled' | 'error';
  /** The user message as sent (context and slash template applied): keep it as the turn's content. */
  userMessage: string;
  context: ChatContextReport;
  stats?: ChatStats;
  error?: { code: ChatErrorCode; message: string };
}

/** client → server, request: answer a chat message, streaming it as `$/progress`. */
export namespace ChatRequest {
  export const method = 'pronto/chat' as const;
  export const type = new RequestType<ChatParams, ChatResult, void>(method);
}

/** client → server, request: what `pronto/chat` would attach for this context (token counts, cuts), without asking the model. */
export namespace ChatContextRequest {
  export const method = 'pronto/chat/context' as const;
  export const type = new RequestType<{ context: ChatContextItem[]; history?: ChatTurn[]; message?: string }, ChatContextReport, void>(
    method,
  );
}

/** A slash command for the chat input's completion. */
export interface SlashCommandInfo {
  name: string;
  description: string;
}

/** client → server, request: the slash commands in force (from the templates). */
export namespace ListSlashCommandsRequest {
  export const method = 'pronto/chat/commands' as const;
  export const type = new RequestType0<SlashCommandInfo[], void>(method);
}
