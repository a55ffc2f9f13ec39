// OURS: the real Pronto LSP server (spawned over stdio by test/support/lsp.ts) driven like VS Code's
// language client drives it: didOpen, then per keystroke an incremental didChange and, from the
// replay, textDocument/inlineCompletion with a cancellation token ($/cancelRequest on cancel).
// The server starts pronto-engine itself (engine.path); the engine's /metrics counters give the
// tokens it evaluated and the requests it received, prefetches and cancelled requests included.

import { pathToFileURL } from 'node:url';
import type { CancellationToken } from 'vscode-jsonrpc';
import type { CompletionRecord, StatsResult } from '../../protocol/lsp';
import { readEngineInfo, startLspServer, type LspHarness } from '../../test/support/lsp';
import type { AcceptClient } from './accepts';
import type { CompletionClient, ProviderAnswer } from './replay';
import type { Keystroke, Session } from './session';

export interface ProntoLspOptions {
  modelPath: string;
  enginePath: string;
  threads: number;
  maxTokens: number;
  /** Run this bundle (e.g. dist/server.js) with node instead of server/src/main.ts under tsx. */
  bundle?: string;
  /** Extra `pronto` settings (nested or dotted keys). */
  settings?: Record<string, unknown>;
  readyTimeoutMs?: number;
}

export interface EngineCounters {
  requests: number;
  evaluated: number;
  reused: number;
  generated: number;
  cancellations: number;
}

export function parseProntoMetrics(text: string): EngineCounters {
  const get = (name: string): number => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`engine /metrics has no ${name}`);
    return Number(m[1]);
  };
  return {
    requests: get('pronto_requests_total'),
    evaluated: get('pronto_prompt_tokens_evaluated_total'),
    reused: get('pronto_prompt_tokens_reused_total'),
    generated: get('pronto_generated_tokens_total'),
    cancellations: get('pronto_cancellations_total'),
  };
}

export class ProntoLspClient implements CompletionClient, AcceptClient {
  private version = 1;
  private lspRequests = 0;
  /** The document as the server has it, and the cursor. */
  private doc: string;
  private offset: number;

  private constructor(
    readonly lsp: LspHarness,
    readonly engineUrl: string,
    /** The engine's API key (the server gave it one in its environment; '' for servers that do not). */
    private readonly engineKey: string,
    private readonly session: Session,
    readonly uri: string,
  ) {
    this.doc = session.initialDoc;
    this.offset = session.initialOffset;
  }

