/**
 * WebSocket client for the engine's `/v1/stream` (protocol/engine.ts) plus its HTTP `/health`.
 *
 * Many requests share one socket; each is a pending entry keyed by its id. Replies are validated
 * with the protocol's zod schemas (the engine may be remote or another version). Results are tagged
 * unions, never thrown: a request ends `done`, `cancelled` (aborted by the caller, or the socket or
 * engine died: the pending map is drained), or `error`. Aborting a request sends `cancel` to the
 * engine so it stops decoding that sequence, and resolves the caller at once.
 */
import WebSocket from 'ws';
import {
  healthSchema,
  modelsResultSchema,
  tokenizeResultSchema,
  parseServerMessage,
  type CancelMessage,
  type FinishReason,
  type Health,
  type ModelPurpose,
  type RequestStats,
  type SubmitMessage,
} from '../../../protocol/engine';

/** `error` code `timeout`: the engine did not finish within the request's deadline (it was cancelled there). */
export type CompletionOutcome =
  | { kind: 'done'; text: string; finishReason: FinishReason; stats: RequestStats }
  | { kind: 'cancelled'; reason: string }
  | { kind: 'error'; code: string; message: string };

export type SubmitInput = Omit<SubmitMessage, 'type' | 'id'>;

export interface SubmitOptions {
  signal?: AbortSignal;
  onToken?: (text: string) => void;
  /**
   * Milliseconds the request may take, end to end. Past it the request is cancelled at the engine
   * and ends as an `error` with code `timeout`: a stuck engine never leaves a caller waiting.
   */
  deadlineMs?: number;
}

/** The size of a request, for error messages about what an engine was handling when it failed. */
export interface RequestSummary {
  /** Characters of text in the request (prefix, suffix, extra chunks, prompt or messages). */
  chars: number;
  /** Its longest line, in characters. */
  longestLine: number;
}

export function summarizeRequest(input: SubmitInput): RequestSummary {
  const texts: string[] = [];
  if (input.fim) texts.push(input.fim.prefix, input.fim.suffix, ...(input.fim.extra ?? []).map((c) => c.text));
  if (input.prompt !== undefined) texts.push(input.prompt);
  for (const m of input.messages ?? []) texts.push(m.content);
  let chars = 0;
  let longestLine = 0;
  for (const t of texts) {
    chars += t.length;
    for (const line of t.split('\n')) longestLine = Math.max(longestLine, line.length);
  }
  return { chars, longestLine };
}

interface Pending {
  resolve: (outcome: CompletionOutcome) => void;
  onToken?: (text: string) => void;
  cleanup: () => void;
}

export interface EngineClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8012 */
  baseUrl: string;
  apiKey?: string;
  /** Milliseconds to wait for the socket to open. */
  connectTimeoutMs?: number;
}

let nextId = 0;

export class EngineClient {
  private socket: WebSocket | undefined;
  private readonly pending = new Map<string, Pending>();
  private closedReason: string | undefined;
  private readonly closeListeners = new Set<(reason: string) => void>();
  private readonly outcomeListeners = new Set<(outcome: CompletionOutcome) => void>();
  /** Ids of requests sent to the engine, and of cancels: for tests and stats. */
  readonly sentCancels: string[] = [];
  /** The size of the last request sent (what the engine was last asked to handle). */
  lastRequest: RequestSummary | undefined;

  constructor(private readonly options: EngineClientOptions) {}

