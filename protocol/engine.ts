/**
 * The engine's wire protocol: what the sidecar (server/) and the benchmarks send to `pronto-engine`
 * (native/) and what it sends back. The engine is C++, so it cannot import this file: native/README.md
 * points here, and the engine's protocol layer (native/src/protocol_json.cpp) parses exactly these
 * shapes. Replies cross a trust boundary (the engine may be remote, or a different version), so they
 * are validated with the zod schemas below; requests are plain types.
 *
 * Transport
 * - WebSocket `/v1/stream`: JSON text frames, one message per frame. Many requests may be in flight
 *   on one socket; every message carries the request `id` chosen by the client. Closing the socket
 *   cancels all of its requests and frees their sequences.
 * - HTTP: `/health`, `/v1/models`, `/v1/completions`, `/v1/chat/completions`, `/tokenize`, `/metrics`.
 * - Auth: when the engine was started with `--api-key` (or `PRONTO_API_KEY`, or `--api-keys-file`),
 *   every request except `/health` must carry `Authorization: Bearer <key>` (WebSocket: on the
 *   upgrade request). Each key names a tenant.
 * - Web pages are refused (403 `forbidden`): a `Host` that is not loopback or the bound address, an
 *   `Origin` not in `--allowed-origins`. Clients that send no Origin are unaffected.
 * - Errors: HTTP 4xx/5xx with `{ "error": { "code", "message" } }`; on the socket an `error` message.
 */
import { z } from 'zod';

/**
 * Version of this wire protocol. The engine reports it in its ready line and in `/health`
 * (`protocol`); the sidecar refuses an engine with another version and says what to do. Bump it on
 * any change an older peer would misread.
 */
export const ENGINE_PROTOCOL_VERSION = 2;

// ---------------------------------------------------------------------------------------------
// Requests (client → engine, WebSocket /v1/stream)
// ---------------------------------------------------------------------------------------------

/** A chunk of extra context placed before the file being completed (other files, definitions). */
export interface ContextChunk {
  /** Path shown to the model (repo-level FIM file separators use it). */
  filename?: string;
  text: string;
}

/**
 * Token budgets for the parts of a FIM prompt, enforced by the engine (which knows the tokens).
 * Each is a non-negative integer (at most 1048576); absent = no budget. Unknown fields are rejected
 * (400 naming the field). The context-size trimming still applies on top.
 */
export interface FimBudget {
  /** Keep the LAST n tokens of the prefix; the cut moves forward to the next line start when one
   *  begins within n/8 tokens, so the prompt start stays put while typing on one line. */
  prefix_tokens?: number;
  /** Keep the FIRST n tokens of the suffix. */
  suffix_tokens?: number;
  /** Extra chunks, whole, nearest the file first (the last ones), in at most n tokens. */
  extra_tokens?: number;
}