  /** Starts the server, waits for the engine to be ready, opens the session's document. */
  static async start(session: Session, o: ProntoLspOptions): Promise<ProntoLspClient> {
    const lsp = startLspServer({}, o.bundle);
    try {
      await lsp.initialize({
        pronto: {
          model: { path: o.modelPath },
          engine: { path: o.enginePath, threads: o.threads },
          completion: { maxTokens: o.maxTokens },
          ...o.settings,
        },
      });
      const exited = new Promise<never>((_, reject) =>
        lsp.child.once('exit', (code) =>
          reject(new Error(`the LSP server exited (code ${code}) before the engine was ready:\n${lsp.logs.slice(-15).join('\n')}`)),
        ),
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the engine was not ready within ${o.readyTimeoutMs ?? 240_000} ms:\n${lsp.logs.slice(-15).join('\n')}`)),
          o.readyTimeoutMs ?? 240_000,
        );
      });
      try {
        const s = await Promise.race([lsp.waitForStatus((st) => st.state === 'ready' || st.state === 'error'), exited, timeout]);
        if (s.state === 'error') throw new Error(`the server reported an error: ${s.message}\n${lsp.logs.slice(-15).join('\n')}`);
      } finally {
        clearTimeout(timer);
      }
      // The manager logs "engine ready at http://host:port" before it reports ready; servers that give
      // their engine a key describe it in $PRONTO_ENGINE_INFO_FILE (older ones run it without a key).
      const url = lsp.logs.map((l) => /engine ready at (http:\/\/[^\s]+)/.exec(l)?.[1]).find((u) => u !== undefined);
      if (!url) throw new Error(`no "engine ready at" line in the server's log:\n${lsp.logs.slice(-15).join('\n')}`);
      let key = '';
      try {
        key = readEngineInfo(lsp.engineInfoFile).apiKey;
      } catch {
        // an older server: no key
      }
      const uri = pathToFileURL(session.absPath).href;
      await lsp.open(uri, session.initialDoc, session.languageId);
      return new ProntoLspClient(lsp, url, key, session, uri);
    } catch (e) {
      await lsp.stop();
      throw e;
    }
  }

  change(k: Keystroke): void {
    this.insertAt(k.offset - k.text.length, k.text);
  }

  /** Incremental change: `text` inserted at `at` (the cursor ends after it). */
  private insertAt(at: number, text: string): void {
    const before = this.doc.slice(0, at);
    const line = before.split('\n').length - 1;
    const character = at - (before.lastIndexOf('\n') + 1);
    this.doc = before + text + this.doc.slice(at);
    this.offset = at + text.length;
    void this.lsp.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri: this.uri, version: ++this.version },
      contentChanges: [{ range: { start: { line, character }, end: { line, character } }, text }],
    });
  }

  private cursor(): { line: number; character: number } {
    const before = this.doc.slice(0, this.offset);
    return { line: before.split('\n').length - 1, character: this.offset - (before.lastIndexOf('\n') + 1) };
  }

  type(text: string): void {
    this.insertAt(this.offset, text);
  }

  accept(text: string): void {
    this.insertAt(this.offset, text);
    void this.lsp.connection.sendNotification('pronto/didAcceptCompletion', { uri: this.uri, text, kind: 'full' });
  }

  async ask(token?: CancellationToken): Promise<{ items: string[] } | null> {
    const { line, character } = this.cursor();
    return this.request(line, character, token);
  }

  async lastRecord(): Promise<CompletionRecord | undefined> {
    return (await this.stats()).recent.filter((r) => r.uri === this.uri).at(-1);
  }

  async provide(k: Keystroke, token: CancellationToken): Promise<ProviderAnswer | null> {
    return this.request(k.line, k.character, token);
  }

  /** Sends textDocument/inlineCompletion. */
  private async request(line: number, character: number, token?: CancellationToken): Promise<ProviderAnswer | null> {
    this.lspRequests++;
    const params = { textDocument: { uri: this.uri }, position: { line, character }, context: { triggerKind: 2 } };
    let result: { items: Array<{ insertText: string | { value: string } }> } | null;
    try {
      result = token
        ? await this.lsp.connection.sendRequest('textDocument/inlineCompletion', params, token)
        : await this.lsp.connection.sendRequest('textDocument/inlineCompletion', params);
    } catch (e) {
      if (token?.isCancellationRequested) return null;
      throw e;
    }
    if (token?.isCancellationRequested) return null;
    const items = (result?.items ?? []).map((i) => (typeof i.insertText === 'string' ? i.insertText : i.insertText.value));
    // Whether the server answered from its cache is counted server side (pronto/stats cacheHits).
    return { items, fromCache: false };
  }

  /**
   * The warm-up request (opening the file): waits for the answer and then for the engine to go idle,
   * and asks again while the server's record says its prompt was not all evaluated (the file's cold
   * prompt can take longer than the request's time budget or deadline on a slow or busy CPU: the
   * engine then stops mid-prompt, and without a retry the first measured keystrokes would pay for the
   * rest of the cold prompt).
   * A retry resumes from what the engine evaluated so far.
   */
  async warmup(maxTries = 6): Promise<void> {
    for (let tries = 1; ; tries++) {
      await this.request(this.session.initialLine, this.session.initialCharacter);
      await this.waitIdle();
      const last = await this.lastRecord();
      // Cut short: cancelled, failed, or stopped by its time budget before its prompt was all evaluated
      // (the engine's time budget counts the wait and the prompt too).
      const cut =
        last !== undefined &&
        (last.outcome === 'cancelled' || last.outcome === 'error' || last.reusedTokens + last.evaluatedTokens < last.promptTokens);
      if (!cut) return;
      if (tries >= maxTries)
        throw new Error(`the warm-up request did not finish in ${maxTries} tries (last: ${last.outcome} ${last.message ?? ''})`);
    }
  }

  stats(): Promise<StatsResult> {
    return this.lsp.connection.sendRequest('pronto/stats');
  }

  get requestsSent(): number {
    return this.lspRequests;
  }

  async counters(): Promise<EngineCounters> {
    const res = await fetch(`${this.engineUrl}/metrics`, { headers: this.engineKey ? { Authorization: `Bearer ${this.engineKey}` } : {} });
    if (!res.ok) throw new Error(`engine /metrics: HTTP ${res.status}`);
    return parseProntoMetrics(await res.text());
  }

  /** Waits until the engine has no busy sequence (prefetches finished), checking /health. */
  async waitIdle(timeoutMs = 120_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const res = await fetch(`${this.engineUrl}/health`);
      const h = (await res.json()) as { busy_sequences?: number };
      if (h.busy_sequences === 0) return;
      if (performance.now() > deadline) throw new Error(`the engine stayed busy for ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  stop(): Promise<void> {
    return this.lsp.stop();
  }
}