  /** The key sent as `Authorization: Bearer` (the local engine's random one, or the remote's), if any. */
  get apiKey(): string | undefined {
    return this.options.apiKey;
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  private authHeaders(): Record<string, string> {
    return this.options.apiKey ? { Authorization: `Bearer ${this.options.apiKey}` } : {};
  }

  /** Opens the socket. Resolves with an error message instead of throwing. */
  connect(): Promise<{ ok: true } | { ok: false; message: string }> {
    const url = new URL('/v1/stream', this.options.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.closedReason = undefined;
    return new Promise((resolve) => {
      const socket = new WebSocket(url, { headers: this.authHeaders() });
      this.socket = socket;
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        socket.terminate();
        resolve({
          ok: false,
          message: `engine at ${url.href} did not accept a WebSocket within ${this.options.connectTimeoutMs ?? 5000} ms`,
        });
      }, this.options.connectTimeoutMs ?? 5000);
      socket.on('open', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ok: true });
      });
      socket.on('unexpected-response', (_req, res) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        const message =
          status === 401 || status === 403
            ? `engine at ${this.options.baseUrl} refused the API key (HTTP ${status}): set the right one with "Pronto: Set Remote Engine API Key…" (or $PRONTO_ENGINE_API_KEY)`
            : `engine at ${this.options.baseUrl} refused the WebSocket (HTTP ${status})`;
        res.resume();
        socket.terminate();
        resolve({ ok: false, message });
      });
      socket.on('error', (err) => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          resolve({ ok: false, message: `cannot reach engine at ${this.options.baseUrl}: ${err.message}` });
        }
      });
      socket.on('message', (data) => this.onMessage(data.toString()));
      socket.on('close', (code, reason) => {
        if (this.socket === socket) this.socket = undefined;
        this.drain(`engine connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`);
      });
    });
  }

  onClose(listener: (reason: string) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Called with the outcome of every request (the manager watches for deadlines missed). */
  onOutcome(listener: (outcome: CompletionOutcome) => void): () => void {
    this.outcomeListeners.add(listener);
    return () => this.outcomeListeners.delete(listener);
  }

  /** Ends every pending request as cancelled (engine died or socket closed). */
  drain(reason: string): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const p of entries) {
      p.cleanup();
      p.resolve({ kind: 'cancelled', reason });
    }
    if (this.closedReason === undefined) {
      this.closedReason = reason;
      for (const l of this.closeListeners) l(reason);
    }
  }

  close(reason = 'client closed'): void {
    const socket = this.socket;
    this.socket = undefined;
    this.drain(reason);
    socket?.close();
    // Do not wait for the close handshake with a dead peer.
    if (socket) setTimeout(() => socket.terminate(), 500).unref();
  }

  private onMessage(raw: string): void {
    const msg = parseServerMessage(raw);
    const id = msg.id;
    if (id === undefined) return; // unattributable error: nothing to resolve
    const p = this.pending.get(id);
    if (!p) return; // already cancelled on our side
    if (msg.type === 'token') {
      p.onToken?.(msg.text);
      return;
    }
    this.pending.delete(id);
    p.cleanup();
    if (msg.type === 'done') {
      if (msg.finish_reason === 'cancelled') p.resolve({ kind: 'cancelled', reason: 'engine cancelled the request' });
      else p.resolve({ kind: 'done', text: msg.text, finishReason: msg.finish_reason, stats: msg.stats });
    } else {
      if (msg.error.code === 'cancelled') p.resolve({ kind: 'cancelled', reason: msg.error.message });
      else p.resolve({ kind: 'error', code: msg.error.code, message: msg.error.message });
    }
  }

  submit(input: SubmitInput, options: SubmitOptions = {}): Promise<CompletionOutcome> {
    const socket = this.socket;
    if (options.signal?.aborted) return Promise.resolve({ kind: 'cancelled', reason: 'aborted before sending' });
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.resolve({ kind: 'error', code: 'unavailable', message: this.closedReason ?? 'engine is not connected' });
    }
    const id = `r${process.pid}-${++nextId}`;
    const message: SubmitMessage = { type: 'submit', id, ...input };
    this.lastRequest = summarizeRequest(input);
    const result = new Promise<CompletionOutcome>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      /** Ends the request on our side and tells the engine to stop decoding it. */
      const cancelAtEngine = (outcome: CompletionOutcome) => {
        if (!this.pending.delete(id)) return;
        cleanup();
        const cancel: CancelMessage = { type: 'cancel', id };
        this.sentCancels.push(id);
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(cancel));
        resolve(outcome);
      };
      const onAbort = () => cancelAtEngine({ kind: 'cancelled', reason: 'superseded or cancelled by the editor' });
      const cleanup = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, { resolve, onToken: options.onToken, cleanup });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.deadlineMs !== undefined) {
        const ms = options.deadlineMs;
        timer = setTimeout(
          () =>
            cancelAtEngine({
              kind: 'error',
              code: 'timeout',
              message: `the engine did not finish the request within its deadline (${ms} ms)`,
            }),
          ms,
        );
      }
      socket.send(JSON.stringify(message), (err) => {
        if (err && this.pending.delete(id)) {
          cleanup();
          resolve({ kind: 'error', code: 'unavailable', message: `could not send to engine: ${err.message}` });
        }
      });
    });
    return result.then((outcome) => {
      for (const l of this.outcomeListeners) l(outcome);
      return outcome;
    });
  }

  /**
   * POST /tokenize with the engine's own tokenizer (token ids), validated. Used for token budgets and
   * counts shown to the user; resolves with an error message instead of throwing.
   */
  async tokenize(
    content: string,
    options: { addSpecial?: boolean; parseSpecial?: boolean; signal?: AbortSignal; model?: ModelPurpose } = {},
  ): Promise<{ ok: true; tokens: number[] } | { ok: false; message: string }> {
    try {
      const res = await fetch(new URL('/tokenize', this.options.baseUrl), {
        method: 'POST',
        headers: { ...this.authHeaders(), 'content-type': 'application/json' },
        body: JSON.stringify({
          content,
          add_special: options.addSpecial ?? false,
          parse_special: options.parseSpecial ?? false,
          // The vocabulary of the model that will read the text (the chat model's for chat).
          ...(options.model ? { model: options.model } : {}),
        }),
        signal: options.signal ?? AbortSignal.timeout(10000),
      });
      const body: unknown = await res.json().catch(() => undefined);
      const parsed = tokenizeResultSchema.safeParse(body);
      if (!res.ok || !parsed.success)
        return { ok: false, message: `engine /tokenize answered HTTP ${res.status}${res.ok ? ' with an unexpected body' : ''}` };
      return { ok: true, tokens: parsed.data.tokens };
    } catch (err) {
      return { ok: false, message: `engine /tokenize failed: ${(err as Error).message}` };
    }
  }

  /** GET /v1/models: the target model's name and architecture (for a remote engine, which prints no ready line). */
  async model(): Promise<{ name: string; arch: string } | undefined> {
    try {
      const res = await fetch(new URL('/v1/models', this.options.baseUrl), {
        headers: this.authHeaders(),
        signal: AbortSignal.timeout(5000),
      });
      const parsed = modelsResultSchema.safeParse(await res.json());
      const target = parsed.success ? parsed.data.data.find((m) => m.role !== 'draft') : undefined;
      return target ? { name: target.meta?.name ?? target.id, arch: target.meta?.arch ?? '' } : undefined;
    } catch {
      return undefined;
    }
  }

  /** GET /health, validated. */
  async health(timeoutMs = 3000): Promise<{ ok: true; health: Health } | { ok: false; message: string }> {
    try {
      const res = await fetch(new URL('/health', this.options.baseUrl), {
        headers: this.authHeaders(),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body: unknown = await res.json().catch(() => undefined);
      const parsed = healthSchema.safeParse(body);
      if (!parsed.success) return { ok: false, message: `engine /health returned HTTP ${res.status} with an unexpected body` };
      return { ok: true, health: parsed.data };
    } catch (err) {
      return { ok: false, message: `engine /health failed: ${(err as Error).message}` };
    }
  }
}