/** Fill-in-the-middle: the engine builds the prompt from the model's own FIM tokens. */
export interface FimInput {
  prefix: string;
  suffix: string;
  /** Path of the file being completed, for models with repo-level tokens. */
  filename?: string;
  /** Extra context; the engine places it (and the suffix) before the volatile prefix. */
  extra?: ContextChunk[];
  /** Token budgets for prefix, suffix and extra (the sidecar sends its settings here). */
  budget?: FimBudget;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface SamplingParams {
  /** 0 (default) = greedy. */
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  seed?: number;
}

export interface Limits {
  /** Tokens to generate at most (default 64, engine caps at 4096). */
  max_tokens?: number;
  /** Stop after this many milliseconds from submission, waiting included (finish_reason "time"; a
   *  request still waiting for a sequence when it runs out ends with no tokens). */
  time_budget_ms?: number;
  /** Stop before any of these strings; the stop string is not included. */
  stop?: string[];
  /** Stop at the end of the first line that has non-blank text. */
  stop_at_eol?: boolean;
  /** Stop when a line is indented less than the first generated line (end of block). */
  stop_at_block_end?: boolean;
  /** Generate exactly max_tokens, ignoring end-of-generation tokens (benchmarks). */
  ignore_eos?: boolean;
}

export interface SpeculativeParams {
  /** Use the draft model if one is loaded (default true). */
  draft?: boolean;
  /** Use n-gram lookup from the prompt and recent output (default true). */
  ngram?: boolean;
}

/**
 * Scheduling class: interactive completions are admitted and decoded ahead of chat, chat ahead of batch
 * work, and a waiting request of a higher class preempts a running one of a lower class (it pauses and
 * resumes later where it stopped). Default: `chat` for `messages`, `interactive` otherwise.
 */
export type Priority = 'interactive' | 'chat' | 'batch';

/** Exactly one of `fim`, `prompt`, `messages`. */
export interface SubmitMessage {
  type: 'submit';
  id: string;
  fim?: FimInput;
  /** A fully templated prompt (special tokens such as <fim_prefix> are parsed). */
  prompt?: string;
  messages?: ChatMessage[];
  /**
   * With `messages` only: the chat template to apply, a llama.cpp built-in name ("chatml", "llama3",
   * "deepseek", ...) or a template text llama.cpp recognises. Absent: the model's own template; a
   * model without one llama.cpp supports gets the error `no_chat_template` (HTTP 400), never a guess.
   */
  chat_template?: string;
  /**
   * Which loaded model serves it: an `id` from /v1/models (`loadedModels` in the ready line), or a
   * purpose, "completion" or "chat". Absent: `messages` go to the chat model (`--chat-model`; the
   * completion model when there is none), the rest to the completion model. Unknown: error
   * `not_found` (HTTP 404) naming what is loaded. The same field works over HTTP and on /tokenize.
   */
  model?: string;
  sampling?: SamplingParams;
  limits?: Limits;
  speculative?: SpeculativeParams;
  priority?: Priority;
}

export interface CancelMessage {
  type: 'cancel';
  id: string;
}

export type ClientMessage = SubmitMessage | CancelMessage;

// ---------------------------------------------------------------------------------------------
// Replies (engine → client)
// ---------------------------------------------------------------------------------------------

export const finishReasonSchema = z.enum(['stop', 'length', 'eos', 'time', 'cancelled', 'error']);
export type FinishReason = z.infer<typeof finishReasonSchema>;

export const requestStatsSchema = z.object({
  /** Tokens in the prompt as evaluated. */
  prompt_tokens: z.number(),
  /** Prompt tokens whose KV entries were reused from a resident sequence. */
  reused_tokens: z.number(),
  /** Prompt tokens actually evaluated (prompt_tokens - reused_tokens once the prompt is done; less when the request ended mid-prompt). */
  evaluated_tokens: z.number(),
  generated_tokens: z.number(),
  drafted_tokens: z.number(),
  accepted_tokens: z.number(),
  /** Milliseconds: waiting in queue, evaluating the prompt, to the first token, total. */
  t_queue_ms: z.number(),
  t_prompt_ms: z.number(),
  t_first_token_ms: z.number(),
  t_total_ms: z.number(),
  /** Batched decodes this request took part in. */
  decode_steps: z.number(),
  /**
   * Decodes it took part in after its cancel arrived (at most 1: the one already running); 0 when
   * it was not cancelled. Bounds cancellation by steps, whatever the machine's speed.
   */
  steps_after_cancel: z.number(),
  /** Times the request yielded its sequence (to a higher class, or for KV room) and resumed; older engines omit it. */
  preemptions: z.number().optional(),
  /**
   * Decodes the engine ran (every model, every request) from when its inference thread took the
   * request in to the request's end: how long it waited in steps, whatever else was decoding (a chat
   * answer on the other model included). Older engines omit it.
   */
  engine_steps: z.number().optional(),
});
export type RequestStats = z.infer<typeof requestStatsSchema>;

export const engineErrorCodeSchema = z.enum([
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'payload_too_large',
  'prompt_too_long',
  /** Chat messages, but neither the request nor the model has a template llama.cpp supports. */
  'no_chat_template',
  'overloaded',
  'cancelled',
  'internal',
]);
export type EngineErrorCode = z.infer<typeof engineErrorCodeSchema>;

export const engineErrorSchema = z.object({ code: z.string(), message: z.string() });

export const tokenEventSchema = z.object({
  type: z.literal('token'),
  id: z.string(),
  /** Decoded text of one or more tokens; always whole UTF-8 characters. */
  text: z.string(),
});

export const doneEventSchema = z.object({
  type: z.literal('done'),
  id: z.string(),
  /** The whole generated text (the concatenation of the token events, stop string removed). */
  text: z.string(),
  finish_reason: finishReasonSchema,
  stats: requestStatsSchema,
});

export const errorEventSchema = z.object({
  type: z.literal('error'),
  /** Absent when the message could not be attributed to a request (e.g. unparseable JSON). */
  id: z.string().optional(),
  error: engineErrorSchema,
});

export const serverMessageSchema = z.discriminatedUnion('type', [tokenEventSchema, doneEventSchema, errorEventSchema]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type TokenEvent = z.infer<typeof tokenEventSchema>;
export type DoneEvent = z.infer<typeof doneEventSchema>;
export type ErrorEvent = z.infer<typeof errorEventSchema>;

// ---------------------------------------------------------------------------------------------
// Start-up: the one JSON line the engine prints on stdout when it is ready
// ---------------------------------------------------------------------------------------------

export const modelInfoSchema = z.object({
  path: z.string(),
  name: z.string(),
  arch: z.string(),
  n_params: z.number(),
  size_bytes: z.number(),
  n_ctx_train: z.number(),
  n_vocab: z.number(),
});
export type ModelInfo = z.infer<typeof modelInfoSchema>;

export const deviceInfoSchema = z.object({
  name: z.string(),
  /** "cpu" | "gpu" | "igpu" | "accel" */
  type: z.string(),
  memory_free: z.number(),
  memory_total: z.number(),
});

export const buildInfoSchema = z.object({
  /** Engine version (package.json version). */
  version: z.string(),
  /** llama.cpp release it links, e.g. "v0.5.0". */
  llama: z.string(),
  /** Where llama.cpp came from: "prebuilt" (node-llama-cpp packages) or "source". */
  source: z.string(),
  /** Backend in use: "CUDA" | "Vulkan" | "CPU". */
  backend: z.string(),
  devices: z.array(deviceInfoSchema),
});
export type BuildInfo = z.infer<typeof buildInfoSchema>;

export const fimInfoSchema = z.object({
  supported: z.boolean(),
  /** Repo-level file separator tokens available. */
  repo_level: z.boolean(),
  /** Prompt order used: "spm" (suffix, prefix, middle), "psm", or "none" (no FIM tokens: plain left-to-right). */
  order: z.string(),
});

/** What a loaded model serves: `completion` (--model), `chat` (--chat-model, or --model without it). */
export const modelPurposeSchema = z.enum(['completion', 'chat']);
export type ModelPurpose = z.infer<typeof modelPurposeSchema>;

/** A model the engine serves (not the draft), as the ready line, /health and /v1/models list it. */
export const loadedModelSchema = z.object({
  /** The name requests select it by (`model` field). */
  id: z.string(),
  purpose: z.array(modelPurposeSchema),
  meta: modelInfoSchema.optional(),
});
export type LoadedModel = z.infer<typeof loadedModelSchema>;

export const readyLineSchema = z.object({
  event: z.literal('ready'),
  host: z.string(),
  port: z.number(),
  model: modelInfoSchema,
  draft_model: modelInfoSchema.nullable(),
  /** The chat model (--chat-model), null without one; older engines omit it. */
  chat_model: modelInfoSchema.nullable().optional(),
  /** The models served and their purposes; older engines omit it. */
  models: z.array(loadedModelSchema).optional(),
  fim: fimInfoSchema,
  build: buildInfoSchema,
  n_ctx: z.number(),
  n_parallel: z.number(),
  /** KV cache element type in use (q8_0 or f16; --kv-type auto picks one); older engines omit it. */
  kv_type: z.string().optional(),
  /** ENGINE_PROTOCOL_VERSION of the engine; engines before version 2 omit it. */
  protocol: z.number().optional(),
});
export type ReadyLine = z.infer<typeof readyLineSchema>;

export const healthSchema = z.object({
  status: z.enum(['ok', 'loading', 'error']),
  busy_sequences: z.number().optional(),
  n_parallel: z.number().optional(),
  /** The models served and their purposes (no `meta`); older engines omit it. */
  models: z.array(loadedModelSchema).optional(),
  /** ENGINE_PROTOCOL_VERSION of the engine; engines before version 2 omit it. */
  protocol: z.number().optional(),
});
export type Health = z.infer<typeof healthSchema>;

/** POST /tokenize answer. */
export const tokenizeResultSchema = z.object({ tokens: z.array(z.number()) });

/** GET /v1/models answer (the parts the sidecar reads). */
export const modelsResultSchema = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      role: z.string().optional(),
      /** completion / chat (absent on the draft and on older engines). */
      purpose: z.array(modelPurposeSchema).optional(),
      meta: modelInfoSchema.partial().optional(),
    }),
  ),
});

/** Parses one engine WebSocket frame; a malformed frame becomes an error message, never a throw. */
export function parseServerMessage(raw: string): ServerMessage {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { type: 'error', error: { code: 'internal', message: `engine sent invalid JSON: ${raw.slice(0, 200)}` } };
  }
  const parsed = serverMessageSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  return {
    type: 'error',
    id: typeof (json as { id?: unknown })?.id === 'string' ? (json as { id: string }).id : undefined,
    error: { code: 'internal', message: `engine sent an unexpected message: ${parsed.error.message}` },
  };
}
